"""Helpers shared by the compat tests: PNG bytes written and read by hand, data URIs, the error envelope check."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import time
import zlib
from pathlib import Path

import pytest

API_KEYS = "alice:secret1,bob:secret2"
ALICE = "alice:secret1"
BOB = "bob:secret2"
REPO_ROOT = Path(__file__).resolve().parents[2]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def ihdr(width: int, height: int, color_type: int = 2, bit_depth: int = 8) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))


def pattern_pixel(x: int, y: int) -> tuple[int, int, int]:
    """A deterministic, non-uniform RGB pattern (so a truncated or reordered decode shows)."""
    return ((x * 37 + y * 11) % 256, (x * 5 + y * 29) % 256, (x * y + 77) % 256)


def make_png(width: int, height: int, pixel=pattern_pixel) -> bytes:
    """An 8-bit RGB, non-interlaced PNG, every row with filter type 0."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw.extend(pixel(x, y))
    return PNG_SIGNATURE + ihdr(width, height) + png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + png_chunk(b"IEND", b"")


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A small file whose IHDR claims a huge image; IDAT holds only a few compressed zero rows."""
    rows = zlib.compress(b"\x00" * (1 + width * 3) * 4, 9)
    return PNG_SIGNATURE + ihdr(width, height) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    header, _, payload = uri.partition(",")
    assert header.startswith("data:") and header.endswith(";base64"), header
    return header[5:-7], base64.b64decode(payload, validate=True)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> dict:
    """Parses a PNG strictly (signature, chunk CRCs, IHDR first, IEND last, IDAT size) and unfilters 8-bit,
    non-interlaced images. Returns width, height, color_type, channels and rows (list of bytes, one per row)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert len(body) == length, f"chunk {kind!r} truncated"
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [k for k, _ in chunks]
    width, height, depth, color_type, _comp, _filter, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    result = {"width": width, "height": height, "bit_depth": depth, "color_type": color_type, "interlace": interlace}
    if depth != 8 or interlace != 0 or color_type not in _CHANNELS:
        return result
    channels = _CHANNELS[color_type]
    stride = width * channels
    assert len(raw) == height * (1 + stride), f"IDAT holds {len(raw)} bytes, expected {height * (1 + stride)}"
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (1 + stride)]
        line = bytearray(raw[y * (1 + stride) + 1:(y + 1) * (1 + stride)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
            else:
                assert kind == 0, f"unknown filter type {kind}"
        rows.append(bytes(line))
        previous = line
    result.update(channels=channels, rows=rows)
    return result


def assert_same_pixels(png: dict, width: int, height: int, pixel=pattern_pixel) -> None:
    """The decoded PNG holds exactly the pattern `make_png` wrote (alpha, if added, opaque)."""
    assert (png["width"], png["height"]) == (width, height)
    channels = png["channels"]
    assert channels in (3, 4), f"unexpected channel count {channels}"
    for y in (0, height // 2, height - 1):
        for x in range(width):
            got = png["rows"][y][x * channels:(x + 1) * channels]
            want = bytes(pixel(x, y)) + (b"\xff" if channels == 4 else b"")
            assert got == want, f"pixel ({x},{y}) is {tuple(got)}, expected {tuple(want)}"


def assert_envelope(response, status: int, error_type: str | None = None) -> dict:
    """The JSON error envelope: exact status, `detail` and `error_type` present, JSON content type."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and "detail" in body and "error_type" in body, body
    assert isinstance(body["error_type"], str) and body["error_type"], body
    if error_type is not None:
        assert body["error_type"] == error_type, body
    return body


def field_issues(body: dict, field: str) -> list[dict]:
    """The pydantic-style detail items whose `loc` names `field`."""
    detail = body.get("detail")
    assert isinstance(detail, list) and detail, f"detail should be a non-empty list: {body}"
    for item in detail:
        assert {"loc", "msg", "type"} <= set(item), item
    return [item for item in detail if field in item["loc"]]


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05, message: str = "condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes (then fails)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {message}")
        time.sleep(interval_s)


def functions_copy(dest: Path, overrides: dict[str, dict]) -> Path:
    """A copy of the repository's functions/ with manifest values replaced, by function id."""
    shutil.copytree(REPO_ROOT / "functions", dest)
    applied = set()
    for manifest in dest.rglob("*.json"):
        data = json.loads(manifest.read_text())
        if data.get("id") in overrides:
            data.update(overrides[data["id"]])
            manifest.write_text(json.dumps(data, indent=2))
            applied.add(data["id"])
    missing = set(overrides) - applied
    assert not missing, f"no manifest declares {missing}"
    return dest


def bounded(events, timeout_s: float):
    """Consumes a fal_client `iter_events` generator against a deadline; returns the events up to COMPLETED."""
    from fal_client import Completed

    deadline = time.monotonic() + timeout_s
    collected = []
    for event in events:
        collected.append(event)
        if isinstance(event, Completed):
            return collected
        assert time.monotonic() < deadline, f"no COMPLETED within {timeout_s} s: {collected[-3:]}"
    return collected


def messages(logs) -> list[str]:
    """The messages of a status's log entries."""
    return [entry["message"] for entry in logs or []]


# -- a process seen from /proc ----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the process has used."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    """A `/proc/PID/status` size in KiB (VmRSS, VmHWM)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)
