#!/usr/bin/env bash
# ensure-pebble.sh installs pebble, the ACME test CA the certificate tests run
# against, from Debian's packages. Quiet when it is already on PATH.
set -euo pipefail

if command -v pebble >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "pebble is not installed; run: sudo apt-get update && sudo apt-get install -y pebble" >&2
  exit 1
fi

echo "installing pebble (apt-get install -y pebble)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
command -v pebble >/dev/null
