#!/usr/bin/env bash
# Quality bench of generate_mask's CPU answer for isnet-general-use (not a test): Gantry's GrabCut from a centred
# box against OpenCV's cv2.grabCut with the same box and iterations, on the fixture photos. Reports the IoU of the
# masks and the timings, and writes bench/out/generate-mask-quality.json and bench/out/generate-mask-sheet.png.
# See Tests/reference/grabcut_reference.py.
#
# Python: the reference venv .venv-reference with the pinned Pillow/OpenCV/NumPy (Tests/reference/requirements.txt,
# as scripts/make-goldens.sh makes it). Swift: gantry in release (.build-release), run as `gantry run`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"

VENV=.venv-reference
if [[ ! -x "$VENV/bin/python" ]]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r Tests/reference/requirements.txt

swift build -c release --build-path .build-release --product gantry >&2
BIN=$PWD/.build-release/release/gantry

"$VENV/bin/python" Tests/reference/grabcut_reference.py --gantry "$BIN" --out "$OUT" \
  Tests/reference/fixtures "$(cd "$(dirname "$0")/.." && pwd)/../shared/fixtures/inpainting" "$@"
