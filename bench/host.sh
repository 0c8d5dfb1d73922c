#!/usr/bin/env bash
# bench/host.sh — host benchmark of gantry against nginx, in one run on this machine.
#
# Measures, on 127.0.0.1 only:
#   1. sync POST /gantry/echo (run surface) at concurrency 1, 8, 64 with wrk, and nginx `return 200` with a body
#      of the same size at the same concurrencies (the machine's ceiling);
#   2. the queue round trip submit → poll status (no sleep) → result at concurrency 8 and 64 (gantry-loadgen), and
#      the same round trip against RunPod's worker SDK local API (runpod==1.12.0 in a venv this script makes, a
#      handler returning its input, `--rp_serve_api`: the in-memory peer), with each server's CPU per request;
#   3. completion by webhook at concurrency 64: each client submits with ?fal_webhook= to a loopback receiver run
#      by gantry-loadgen and waits for that webhook before its next submit; the host's CPU per request;
#   4. GET …/status of random ids with 100,000 stored (completed) requests, concurrency 8;
#   5. resident memory (VmRSS) idle and with 100,000 queued requests behind one 600 s request (concurrency 1).
# After every gantry run the host's gantry_attempts_retried_total and gantry_leases_lost_total are read: a second
# attempt anywhere in the run shows in the report.
# Prints a table and writes bench/out/host-<timestamp>.json. Not a test: nothing fails on a missed target.
# Server, load generator and nginx share this machine's cores; the output says how many.
#
# Knobs (environment): BENCH_DURATION (s per sync/status point, 10), BENCH_QUEUE_DURATION (s per queue point, 12),
# BENCH_STORED (100000), BENCH_QUEUED (100000), BENCH_POLL_MS (status poll interval in the round trip, 0),
# BENCH_LOG_LEVEL (server log level, warning), BENCH_RUNPOD (0 skips the RunPod peer), BENCH_FILL_MAX_S / BENCH_QUEUED_MAX_S (time caps of the two 100k
# submits, 240 / 180 s: when a cap is hit the table says how many were stored or queued), BENCH_SRC (package to build the server from, the repo root),
# GANTRY_BIN / LOADGEN_BIN (use these binaries instead of building).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUTDIR=$BENCH/out
SRC=${BENCH_SRC:-$ROOT}
DUR=${BENCH_DURATION:-10}
QDUR=${BENCH_QUEUE_DURATION:-12}
N_STORED=${BENCH_STORED:-100000}
N_QUEUED=${BENCH_QUEUED:-100000}
POLL_MS=${BENCH_POLL_MS:-0}
FILL_MAX_S=${BENCH_FILL_MAX_S:-240}      # time cap of the 100k submit that fills the store
QUEUED_MAX_S=${BENCH_QUEUED_MAX_S:-180}  # time cap of the 100k submit into the blocked queue
LOG_LEVEL=${BENCH_LOG_LEVEL:-warning}
BODY='{"prompt":"hello","n":1}'
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
T_START=$(date +%s)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { echo "[host.sh $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools ------------------------------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    # Keep the package's service from starting on port 80: only our own 127.0.0.1 instance runs.
    policy_made=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy_made=1; fi
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
    if ((policy_made)); then rm -f /usr/sbin/policy-rc.d; fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- build ------------------------------------------------------------------------------------------------------
if [ -z "${GANTRY_BIN:-}" ]; then
    log "building gantry (release, $SRC/.build-release)"
    (cd "$SRC" && swift build -c release --scratch-path .build-release --product gantry >&2)
    GANTRY_BIN=$(cd "$SRC" && swift build -c release --scratch-path .build-release --show-bin-path)/gantry
fi
if [ -z "${LOADGEN_BIN:-}" ]; then
    if grep -q '"gantry-loadgen"' "$ROOT/Package.swift"; then
        log "building gantry-loadgen (release, $ROOT/.build-release)"
        (cd "$ROOT" && swift build -c release --scratch-path .build-release --product gantry-loadgen >&2)
        LOADGEN_BIN=$(cd "$ROOT" && swift build -c release --scratch-path .build-release --show-bin-path)/gantry-loadgen
    else
        # Not in Package.swift yet: a private package (kept in /tmp as a build cache) over the same sources.
        LG=${BENCH_LOADGEN_PKG:-/tmp/gantry-loadgen-pkg}
        log "building gantry-loadgen (release, private package $LG)"
        mkdir -p "$LG/Sources"
        ln -sfn "$ROOT/Sources/gantry-loadgen" "$LG/Sources/gantry-loadgen"
        cat >"$LG/Package.swift" <<'EOF'
// swift-tools-version:6.2
import PackageDescription
let package = Package(
    name: "gantry-loadgen-pkg",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0")],
    targets: [
        .executableTarget(name: "gantry-loadgen", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], path: "Sources/gantry-loadgen"),
    ]
)
EOF
        (cd "$LG" && swift build -c release >&2)
        LOADGEN_BIN=$(cd "$LG" && swift build -c release --show-bin-path)/gantry-loadgen
    fi
fi
[ -x "$GANTRY_BIN" ] || die "no gantry binary at $GANTRY_BIN"
[ -x "$LOADGEN_BIN" ] || die "no gantry-loadgen binary at $LOADGEN_BIN"
T_BUILT=$(date +%s)

# --- processes and cleanup --------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/gantry-host-bench.XXXXXX)
RES=$TMP/results.tsv
: >"$RES"
GPID=""
NPID=""
BGPIDS=()
stop_gantry() {
    [ -n "$GPID" ] || return 0
    record_attempts
    kill -TERM "$GPID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$GPID" 2>/dev/null || true
    wait "$GPID" 2>/dev/null || true
    GPID=""
}
RPID=""
cleanup() {
    for pid in "${BGPIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$RPID" ]; then kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
    stop_gantry
    if [ -n "$NPID" ]; then kill -QUIT "$NPID" 2>/dev/null || true; sleep 0.3; kill -KILL "$NPID" 2>/dev/null || true; wait "$NPID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
record() { printf '%s\t%s\n' "$1" "$2" >>"$RES"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GPID/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# Second attempts and lost leases of the gantry now running (sums over functions), recorded under its number.
record_attempts() {
    local metrics
    metrics=$(curl -sf "http://127.0.0.1:$GPORT/metrics" || true)
    record "attempts_$GN" "{\"retried\": $(awk '/^gantry_attempts_retried_total/ {s += $NF} END {print s + 0}' <<<"$metrics"), \"leases_lost\": $(awk '/^gantry_leases_lost_total/ {s += $NF} END {print s + 0}' <<<"$metrics")}"
}
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$GPID/status"; }

GN=0
start_gantry() {  # functions-dir [extra serve flags…]
    GN=$((GN + 1))
    GPORT=$(free_port)
    "$GANTRY_BIN" serve --host 127.0.0.1 --port "$GPORT" --data-dir "$TMP/data-$GN" --functions "$1" \
        --schemas "$ROOT/schemas" --store sqlite --log-level "$LOG_LEVEL" --shutdown-grace 2 "${@:2}" >"$TMP/gantry-$GN.log" 2>&1 &
    GPID=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$GPORT/health" >/dev/null 2>&1 && return 0
        kill -0 "$GPID" 2>/dev/null || { cat "$TMP/gantry-$GN.log" >&2; die "gantry exited at start"; }
        sleep 0.05
    done
    die "gantry did not answer /health"
}

# top snapshot (second iteration = a real 2 s interval) taken while a load runs.
top_snapshot() {  # name delay
    (sleep "$2"; top -b -n2 -d2 -w 180 2>/dev/null | awk '/^top -/ {n++} n == 2' >"$TMP/top-$1.txt") &
    BGPIDS+=($!)
}

run_wrk() {  # url concurrency seconds
    local threads=1
    if (($2 >= 64)); then threads=2; fi
    BENCH_BODY="$BODY" wrk -t"$threads" -c"$2" -d"${3}s" --timeout 5s -s "$BENCH/post.lua" "$1" | sed -n 's/^WRKJSON //p'
}

loadgen() { timeout 300 "$LOADGEN_BIN" --port "$GPORT" --body "$BODY" "$@"; }

# --- 1. sync echo vs nginx --------------------------------------------------------------------------------------
start_gantry "$ROOT/functions"
REPLY=$(curl -sf -XPOST -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$GPORT/gantry/echo") || die "sync echo failed"
case $REPLY in *"'"* | *'\'* | *'$'*) die "echo reply not usable as an nginx literal: $REPLY" ;; esac
log "gantry up on :$GPORT (pid $GPID); echo reply ${#REPLY} bytes: $REPLY"

NPORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 10000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        location / { return 200 '$REPLY'; }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr.log" &
NPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break; sleep 0.05; done
[ "$(curl -sf -XPOST -d "$BODY" "http://127.0.0.1:$NPORT/")" = "$REPLY" ] || { cat "$TMP/nginx/stderr.log" "$TMP/nginx/error.log" >&2; die "nginx not serving"; }
log "nginx up on :$NPORT (pid $NPID)"

log "warm-up: sync echo 3 s at c=64"
run_wrk "http://127.0.0.1:$GPORT/gantry/echo" 64 3 >/dev/null
for c in 1 8 64; do
    if ((c == 64)); then top_snapshot sync-gantry 3; fi
    log "sync gantry c=$c (${DUR} s)"
    record "sync_gantry_c$c" "$(run_wrk "http://127.0.0.1:$GPORT/gantry/echo" "$c" "$DUR")"
    if ((c == 64)); then top_snapshot sync-nginx 3; fi
    log "nginx c=$c (${DUR} s)"
    record "sync_nginx_c$c" "$(run_wrk "http://127.0.0.1:$NPORT/" "$c" "$DUR")"
done
kill -QUIT "$NPID" 2>/dev/null || true
wait "$NPID" 2>/dev/null || true
NPID=""

# --- 2. queue round trip ----------------------------------------------------------------------------------------
for c in 8 64; do
    if ((c == 64)); then top_snapshot queue 5; fi
    log "queue round trip c=$c (2 s warm-up + ${QDUR} s, poll interval ${POLL_MS} ms)"
    before=$(cpu_s "$GPID")
    record "queue_c$c" "$(loadgen --mode queue -c "$c" --warmup 2 --duration "$QDUR" --count 5000000 --poll-interval-ms "$POLL_MS")"
    record "queue_c${c}_cpu_s" "$(awk -v a="$(cpu_s "$GPID")" -v b="$before" 'BEGIN {printf "%.3f", a - b}')"
done
record "rss_after_sync_and_queue_kb" "$(rss_kb)"
stop_gantry

# The in-memory peer: RunPod's worker SDK local API, driven by the same load generator.
RP_VENV=$OUTDIR/runpod-venv
if [ "${BENCH_RUNPOD:-1}" != 0 ] && { [ -x "$RP_VENV/bin/python" ] && "$RP_VENV/bin/python" -c 'import runpod' 2>/dev/null ||
    { log "installing runpod==1.12.0 into $RP_VENV"; rm -rf "$RP_VENV"; python3 -m venv "$RP_VENV" >&2 &&
      "$RP_VENV/bin/python" -m pip install -q --disable-pip-version-check runpod==1.12.0 >&2; }; }; then
    RPORT=$(free_port)
    printf 'import runpod\n\ndef handler(job):\n    return job["input"]\n\nrunpod.serverless.start({"handler": handler})\n' >"$TMP/runpod_echo.py"
    "$RP_VENV/bin/python" "$TMP/runpod_echo.py" --rp_serve_api --rp_api_port "$RPORT" >"$TMP/runpod.log" 2>&1 &
    RPID=$!
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$RPORT/run" 2>/dev/null)" != 000 ] && break
        sleep 0.1
    done
    for c in 8 64; do
        log "RunPod local API round trip c=$c (2 s warm-up + ${QDUR} s)"
        before=$(cpu_s "$RPID")
        record "runpod_c$c" "$(timeout 300 "$LOADGEN_BIN" --port "$RPORT" --body "$BODY" --protocol runpod --mode queue -c "$c" --warmup 2 --duration "$QDUR" --count 5000000)"
        record "runpod_c${c}_cpu_s" "$(awk -v a="$(cpu_s "$RPID")" -v b="$before" 'BEGIN {printf "%.3f", a - b}')"
    done
    kill "$RPID" 2>/dev/null || true
    wait "$RPID" 2>/dev/null || true
    RPID=""
else
    log "RunPod peer skipped (BENCH_RUNPOD=0 or runpod could not be installed)"
fi

# --- 3. completion by webhook -------------------------------------------------------------------------------------
start_gantry "$ROOT/functions" --allow-egress 127.0.0.0/8
log "completion by webhook c=64 (2 s warm-up + ${QDUR} s)"
before=$(cpu_s "$GPID")
record "webhook_c64" "$(loadgen --mode webhook -c 64 --warmup 2 --duration "$QDUR" --count 5000000)"
record "webhook_c64_cpu_s" "$(awk -v a="$(cpu_s "$GPID")" -v b="$before" 'BEGIN {printf "%.3f", a - b}')"
stop_gantry

# --- 4. status latency with N stored ------------------------------------------------------------------------------
start_gantry "$ROOT/functions"
log "submitting $N_STORED echo requests (c=64, at most ${FILL_MAX_S} s)"
record "fill_submit" "$(loadgen --mode submit -c 64 --count "$N_STORED" --duration "$FILL_MAX_S" --ids-out "$TMP/ids.txt")"
[ -s "$TMP/ids.txt" ] || die "the store fill submitted nothing"
log "waiting for all $(wc -l <"$TMP/ids.txt") to complete"
record "fill_drain" "$(loadgen --mode drain -c 8 --ids-in "$TMP/ids.txt" --duration 0)"
log "status of random stored ids, c=8 (1 s warm-up + ${DUR} s)"
record "status_c8" "$(loadgen --mode status -c 8 --warmup 1 --duration "$DUR" --ids-in "$TMP/ids.txt")"
record "store_bytes" "$(du -sb "$TMP/data-$GN" | cut -f1)"
stop_gantry

# --- 5. RSS with N queued -----------------------------------------------------------------------------------------
mkdir -p "$TMP/functions-c1/gantry"
python3 - "$ROOT/functions/gantry/echo.json" "$TMP/functions-c1/gantry/echo.json" <<'EOF'
import json, sys
manifest = json.load(open(sys.argv[1]))
manifest.update(concurrency=1, timeout_seconds=3600, max_attempts=1)
json.dump(manifest, open(sys.argv[2], "w"), indent=2)
EOF
start_gantry "$TMP/functions-c1"
sleep 1
record "rss_idle_kb" "$(rss_kb)"
loadgen --mode submit -c 1 --count 1 --duration 0 --body '{"delay_ms":600000}' --ids-out "$TMP/blocker.txt" >/dev/null
BLOCKER=$(head -1 "$TMP/blocker.txt")
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$GPORT/queue/gantry/echo/requests/$BLOCKER/status" | grep -q '"IN_PROGRESS"' && break
    sleep 0.05
done
log "submitting $N_QUEUED echo requests (at most ${QUEUED_MAX_S} s) behind a 600 s request (function concurrency 1)"
record "queued_submit" "$(loadgen --mode submit -c 64 --count "$N_QUEUED" --duration "$QUEUED_MAX_S" --ids-out "$TMP/queued.txt")"
sleep 2
record "rss_queued_kb" "$(rss_kb)"
record "hwm_queued_kb" "$(hwm_kb)"
if [ -s "$TMP/queued.txt" ]; then
    LAST=$(tail -1 "$TMP/queued.txt")
    record "queued_last_status" "$(curl -sf "http://127.0.0.1:$GPORT/queue/gantry/echo/requests/$LAST/status" || echo '{}')"
fi
stop_gantry

# --- report -------------------------------------------------------------------------------------------------------
wait "${BGPIDS[@]}" 2>/dev/null || true
BGPIDS=()
mkdir -p "$OUTDIR"
T_END=$(date +%s)
python3 "$BENCH/report.py" "$RES" "$TMP" "$OUTDIR/host-$STAMP.json" \
    "loadavg_start=$LOADAVG_START" "stored=$N_STORED" "queued=$N_QUEUED" "fill_max_s=$FILL_MAX_S" "queued_max_s=$QUEUED_MAX_S" "nproc=$(nproc)" "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    "mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" \
    "tmp_fs=$(df -T /tmp | awk 'NR == 2 {print $2}')" \
    "swift=$(swift --version 2>&1 | head -1)" "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" \
    "nginx=$("$NGINX" -v 2>&1 | cut -d: -f2 | tr -d ' ')" \
    "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo +dirty)" \
    "gantry_bin=$GANTRY_BIN" "log_level=$LOG_LEVEL" "poll_interval_ms=$POLL_MS" "echo_reply_bytes=${#REPLY}" \
    "build_seconds=$((T_BUILT - T_START))" "measure_seconds=$((T_END - T_BUILT))"
