#!/usr/bin/env bash
# bench/cluster.sh — the queue round trip of gantry/echo on the embedded SQLite store and on PostgreSQL with one and
# with two nodes, in one run on this machine.
#
# For each setup: gantry-loadgen --mode queue (submit → status polled with no sleep → result) at concurrency 64 in
# all (two nodes: 32 clients on each), after a 2 s warm-up; requests/s, p50/p99, the server CPU per request, and on
# PostgreSQL the statements and milliseconds of database execution time per completed request (pg_stat_statements,
# reset after the warm-up). PostgreSQL runs with its durable defaults (fsync, synchronous_commit on), from
# scripts/pg-server.sh with PG_DURABLE=1; SQLite with --sqlite-synchronous normal (the default). Both acknowledge a
# submit only after its commit; they differ on power loss (see the README's Reliability section).
# Every request of every run is checked afterwards: none lost, none run twice (gantry_attempts_retried_total).
#
# Knobs: BENCH_DURATION (s per setup, 12), GANTRY_BIN / LOADGEN_BIN (use these binaries instead of building).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${BENCH_DURATION:-12}
log() { echo "[cluster.sh $(date +%T)] $*" >&2; }

if [ -z "${GANTRY_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
    log "building release binaries"
    (cd "$ROOT" && swift build -c release --product gantry >&2 && swift build -c release --product gantry-loadgen >&2)
fi
GANTRY_BIN=${GANTRY_BIN:-$ROOT/.build/release/gantry}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/.build/release/gantry-loadgen}

TMP=$(mktemp -d /tmp/gantry-cluster-bench.XXXXXX)
PG_DIR=$(mktemp -d /tmp/gantry-cluster-pg.XXXXXX)  # its own folder: the server runs as the postgres user
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$ROOT/scripts/pg-server.sh" stop "$PG_DIR" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

PG_DURABLE=1 PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements" "$ROOT/scripts/pg-server.sh" start "$PG_DIR"
# shellcheck disable=SC1091
source "$PG_DIR/env"
SERVER_URL=$GANTRY_TEST_POSTGRES                 # postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
BASE=${SERVER_URL%/postgres\?*}                 # postgres://postgres@127.0.0.1:PORT
psql_server() { psql "$BASE/postgres" -qAtc "$1"; }
# In template1, so every database made for a setup has the view.
psql "$BASE/template1" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# start_node NAME STORE-ARGS… → sets NODE_PID and NODE_PORT
start_node() {
    local name=$1; shift
    NODE_PORT=$(free_port)
    "$GANTRY_BIN" serve --port "$NODE_PORT" --data-dir "$TMP/$name" --functions "$ROOT/functions" --schemas "$ROOT/schemas" \
        --log-level warning --shutdown-grace 2 "$@" >"$TMP/$name.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NODE_PORT/ready" >/dev/null && break; sleep 0.1; done
}

# loadgens SECONDS OUT-PREFIX PORT… : one load generator per port, 64 clients in all; waits for them
loadgens() {
    local seconds=$1 prefix=$2; shift 2
    local per=$((64 / $#)) gens=() i=0
    for port in "$@"; do
        "$LOADGEN_BIN" --mode queue --port "$port" -c "$per" --duration "$seconds" --warmup 0 >"$prefix-$i.json" &
        gens+=($!); i=$((i + 1))
    done
    for gen in "${gens[@]}"; do wait "$gen"; done
}

# CPU seconds of every PostgreSQL server process so far (those that exited meanwhile are not counted).
pg_cpu() { for pid in $(pgrep -u postgres postgres); do cpu_s "$pid" 2>/dev/null; echo; done | awk '{s += $1} END {print s + 0}'; }

retried() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^gantry_attempts_retried_total/ {s += $2} END {print s + 0}'; }

# run_setup LABEL DB-NAME-or-"" NODES
run_setup() {
    local label=$1 database=$2 nodes=$3
    local args=()
    if [ -n "$database" ]; then
        psql_server "CREATE DATABASE $database" >/dev/null
        args=(--database-url "$BASE/$database?sslmode=disable")
    fi
    local pids=() ports=()
    for n in $(seq "$nodes"); do
        start_node "$label-$n" "${args[@]}"
        pids+=("$NODE_PID"); ports+=("$NODE_PORT")
    done
    loadgens 2 "$TMP/warmup" "${ports[@]}"
    if [ -n "$database" ]; then psql "$BASE/$database" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null; fi
    local before; before=$(for pid in "${pids[@]}"; do cpu_s "$pid"; echo; done | awk '{s += $1} END {print s}')
    local pg_before; pg_before=$(pg_cpu)
    loadgens "$DUR" "$TMP/$label-out" "${ports[@]}"
    local after; after=$(for pid in "${pids[@]}"; do cpu_s "$pid"; echo; done | awk '{s += $1} END {print s}')
    local pg_after; pg_after=$(pg_cpu)
    local retries=0
    for port in "${ports[@]}"; do retries=$((retries + $(retried "$port"))); done
    local db_stats=""
    if [ -n "$database" ]; then
        db_stats=$(psql "$BASE/$database" -qAtF' ' -c \
            "SELECT sum(calls), round(sum(total_exec_time)::numeric, 1) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
    fi
    python3 - "$label" "$nodes" "$before" "$after" "$retries" "$db_stats" "$pg_before" "$pg_after" "$TMP/$label-out"-*.json <<'PY'
import json, sys
label, nodes, before, after, retries, db_stats, pg_before, pg_after, *outs = sys.argv[1:]
runs = [json.load(open(o)) for o in outs]
completed = sum(r["completed"] for r in runs)
rps = sum(r["rps"] for r in runs)
p50 = max(r["p50_ms"] for r in runs); p99 = max(r["p99_ms"] for r in runs)
errors = sum(r["errors"] for r in runs)
cpu = (float(after) - float(before)) * 1000 / completed if completed else 0
line = f"{label:<24} {rps:7,.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  gantry CPU {cpu:.3f} ms/req  errors {errors}  second attempts {retries}"
if db_stats.strip():
    calls, ms = db_stats.split()
    line += f"  | db {int(calls) / completed:.1f} statements, {float(ms) / completed:.3f} ms exec, "
    line += f"{(float(pg_after) - float(pg_before)) * 1000 / completed:.3f} ms PostgreSQL CPU per request"
print(line)
PY
    if [ -n "$database" ] && [ -n "${BENCH_TOP_STATEMENTS:-}" ]; then
        psql "$BASE/$database" -qAtF' | ' -c "SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT $BENCH_TOP_STATEMENTS" >&2
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid"; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

log "machine: $(nproc) cores; PostgreSQL $(psql_server 'SHOW server_version') durable (fsync on, synchronous_commit on)"
run_setup "sqlite (embedded)" "" 1
run_setup "postgresql, one node" bench_one 1
run_setup "postgresql, two nodes" bench_two 2
