#!/usr/bin/env bash
# ensure-redis.sh installs redis-server, the real Redis the shared-store tests
# start on free ports, from Debian's packages. Quiet when it is already on PATH.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "redis-server is not installed; run: sudo apt-get update && sudo apt-get install -y redis-server" >&2
  exit 1
fi

echo "installing redis-server (apt-get install -y redis-server)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
command -v redis-server >/dev/null
