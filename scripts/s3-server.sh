#!/usr/bin/env bash
# A project-local S3-compatible server for the tests: Garage (https://garagehq.deuxfleurs.fr), a
# single node with its data in .s3/ (git-ignored) on ports of its own.
#   scripts/s3-server.sh env    installs and starts it when needed; prints the SLATE_TEST_S3_*
#                               variables the tests read (endpoint, bucket, credentials)
#   scripts/s3-server.sh stop   stops it
# Garage is built from crates.io once, into ~/.cache/slate/garage-<version> (outside the clone, so
# a fresh clone reuses it); SLATE_GARAGE names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.5.0
ROOT="$PWD/.s3"
PORT=${SLATE_TEST_S3_PORT:-39010}
BUCKET=slate-test
KEY_ID=GK5a7e0000000000000000000a
SECRET=5a7e00000000000000000000000000000000000000000000000000000000000a
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/slate/garage-$VERSION"
GARAGE="${SLATE_GARAGE:-$CACHE/bin/garage}"

install() {
  [ -x "$GARAGE" ] && return
  echo "s3-server: building Garage $VERSION from crates.io into $CACHE (once; a few minutes)" >&2
  local started=$SECONDS
  cargo install garage --version "$VERSION" --locked --no-default-features \
    --features lmdb,bundled-libs --root "$CACHE" --target-dir "$CACHE/target" >&2
  rm -rf "$CACHE/target"
  echo "s3-server: Garage built in $((SECONDS - started)) s" >&2
}

garage() { "$GARAGE" -c "$ROOT/garage.toml" "$@"; }

answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; }

running() { [ -f "$ROOT/pid" ] && kill -0 "$(cat "$ROOT/pid")" 2>/dev/null; }

configure() {
  mkdir -p "$ROOT"
  [ -f "$ROOT/garage.toml" ] && return
  cat >"$ROOT/garage.toml" <<EOF
metadata_dir = "$ROOT/meta"
data_dir = "$ROOT/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((PORT + 1))"
rpc_public_addr = "127.0.0.1:$((PORT + 1))"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$PORT"
root_domain = ".s3.garage.localhost"
EOF
}

# Assigns the node its role and makes the bucket and key, once.
initialize() {
  [ -f "$ROOT/initialized" ] && return
  local node
  for _ in $(seq 50); do
    node=$(garage node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$node" ] && break
    sleep 0.2
  done
  garage layout assign -z local -c 1G "$node" >/dev/null
  garage layout apply --version 1 >/dev/null
  garage key import --yes "$KEY_ID" "$SECRET" -n slate-test >/dev/null
  garage bucket create "$BUCKET" >/dev/null
  garage bucket allow --read --write --owner "$BUCKET" --key slate-test >/dev/null
  touch "$ROOT/initialized"
}

start() {
  install
  configure
  if ! running; then
    if answers; then
      echo "s3-server: port $PORT is taken by another server; set SLATE_TEST_S3_PORT" >&2
      exit 1
    fi
    setsid "$GARAGE" -c "$ROOT/garage.toml" server >"$ROOT/server.log" 2>&1 9>&- </dev/null &
    echo $! >"$ROOT/pid"
    for _ in $(seq 100); do answers && break; sleep 0.1; done
    answers || { tail -20 "$ROOT/server.log" >&2; echo "s3-server: Garage did not start" >&2; exit 1; }
  fi
  initialize
}

case "${1:-env}" in
  env)
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock"
    flock 9
    start
    echo "export SLATE_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
    echo "export SLATE_TEST_S3_BUCKET=$BUCKET"
    echo "export SLATE_TEST_S3_REGION=garage"
    echo "export SLATE_TEST_S3_ACCESS_KEY_ID=$KEY_ID"
    echo "export SLATE_TEST_S3_SECRET_ACCESS_KEY=$SECRET"
    ;;
  stop)
    if [ -f "$ROOT/pid" ]; then kill "$(cat "$ROOT/pid")" 2>/dev/null || true; rm -f "$ROOT/pid"; fi
    ;;
  *)
    echo "usage: $0 env|stop" >&2
    exit 2
    ;;
esac
