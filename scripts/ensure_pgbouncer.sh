#!/usr/bin/env bash
# Make sure pgbouncer (Debian's package) is installed; the tests start their own, in transaction mode, on a free
# loopback port in front of the local PostgreSQL.
set -euo pipefail
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] && exit 0
echo "ensure_pgbouncer: installing pgbouncer from Debian's packages" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
[ -x /usr/sbin/pgbouncer ]
