#!/usr/bin/env bash
# Runs schemathesis (every check, the stateful phase included) against the admin
# API of a freshly started server, using the OpenAPI document the server
# generates from its own handlers. Any finding fails the run.
# Usage: .ci/schemathesis.sh PERISCOPE_BINARY SCHEMATHESIS_BINARY
set -euo pipefail
bin=$1
st=$2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
export SQLITE_PATH="$dir/periscope.db" HOST=127.0.0.1 PORT=0 PERISCOPE_LOG=warn
export PERISCOPE_ADDRESS_FILE="$dir/address"
export API_SECRET_KEY_ADMIN="schemathesis-admin-key-$(date +%s%N)-0123456789"
# The fuzzer sends thousands of requests, some with wrong keys on purpose.
export PERISCOPE_AUTH_FREE_FAILURES=1000000 PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true
"$bin" project create seed >/dev/null
"$bin" serve >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$dir/address" ] && break; sleep 0.1; done
address=$(cat "$dir/address")
"$st" --config-file "$(dirname "$0")/schemathesis.toml" run "http://$address/api/admin/openapi.json" \
  -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
  --max-examples "${PERISCOPE_SCHEMATHESIS_EXAMPLES:-50}" --seed 20261130 \
  --no-color
