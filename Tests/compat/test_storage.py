"""fal's storage API against the unmodified `fal_client` 1.0.3: `upload`, `upload_file`, `upload_image`, the GCS-style
fallback, multipart above 100 MiB, and uploads used as function inputs.

The client finds the storage API through two module constants with no environment override, `REST_URL` and
`CDN_URL`; both are patched to the server's URL before a fresh `SyncClient` is made (its token manager copies
`REST_URL` when it is first used). The server forbids loopback egress, so an upload that works as an input was read
from the host's own store, not fetched back over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from datetime import datetime, timezone

import fal_client
import fal_client.client as fal_module
import pytest
import requests
from fal_client import FalClientHTTPError
from PIL import Image

from gantry_compat import ALICE, API_KEYS, BOB, field_issues, read_png

CONVERT = "gantry/image/convert"
DIGEST = "gantry/file/digest"


@pytest.fixture(scope="module")
def storage_server(module_pool, tls_files):
    return module_pool.start("storage", tls=tls_files, api_keys=API_KEYS)


@pytest.fixture
def point(monkeypatch, tls_files):
    """`point(server)` aims fal_client's run, queue, REST and CDN bases at `server`."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def aim(server, *, cdn_path: str = "") -> None:
        base = f"https://127.0.0.1:{server.port}"
        monkeypatch.setattr(fal_module, "RUN_URL_FORMAT", base + "/")
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", base + "/queue/")
        monkeypatch.setattr(fal_module, "REST_URL", base)
        monkeypatch.setattr(fal_module, "CDN_URL", base + cdn_path)

    return aim


@pytest.fixture
def fal(point):
    """`fal(server, key)` → a fresh SyncClient aimed at `server`."""

    def connect(server, key: str = ALICE, **aim) -> fal_client.SyncClient:
        point(server, **aim)
        return fal_client.SyncClient(key=key)

    return connect


def fetch(server, url: str) -> requests.Response:
    assert url.startswith(f"{server.url}/files/"), url
    response = server.session().get(url, timeout=60)
    assert response.status_code == 200, response.text
    return response


def test_token_expires_at_is_offset_aware(storage_server):
    response = storage_server.session(ALICE).post(f"{storage_server.url}/storage/auth/token?storage_type=fal-cdn-v3",
                                                  json={}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["base_url"] == storage_server.url and body["token"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.tzinfo is not None, body["expires_at"]
    remaining = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 3_500 < remaining <= 3_600, remaining
    assert storage_server.session().post(f"{storage_server.url}/storage/auth/token", json={}, timeout=10).status_code == 401


def test_upload_and_upload_file(storage_server, fal, tmp_path):
    client = fal(storage_server)
    payload = os.urandom(50_000)
    url = client.upload(payload, "application/octet-stream", file_name="blob.bin")
    assert url.endswith(".bin")
    assert fetch(storage_server, url).content == payload

    text = client.upload("héllo wörld", "text/plain")
    served = fetch(storage_server, text)
    assert served.content == "héllo wörld".encode() and served.headers["content-type"].startswith("text/plain")

    path = tmp_path / "report.json"
    path.write_text('{"ok": true}')
    url = client.upload_file(path)
    assert url.endswith(".json")
    served = fetch(storage_server, url)
    assert served.json() == {"ok": True} and served.headers["content-type"] == "application/json"


def test_upload_image_feeds_image_convert(storage_server, fal):
    client = fal(storage_server)
    image = Image.new("RGB", (21, 13))
    image.putdata([(x * 12 % 256, y * 19 % 256, (x + y) % 256) for y in range(13) for x in range(21)])
    url = client.upload_image(image, format="png")
    assert url.endswith(".png")
    assert fetch(storage_server, url).headers["content-type"] == "image/png"

    result = client.run(CONVERT, arguments={"image_url": url, "output_format": "png"})
    output = result["image"]
    assert (output["width"], output["height"], output["content_type"]) == (21, 13, "image/png")
    decoded = read_png(fetch(storage_server, output["url"]).content)
    assert (decoded["width"], decoded["height"]) == (21, 13)
    assert bytes(decoded["rows"][4][3 * 5:3 * 6]) == bytes(image.getpixel((5, 4)))

    jpeg = client.upload_image(image)  # fal_client's default format
    assert jpeg.endswith(".jpeg") or jpeg.endswith(".jpg"), jpeg
    assert client.run(CONVERT, arguments={"image_url": jpeg})["image"]["width"] == 21


def test_gcs_repository(storage_server, fal):
    """`repository="fal"` alone: initiate, then the signed PUT (fal_client sends its key along)."""
    client = fal(storage_server, cdn_path="/unused-cdn")
    payload = b"signed upload " * 1000
    url = client.upload(payload, "text/plain", file_name="notes.txt", repository="fal", fallback_repository=[])
    assert url.endswith(".txt")
    assert fetch(storage_server, url).content == payload


def test_fallback_from_cdn_to_gcs(storage_server, fal):
    """The default chain: a CDN upload that fails (404 here) falls back to the GCS-style upload."""
    client = fal(storage_server, cdn_path="/no-cdn-here")
    url = client.upload(b"fallback", "application/octet-stream")
    assert fetch(storage_server, url).content == b"fallback"


def test_async_client_upload(storage_server, point):
    point(storage_server)

    async def go() -> str:
        return await fal_client.AsyncClient(key=BOB).upload(b"async bytes", "application/octet-stream", file_name="a.bin")

    url = asyncio.run(asyncio.wait_for(go(), 60))
    assert fetch(storage_server, url).content == b"async bytes"


def test_multipart_over_100_mib_is_a_digest_input(storage_server, fal, tmp_path):
    size = 100 * 1024 * 1024 + 1_234_567  # above fal_client's multipart threshold: 11 parts
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 << 20))
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    client = fal(storage_server)
    url = client.upload_file(path)
    assert url.endswith(".bin")
    result = client.subscribe(DIGEST, arguments={"file_url": url}, client_timeout=120)
    assert result == {"sha256": digest.hexdigest(), "size": size, "content_type": "application/octet-stream"}


def test_another_tenants_upload_is_not_an_input(storage_server, fal):
    alice = fal(storage_server, ALICE)
    url = alice.upload(b"\x89PNG private", "image/png")
    bob = fal(storage_server, BOB)
    with pytest.raises(FalClientHTTPError) as err:
        bob.run(CONVERT, arguments={"image_url": url})
    assert err.value.status_code == 422
    issues = field_issues(err.value.response.json(), "image_url")
    assert [issue["type"] for issue in issues] == ["file_not_found"], issues
    assert alice.run(DIGEST, arguments={"file_url": url})["size"] == len(b"\x89PNG private")


def test_upload_limit_flag(gantry_pool, tls_files, fal):
    server = gantry_pool.start("small-uploads", tls=tls_files, api_keys=API_KEYS, extra_args=["--max-upload-bytes", "2048"])
    client = fal(server)
    assert fetch(server, client.upload(b"x" * 2048, "application/octet-stream")).content == b"x" * 2048
    with pytest.raises(FalClientHTTPError) as err:
        client.upload(b"x" * 2049, "application/octet-stream")
    assert err.value.status_code == 413
    assert err.value.response.json()["error_type"] == "request_too_large"
