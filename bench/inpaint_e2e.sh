#!/usr/bin/env bash
# One 1024×1024 fal-ai/fooocus/inpaint with ~15 % of the area masked, end to end through the run surface of a
# release build on loopback, three times; prints the wall time and the function's own phase timings.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-release --product gantry >/dev/null
BIN=.build-release/release/gantry
DATA=$(mktemp -d)
PORT=${PORT:-18411}
"$BIN" serve --port "$PORT" --data-dir "$DATA" --log-level warning &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
python3 - "$PORT" <<'PY'
import base64, json, sys, time, urllib.request, zlib, struct, math
port = sys.argv[1]
W = H = 1024
def png(width, height, channels, rows):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    color = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
# A textured scene: diagonal stripes with noise-like variation, and a disc mask of ~15 % of the area.
image_rows = [bytes(v for x in range(W) for v in (((x + y) // 8 % 2) * 120 + (x * 7 % 50), (x * 3 + y) % 256, (y * 5) % 256)) for y in range(H)]
radius = math.sqrt(0.15 * W * H / math.pi)
mask_rows = [bytes(255 if (x - 512) ** 2 + (y - 512) ** 2 <= radius ** 2 else 0 for x in range(W)) for y in range(H)]
body = {"inpaint_image_url": "data:image/png;base64," + base64.b64encode(png(W, H, 3, image_rows)).decode(),
        "mask_image_url": "data:image/png;base64," + base64.b64encode(png(W, H, 1, mask_rows)).decode(),
        "output_format": "png", "seed": 42}
data = json.dumps(body).encode()
for attempt in range(3):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/fal-ai/fooocus/inpaint", data=data, headers={"content-type": "application/json"})
    started = time.perf_counter()
    reply = json.load(urllib.request.urlopen(request, timeout=120))
    wall = time.perf_counter() - started
    timings = {k: round(v, 3) for k, v in reply["timings"].items()}
    image = reply["images"][0]
    print(f"run {attempt + 1}: wall {wall:.3f} s (target <= 2 s)  phases {timings}  output {image['width']}x{image['height']} {image['content_type']}")
PY
