#!/usr/bin/env bash
# TLS audit of terminated TLS with testssl.sh (issue 13, item 9): builds the
# proxy, starts the demo (its HTTPS route, blue.localhost, terminated with a
# certificate made at start-up) on 127.0.0.1 only, runs testssl against it
# and prints the findings that matter. Never part of `npm test`.
#
#   bash bench/tls-audit.sh            # full testssl run, a few minutes
#   TLS_AUDIT_PORT=18443 bash bench/tls-audit.sh
#
# Needs testssl (Debian: apt-get install testssl.sh). The full report is
# written to bench/tls-audit.log.
set -euo pipefail
cd "$(dirname "$0")/.."

TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$TESTSSL" ]; then
  echo "testssl not found: apt-get install testssl.sh (or put testssl.sh on PATH)" >&2
  exit 2
fi

port=${TLS_AUDIT_PORT:-18443}
http_port=$((port + 1))
log=bench/tls-audit.log

npx tsc -p tsconfig.json
DEMO_HTTP_PORT=$http_port DEMO_HTTPS_PORT=$port SMARTPROXY_LOG_LEVEL=error node dist/demo.js >/dev/null &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

# --ip keeps every probe on loopback; the URI's name is what is sent as SNI.
"$TESTSSL" --quiet --color 0 --warnings batch --ip 127.0.0.1 --sneaky \
  --protocols --server-defaults --each-cipher --std --fs --vulnerable --server-preference \
  "https://blue.localhost:$port" >"$log" 2>&1 || true

echo "$("$TESTSSL" --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -oE 'testssl +[0-9.]+' || echo testssl) against 127.0.0.1:$port (full report: $log)"
echo
echo "## protocols"
grep -E '^ (SSLv2|SSLv3|TLS 1(\.[0-3])?|TLS 1\.3) ' "$log" || true
echo
echo "## cipher categories"
grep -E '^ (NULL|Anonymous|Export|LOW|Triple|Obsolete|Strong)' "$log" || true
echo
echo "## vulnerabilities"
grep -E '^ (Heartbleed|CCS|Ticketbleed|ROBOT|Secure Renegotiation|Secure Client-Initiated|CRIME|BREACH|POODLE|TLS_FALLBACK|SWEET32|FREAK|DROWN|LOGJAM|BEAST|LUCKY13|Winshock|RC4)' "$log" || true
echo
if grep -qi 'obsolete.*offered\b' "$log" && ! grep -qi 'obsolete.*not offered' "$log"; then
  echo "FINDING: an obsolete cipher category is offered"
  exit 1
fi
echo "no obsolete cipher category offered"
