#!/usr/bin/env bash
# Make sure redis-server (Debian's package) is installed; the tests start their own on a free loopback port.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
echo "ensure_redis: installing redis-server from Debian's packages" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
command -v redis-server >/dev/null
