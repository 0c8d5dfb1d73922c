#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 only, in a temporary folder (about a second to make).
#
#   scripts/pg-server.sh start DIR   initialises and starts it, with its data, socket and log in DIR, and writes DIR/env:
#                                    GANTRY_TEST_POSTGRES (a URL of its `postgres` database; tests create their own).
#   scripts/pg-server.sh stop DIR    stops it and removes DIR.
#
# fsync, synchronous_commit and full_page_writes are off: the tests check behaviour, not durability. PG_DURABLE=1
# keeps PostgreSQL's durable defaults (for benchmarks); PG_OPTIONS adds server settings (`-c name=value …`).
# The server runs as the `postgres` user (initdb refuses root); the package that installs it creates that user.
set -euo pipefail
action=${1:?start or stop}
dir=${2:?a folder for the server}
# The newest installed major version (Debian 12's `postgresql` is 15).
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$action" in
start)
  [[ -x "$PGBIN/initdb" ]] || { echo "PostgreSQL is not installed (scripts/install-deps.sh --test installs it)" >&2; exit 1; }
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [[ "${PG_DURABLE:-0}" == 1 ]] && fast=""
  as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 \
    $fast -c max_connections=200 ${PG_OPTIONS:-}" start >/dev/null
  echo "export GANTRY_TEST_POSTGRES='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'" >"$dir/env"
  ;;
stop)
  if [[ -d "$dir/data" ]]; then as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
