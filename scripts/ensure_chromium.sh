#!/usr/bin/env bash
# Make sure Chromium (Debian's package) is installed: the tests open `otel-cost report --html` in it, headless.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
echo "ensure_chromium: installing chromium from Debian's packages" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
