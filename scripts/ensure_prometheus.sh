#!/usr/bin/env bash
# Make sure Prometheus and promtool (Debian's package) are installed; the tests start their own Prometheus on a free
# loopback port and check the rules under deploy/ with promtool. The package's own service is not used.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && exit 0
echo "ensure_prometheus: installing prometheus from Debian's packages" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null && command -v prometheus >/dev/null
