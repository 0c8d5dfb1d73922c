#!/usr/bin/env bash
# Installs what is missing, builds Gantry in release mode and serves it with embedded defaults:
# 127.0.0.1:8080, SQLite queue and file store under ./gantry-data. Extra arguments go to `gantry serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product gantry
exec .build/release/gantry serve "$@"
