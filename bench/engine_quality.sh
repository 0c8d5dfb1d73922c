#!/usr/bin/env bash
# Quality bench of the reference engine (not a test): contact sheets bench/out/engine-<name>.png comparing OpenCV
# Telea, OpenCV contrib xphoto shift-map and Gantry's reference engine through the real pipeline, plus PSNR and a
# texture ratio on synthetic holes, and the engine's timings. See bench/engine_quality.py.
#
# Python: a venv .build-engine-bench/venv with the reference pins (Tests/reference/requirements.txt) but
# opencv-contrib-python-headless instead of opencv-python-headless (the two cannot share a venv; the goldens'
# .venv-reference is left alone). Swift: gantry-engine-bench in release, from Package.swift when it declares the
# target, else from a private package under .build-engine-bench/pkg that links the real source directories.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=.build-engine-bench
OUT=bench/out
mkdir -p "$WORK" "$OUT"

VENV=$WORK/venv
if [[ ! -x "$VENV/bin/python" ]]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check pillow==10.4.0 numpy==1.26.4 >/dev/null
if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check opencv-contrib-python-headless==4.10.0.84 \
    >/dev/null 2>&1; then
  echo "engine_quality: opencv-contrib-python-headless did not install; shift-map will read n/a" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check opencv-python-headless==4.10.0.84 >/dev/null
fi

if grep -q '"gantry-engine-bench"' Package.swift; then
  swift build -c release --build-path .build-release --product gantry-engine-bench >&2
  BIN=$ROOT/.build-release/release/gantry-engine-bench
else
  PKG=$WORK/pkg
  mkdir -p "$PKG/Sources"
  for t in CPNG CPNGShim CWebP CTurboJPEG Imaging GantryCore Fooocus gantry-engine-bench; do
    ln -sfn "$ROOT/Sources/$t" "$PKG/Sources/$t"
  done
  [[ -f Package.resolved ]] && cp Package.resolved "$PKG/"
  cat >"$PKG/Package.swift" <<'EOF'
// swift-tools-version:6.2
import PackageDescription
let package = Package(
    name: "enginebench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        .target(name: "CPNGShim", dependencies: ["CPNG"]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng"),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp"),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg"),
        .target(name: "Imaging", dependencies: ["CPNG", "CPNGShim", "CWebP", "CTurboJPEG"]),
        .target(name: "GantryCore", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Fooocus", dependencies: ["Imaging", "GantryCore"]),
        .executableTarget(name: "gantry-engine-bench", dependencies: ["Fooocus", "Imaging"]),
    ]
)
EOF
  (cd "$PKG" && swift build -c release --product gantry-engine-bench >&2)
  BIN=$ROOT/$PKG/.build/release/gantry-engine-bench
fi

"$VENV/bin/python" bench/engine_quality.py "$BIN" "$OUT" Tests/reference/fixtures "$ROOT/../shared/fixtures/inpainting"
