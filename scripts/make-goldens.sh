#!/usr/bin/env bash
# Writes the Fooocus pipeline golden files (Tests/reference/make_goldens.py) to OUTDIR (default .build/goldens).
# Uses a virtual environment .venv-reference in the repository root with the pinned Pillow/OpenCV/NumPy
# (falls back to the system python3 when a venv cannot be made). Safe to run again: it reuses the venv and
# rewrites the goldens.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTDIR="${1:-.build/goldens}"
VENV=.venv-reference
REQS=Tests/reference/requirements.txt

if [[ ! -x "$VENV/bin/python" ]]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1 || [[ ! -x "$VENV/bin/python" ]]; then
    echo "make-goldens: cannot create $VENV, using the system python3" >&2
    rm -rf "$VENV"
  fi
fi
if [[ -x "$VENV/bin/python" ]]; then PYTHON="$VENV/bin/python"; else PYTHON=python3; fi

"$PYTHON" -m pip install -q --disable-pip-version-check -r "$REQS"
"$PYTHON" Tests/reference/make_goldens.py "$OUTDIR"
