"""Hostile inputs against the release-mode host: forged log lines, kill -9 in the middle of uploads, image
conversions asked for by many strangers at once, and schemathesis fuzzing the OpenAPI document."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest
import requests

from conftest import release_binary
from gantry_compat import REPO_ROOT, functions_copy, proc_status_kib, wait_for


@pytest.fixture(scope="module")
def release_server(module_pool):
    return module_pool.start("release-work", binary=release_binary())


def schemathesis_binary() -> Path:
    raw = Path(os.environ.get("SCHEMATHESIS_BIN", ".venv-schemathesis/bin/schemathesis"))
    return raw if raw.is_absolute() else REPO_ROOT / raw


def test_a_forged_newline_never_starts_a_log_line(release_server):
    forged = "2026-01-01T00:00:00+0000 critical gantry: [GantryServer] FORGED-ENTRY"
    url = f"http://127.0.0.1:1/a.png\n{forged}\r\x1b[31m"
    r = requests.post(release_server.url + "/gantry/image/convert", json={"image_url": url}, timeout=10)
    assert r.status_code == 422
    r = requests.post(release_server.url + "/gantry/echo", json={"text": "x", "fail_with": f"boom\n{forged}"}, timeout=10)
    assert r.status_code == 500
    wait_for(lambda: "FORGED-ENTRY" in release_server.stderr_tail(100_000), 5, message="the input reached the log")
    lines = release_server.stderr_tail(100_000).splitlines()
    assert not [line for line in lines if line.startswith(forged[:24])]
    assert all(line.startswith("20") or line.startswith("=====") for line in lines if "FORGED-ENTRY" in line)
    assert not any("\x1b" in line for line in lines)


def test_kill9_mid_upload_leaves_no_staging_file(gantry_pool):
    server = gantry_pool.start("uploads", binary=release_binary())
    staging = server.data_dir / "uploads"
    single = socket.create_connection(("127.0.0.1", server.port))
    single.sendall(b"POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                   b"Content-Length: 1000000\r\n\r\n" + b"x" * 300_000)
    created = requests.post(server.url + "/files/upload/multipart", headers={"Content-Type": "text/plain"},
                            timeout=5).json()
    access, upload_id = created["access_url"], created["uploadId"]
    path = urlparse(access).path
    first = requests.put(f"{server.url}{path}/multipart/{upload_id}/1", data=b"a" * 1000, timeout=5)
    assert first.status_code == 200
    second = socket.create_connection(("127.0.0.1", server.port))
    second.sendall(f"PUT {path}/multipart/{upload_id}/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode()
                   + b"b" * 300_000)
    upload_dir = staging / "multipart" / upload_id

    def interrupted_files_exist() -> bool:
        return any((staging / "incoming").iterdir()) and any(p.name.startswith(".incoming-") for p in upload_dir.iterdir())

    wait_for(interrupted_files_exist, 5, message="both bodies streaming into staging files")
    server.kill9()
    single.close()
    second.close()
    assert interrupted_files_exist()  # the crash left them
    server.restart()
    assert not any((staging / "incoming").iterdir())
    names = sorted(p.name for p in upload_dir.iterdir())
    assert names[0] == "manifest.json" and len(names) == 2 and names[1].startswith("part-00001-"), names
    # The multipart upload itself outlived the crash and still completes.
    done = requests.post(f"{server.url}{path}/multipart/{upload_id}/complete",
                         json={"parts": [{"partNumber": 1, "etag": first.headers["ETag"]}]}, timeout=5)
    assert done.status_code == 200, done.text
    assert requests.get(access, timeout=5).content == b"a" * 1000


def gradient_png(side: int) -> bytes:
    ramp = (np.add.outer(np.arange(side), np.arange(side)) % 256).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", np.dstack([ramp, ramp[::-1], ramp.T]))
    assert ok
    return encoded.tobytes()


def upload(server, data: bytes) -> str:
    r = requests.post(server.url + "/files/upload", data=data, headers={"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["access_url"]


def test_concurrent_conversions_stay_within_a_memory_bound(release_server):
    pid = release_server.proc.pid
    url = upload(release_server, gradient_png(4000))  # 16 MP: converted
    huge = upload(release_server, gradient_png(6000))  # 36 MP: above the conversion limit, served as stored
    baseline = proc_status_kib(pid, "VmHWM")

    def fetch(target: str) -> requests.Response:
        return requests.get(target, headers={"Accept": "image/webp"}, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(fetch, [url] * 16))
    assert {r.status_code for r in replies} == {200}
    assert {r.headers["Content-Type"] for r in replies} == {"image/webp"}
    assert len({r.content for r in replies}) == 1 and replies[0].content[8:12] == b"WEBP"
    with ThreadPoolExecutor(8) as pool:
        large = list(pool.map(fetch, [huge] * 8))
    assert {(r.status_code, r.headers["Content-Type"]) for r in large} == {(200, "image/png")}
    growth_mib = (proc_status_kib(pid, "VmHWM") - baseline) / 1024
    assert growth_mib < 400, f"peak resident memory grew {growth_mib:.0f} MiB for 24 conversion requests"
    again = fetch(url)  # cached: same bytes, same entity tag
    assert again.content == replies[0].content and again.headers["ETag"] == replies[0].headers["ETag"]


def test_schemathesis_finds_no_undeclared_status(gantry_pool, tmp_path):
    binary = schemathesis_binary()
    if not binary.is_file():
        pytest.fail(f"schemathesis not found at {binary}: scripts/test.sh installs it (or set SCHEMATHESIS_BIN)")
    # Every function times out after 3 s here, so a generated echo delay_ms of minutes (or a real inpaint) ends with
    # the declared 504 instead of holding the fuzzer.
    ids = [json.loads(p.read_text())["id"] for p in (REPO_ROOT / "functions").rglob("*.json")]
    functions = functions_copy(tmp_path / "functions", {fid: {"timeout_seconds": 3} for fid in ids})
    server = gantry_pool.start("fuzzed", binary=release_binary(), functions_dir=functions)
    result = subprocess.run(
        [str(binary), "run", server.url + "/openapi.json", "--checks", "status_code_conformance",
         "--max-examples", "8", "--seed", "7", "--phases", "examples,fuzzing", "--generation-database", "none",
         "--request-timeout", "20", "--workers", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
