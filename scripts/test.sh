#!/usr/bin/env bash
# Installs what the tests need and runs every test: the Swift tiers (unit, store conformance, file store
# conformance on memory, disk and a real S3 server, router, live)
# and the Python tier (the pinned official fal_client against a live TLS server, crash, bad input).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test

# Python test dependencies, pinned. A virtual environment keeps them off the system interpreter.
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv 2>/dev/null || { rm -rf .venv; python3 -m pip install -q --upgrade pip >/dev/null 2>&1 || true; }
fi
if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
$PYTHON -m pip install -q --disable-pip-version-check -r Tests/compat/requirements.txt

# Golden outputs of the Fooocus stages, made by the repo's reference script with pinned Pillow/OpenCV/NumPy.
scripts/make-goldens.sh .build/goldens

swift build --build-tests
# The hostile-client tier (Tests/compat/test_hostile_*.py) runs against the release build.
swift build -c release --product gantry

# schemathesis fuzzes /openapi.json from its own virtual environment (its dependencies are not the fal client's).
if [[ ! -x .venv-schemathesis/bin/python ]]; then python3 -m venv .venv-schemathesis; fi
.venv-schemathesis/bin/python -m pip install -q --disable-pip-version-check schemathesis==4.32.5
# Real servers for the shared stores' tests, stopped however this script ends: PostgreSQL (a throwaway cluster) for
# the PostgreSQL job store, SeaweedFS for the S3 file store.
S3_DIR=$(mktemp -d)
PG_DIR=$(mktemp -d)
trap 'scripts/s3-server.sh stop "$S3_DIR"; scripts/pg-server.sh stop "$PG_DIR"' EXIT
scripts/pg-server.sh start "$PG_DIR"
scripts/s3-server.sh start "$S3_DIR"
# shellcheck disable=SC1091
source "$PG_DIR/env"
# shellcheck disable=SC1091
source "$S3_DIR/env"

# Two processes: the image tiers run long synchronous pixel loops on the test pool, which would starve the
# runtime tiers' event-driven tests (dispatcher, notifier, live server) if they shared it.
swift test --skip-build --filter 'ImagingTests|FooocusTests'
swift test --skip-build --skip 'ImagingTests|FooocusTests'

GANTRY_BIN="$PWD/.build/debug/gantry" GANTRY_RELEASE_BIN="$PWD/.build/release/gantry" \
  SCHEMATHESIS_BIN="$PWD/.venv-schemathesis/bin/schemathesis" $PYTHON -m pytest -q -p no:cacheprovider Tests/compat
