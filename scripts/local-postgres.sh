#!/usr/bin/env bash
# Slate's PostgreSQL for `make run` and `make test`.
#   scripts/local-postgres.sh url    print a DATABASE_URL: $DATABASE_URL when it answers, otherwise
#                                    the project-local cluster's, started (and created) as needed
#   scripts/local-postgres.sh stop   stop the project-local cluster
#   scripts/local-postgres.sh restart [SECONDS]
#                                    stop it, stay down SECONDS (default 3), start it on its port
# The local cluster lives in .pgdata/ (git-ignored), or in $SLATE_PGDATA, on a free port of its own. It uses the
# system's initdb and pg_ctl, installing the postgresql package with apt-get when they are
# missing and this runs as root. PostgreSQL refuses to run as root, so as root the cluster
# belongs to the postgres user.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
home=${SLATE_PGDATA:-$root/.pgdata}
log() { echo "local-postgres: $*" >&2; }

bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  return 1
}

install_postgres() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL's initdb was not found; install the postgresql package (Debian/Ubuntu) and retry"
    exit 1
  fi
  log "installing PostgreSQL with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

bin=$(bindir || { install_postgres >&2; bindir; })

# As root, the cluster runs as postgres; its folder must be reachable by that user.
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  mkdir -p "$home"
  if ! runuser -u postgres -- test -x "$home"; then
    home=/var/tmp/slate-pgdata-$(echo -n "$root" | md5sum | cut -c1-12)
    log "postgres cannot reach $root; keeping the cluster in $home"
  fi
fi
as_owner() {
  if [ "$owner" = "$(id -un)" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi
}
cluster=$home/cluster
run=$home/run

# The first port from $1 on that nothing answers on.
free_port() {
  local port
  for port in $(seq "$1" 54399); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  log "no free port in 54329-54399"; exit 1
}

start_on() {
  as_owner "$bin/pg_ctl" -D "$cluster" -l "$run/postgres.log" -w -t 60 \
    -o "-p $1 -k $run -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null
}

start_local() {
  mkdir -p "$home"
  [ "$owner" = "$(id -un)" ] || chown "$owner" "$home"
  as_owner mkdir -p "$run"
  if [ ! -s "$cluster/PG_VERSION" ]; then
    log "creating a local cluster in $cluster"
    as_owner "$bin/initdb" -D "$cluster" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  local port
  if as_owner "$bin/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
    port=$(cat "$home/port")
  else
    port=$(free_port 54329)
    log "starting the local cluster on port $port"
    # Another cluster may take the port between the probe and the start (or a closing socket
    # may still hold it): then the next free one is tried.
    until start_on "$port"; do
      port=$(free_port $((port + 1)))
      log "the port was taken; starting on port $port"
    done
    echo "$port" >"$home/port"
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

case ${1:-url} in
  url)
    if [ -n "${DATABASE_URL:-}" ] && "$bin/pg_isready" -q -t 3 -d "$DATABASE_URL"; then
      echo "$DATABASE_URL"
    else
      [ -n "${DATABASE_URL:-}" ] && log "DATABASE_URL does not answer; using the local cluster"
      start_local
    fi
    ;;
  stop)
    if [ -d "$cluster" ]; then as_owner "$bin/pg_ctl" -D "$cluster" -m fast stop || true; fi
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$cluster" -m fast stop >/dev/null
    sleep "${2:-3}"
    start_on "$(cat "$home/port")"
    ;;
  *) echo "usage: $0 url|stop|restart [SECONDS]" >&2; exit 2 ;;
esac
