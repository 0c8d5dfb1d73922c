"""`gantry run`: one request in process, no server. The file URLs it prints must open the files it wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from conftest import gantry_binary
from gantry_compat import REPO_ROOT, data_uri, make_png, read_png


def run(tmp_path: Path, function: str, arguments: dict) -> subprocess.CompletedProcess:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(arguments))
    return subprocess.run([str(gantry_binary()), "run", function, "--input", str(request), "--out", str(tmp_path / "out"),
                           "--functions", str(REPO_ROOT / "functions"), "--schemas", str(REPO_ROOT / "schemas")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_printed_file_urls_open_the_written_files(tmp_path):
    done = run(tmp_path, "gantry/image/convert", {"image_url": data_uri(make_png(12, 7)), "output_format": "png"})
    assert done.returncode == 0, done.stderr
    image = json.loads(done.stdout)["image"]
    url = urlparse(image["url"])
    assert url.scheme == "file", image
    written = Path(unquote(url.path))
    assert written.is_file(), f"{image['url']} names no file; out holds {sorted(p.name for p in (tmp_path / 'out').rglob('*'))}"
    assert written.is_relative_to(tmp_path / "out" / "files")
    assert written.stat().st_size == image["file_size"]
    assert (read_png(written.read_bytes())["width"], image["width"]) == (12, 12)


def test_invalid_input_prints_the_envelope_and_fails(tmp_path):
    done = run(tmp_path, "gantry/image/convert", {"output_format": "gif"})
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["error_type"] == "validation_error"
    assert {tuple(item["loc"]) for item in body["detail"]} >= {("body", "image_url"), ("body", "output_format")}
