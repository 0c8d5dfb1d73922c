#!/usr/bin/env bash
# bench/pipeline.sh — imaging/pipeline benchmark: Gantry's Swift Imaging + Fooocus stages against the Python
# reference (Tests/reference/make_goldens.py on the pinned Pillow 10.4.0 / OpenCV 4.10.0.84 / NumPy 1.26.4), in one
# run, on the same inputs, on this machine.
#
# Inputs (bench/pipeline_reference.py inputs): a deterministic synthetic RGB image (+ an RGBA variant) and the
# overture inpainting fixture (Tests/reference/fixtures, LANCZOS-resized), at 1024² and 2048², with a ~15 % disc
# mask (the fixture keeps its own ~13 % blob mask). Ops: LANCZOS to half and to double, BoxBlur r=3 and r=512,
# dilate/erode k=5 on the mask, HWC3 on RGBA, the 60-pass fill, the blend mask, and the whole inpaint chain (mask
# prep → crop box k=0.618 → 4× LANCZOS stand-in when small → shape ceil 1024 → working mask → fill → blend mask →
# paste-back of the working crop with the colour-correction blend). Each op: one warm-up call, then calls until
# MAX, or until at least MIN calls and BUDGET seconds; the median is reported. The chain's outputs of both sides
# are compared byte for byte (OK/MISMATCH), and every op's last output by CRC-32 (column "same").
#
# Prints one table and writes bench/out/pipeline-<timestamp>.json. Not a test: a missed target does not fail the
# run; a Swift/Python output difference does (exit 1).
#
# Knobs (environment): PIPELINE_SIZES (1024,2048), PIPELINE_MIN_CALLS (3), PIPELINE_MAX_CALLS (15),
# PIPELINE_BUDGET_S (seconds per op after warm-up once MIN calls are done, 2), PIPELINE_BIN (use this binary
# instead of building), PIPELINE_PKG_DIR (private package used to build while Package.swift has no
# gantry-pipeline-bench target; default $TMPDIR/gantry-pipeline-bench-pkg, see bench/pipeline_package.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$ROOT/bench/out
SIZES=${PIPELINE_SIZES:-1024,2048}
MIN_CALLS=${PIPELINE_MIN_CALLS:-3}
MAX_CALLS=${PIPELINE_MAX_CALLS:-15}
BUDGET=${PIPELINE_BUDGET_S:-2}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
T_START=$(date +%s)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { echo "[pipeline.sh $(date +%T)] $*" >&2; }

mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gantry-pipeline.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- reference venv (the logic of scripts/make-goldens.sh) ------------------------------------------------------
VENV=$ROOT/.venv-reference
if [[ ! -x "$VENV/bin/python" ]]; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1 || [[ ! -x "$VENV/bin/python" ]]; then
        log "cannot create $VENV, using the system python3"
        rm -rf "$VENV"
    fi
fi
if [[ -x "$VENV/bin/python" ]]; then PYTHON=$VENV/bin/python; else PYTHON=python3; fi
"$PYTHON" -m pip install -q --disable-pip-version-check -r "$ROOT/Tests/reference/requirements.txt" >&2
"$PYTHON" - <<'EOF' >&2 || log "warning: the reference libraries are not the pinned versions; results may differ"
import PIL, cv2, numpy
pinned = ("10.4.0", "4.10.0", "1.26.4")
got = (PIL.__version__, cv2.__version__, numpy.__version__)
assert got == pinned, got
EOF

# --- build --------------------------------------------------------------------------------------------------------
if [[ -n "${PIPELINE_BIN:-}" ]]; then
    BIN=$PIPELINE_BIN
elif grep -q '"gantry-pipeline-bench"' "$ROOT/Package.swift"; then
    log "building gantry-pipeline-bench (release, $ROOT/.build-release)"
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product gantry-pipeline-bench >&2)
    BIN=$(cd "$ROOT" && swift build -c release --scratch-path .build-release --show-bin-path)/gantry-pipeline-bench
else
    # Package.swift has no such target yet: a private package with this checkout's manifest plus the target
    # (bench/pipeline_package.py) and symlinks to its Sources and Tests, so it builds against the current code.
    PKG=${PIPELINE_PKG_DIR:-${TMPDIR:-/tmp}/gantry-pipeline-bench-pkg}
    log "building gantry-pipeline-bench (release) in the private package $PKG"
    mkdir -p "$PKG"
    for d in Sources Tests; do
        [[ -L "$PKG/$d" || ! -e "$PKG/$d" ]] || { log "error: $PKG/$d is not a symlink"; exit 1; }
        ln -sfn "$ROOT/$d" "$PKG/$d"
    done
    if [[ -f "$ROOT/Package.resolved" ]] && ! cmp -s "$ROOT/Package.resolved" "$PKG/Package.resolved"; then
        cp "$ROOT/Package.resolved" "$PKG/Package.resolved"
    fi
    python3 "$ROOT/bench/pipeline_package.py" "$ROOT/Package.swift" "$PKG/Package.swift"
    (cd "$PKG" && swift build -c release --product gantry-pipeline-bench >&2)
    BIN=$(cd "$PKG" && swift build -c release --show-bin-path)/gantry-pipeline-bench
fi
[[ -x "$BIN" ]] || { log "error: no binary at $BIN"; exit 1; }

# --- run ------------------------------------------------------------------------------------------------------------
log "inputs ($SIZES) in $WORK"
"$PYTHON" "$ROOT/bench/pipeline_reference.py" inputs "$WORK" "$SIZES"
log "Swift side"
"$BIN" "$WORK" "$SIZES" "$MIN_CALLS" "$MAX_CALLS" "$BUDGET" "$WORK/swift.json"
log "Python side"
"$PYTHON" "$ROOT/bench/pipeline_reference.py" bench "$WORK" "$SIZES" "$MIN_CALLS" "$MAX_CALLS" "$BUDGET" \
    "$WORK/python.json"

OUT=$OUTDIR/pipeline-$STAMP.json
echo
status=0
"$PYTHON" "$ROOT/bench/pipeline_reference.py" report "$WORK" "$WORK/swift.json" "$WORK/python.json" "$OUT" \
    "stamp=$STAMP" "cores=$(nproc)" "loadavg_start=$LOADAVG_START" "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
    "sizes=$SIZES" "min_calls=$MIN_CALLS" "max_calls=$MAX_CALLS" "budget_s=$BUDGET" \
    "swift=$(swift --version 2>/dev/null | head -1)" "wall_s=$(($(date +%s) - T_START))" || status=$?
echo
log "raw numbers: $OUT (total $(($(date +%s) - T_START)) s)"
exit $status
