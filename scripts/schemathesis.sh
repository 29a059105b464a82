#!/usr/bin/env bash
# Checks the API against its own OpenAPI document with schemathesis (from PyPI, in the git-ignored
# .venv): an API-only `slate serve` with client keys on (no workers, so valid requests only queue)
# on a fresh database of the server at DATABASE_URL, then generated requests against every
# operation, each sent with the credential its security scheme names: a client's key (made with
# `slate keys create`) or the operators' token. It fails on any 5xx, an undocumented status code
# or content type, or a body that does not match its schema.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${DATABASE_URL:?set DATABASE_URL (make test does)}"
"$root/scripts/venv.sh" schemathesis==4.32.5

name=slate_schemathesis_$$
base=${DATABASE_URL%%\?*}
url=${base%/*}/$name
psql -q "$DATABASE_URL" -c "CREATE DATABASE $name"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
media=$(mktemp -d)
client_key=$(DATABASE_URL=$url RUST_LOG=warn "$root/target/debug/slate" keys create \
  --name schemathesis --max-active-videos 10000)
DATABASE_URL=$url SLATE_PORT=$port SLATE_WORKERS=0 SLATE_ADMIN_TOKEN=schemathesis SLATE_AUTH=keys \
  SLATE_MAX_QUEUED=1000000 SLATE_MEDIA_DIR=$media RUST_LOG=warn \
  "$root/target/debug/slate" serve >"$media/serve.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  rm -rf "$media"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
printf '[auth.openapi.client]\nbearer = "%s"\n\n[auth.openapi.operator]\nbearer = "schemathesis"\n' \
  "$client_key" >"$media/schemathesis.toml"
check() {
  "$root/.venv/bin/st" --config-file "$media/schemathesis.toml" run \
    "http://127.0.0.1:$port/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples 50 --seed 1 --no-color "$@"
}
# Changes to one key (revoke, expire, rotate) run last: schemathesis finds the client's key in
# GET /api/admin/keys and would end it while the client's operations are still being tried.
check --exclude-path-regex '^/api/admin/keys/'
check --include-path-regex '^/api/admin/keys/'
