"""examples/opencv-inpaint end to end: the example runner (OpenCV Telea / Navier–Stokes inpainting through the SDK)
against a live TLS host, called with the pinned fal_client. The fixture photo and its mask come from
Tests/reference/fixtures; the photo goes in as an upload to the host's store, the mask as a data URI."""

from __future__ import annotations

import importlib.util
import io

import fal_client
import fal_client.client as fal_module
import numpy as np
import pytest
from fal_client import Completed, FalClientHTTPError
from PIL import Image

from gantry_compat import ALICE, API_KEYS, REPO_ROOT, data_uri, field_issues

EXAMPLE = REPO_ROOT / "examples" / "opencv-inpaint" / "inpaint.py"
FUNCTION = "gantry-examples/opencv/inpaint"
FIXTURES = REPO_ROOT / "Tests" / "reference" / "fixtures"
PHOTO = FIXTURES / "overture-creations-5sI6fQgYIuo.png"
MASK = FIXTURES / "overture-creations-5sI6fQgYIuo_mask.png"
TOKEN = "examples:examples-secret-1"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cv2") is None,
                                reason="opencv-python-headless is not installed (Tests/compat/requirements.txt)")


@pytest.fixture(scope="module")
def host(module_pool, tls_files):
    return module_pool.start("example", tls=tls_files, api_keys=API_KEYS,
                             runner_tokens=f"{TOKEN}:gantry-examples/*")


@pytest.fixture(scope="module")
def example_runner(host, module_runners):
    return module_runners.start(host, EXAMPLE, token=TOKEN, name="opencv")


@pytest.fixture
def client(monkeypatch, tls_files, host):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    base = f"https://127.0.0.1:{host.port}"
    for attribute, value in (("RUN_URL_FORMAT", base + "/"), ("QUEUE_URL_FORMAT", base + "/queue/"),
                             ("REST_URL", base), ("CDN_URL", base)):
        monkeypatch.setattr(fal_module, attribute, value)
    return fal_client.SyncClient(key=ALICE)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


@pytest.mark.parametrize("method,fmt", [("telea", "png"), ("ns", "jpeg")])
def test_inpaint_fills_the_masked_area(host, example_runner, client, method, fmt):
    photo, mask = PHOTO.read_bytes(), MASK.read_bytes()
    image_url = client.upload(photo, "image/png", "photo.png")
    updates = []
    out = client.subscribe(FUNCTION, {"image_url": image_url, "mask_url": data_uri(mask), "method": method,
                                      "radius": 5, "output_format": fmt},
                           with_logs=True, on_queue_update=updates.append, interval=0.05, client_timeout=120)
    image = out["image"]
    source = Image.open(io.BytesIO(photo))
    assert (image["width"], image["height"]) == source.size, image
    assert image["content_type"] == f"image/{fmt}" and image["url"].startswith(f"{host.url}/files/"), image
    served = host.session().get(image["url"], timeout=30)
    assert served.status_code == 200 and len(served.content) == image["file_size"]
    assert Image.open(io.BytesIO(served.content)).size == source.size

    before, after = pixels(photo), pixels(served.content)
    masked = np.asarray(Image.open(io.BytesIO(mask)).convert("L")) > 127
    assert masked.any() and (~masked).any()
    changed = np.abs(after - before)[masked].mean()
    kept = np.abs(after - before)[~masked].mean()
    assert changed > 10, f"the masked area barely changed (mean |diff| {changed:.2f})"
    if fmt == "png":
        assert kept == 0, f"pixels outside the mask changed (mean |diff| {kept:.3f})"
    else:
        assert kept < 4, f"pixels outside the mask changed more than JPEG noise (mean |diff| {kept:.3f})"

    final = updates[-1]
    assert isinstance(final, Completed)
    lines = [entry["message"] for entry in final.logs or []]
    assert any(f"method {method}, radius 5" in line for line in lines), lines


def test_inpaint_input_errors(host, example_runner, client):
    photo = data_uri(PHOTO.read_bytes())
    with pytest.raises(FalClientHTTPError) as excinfo:  # the host checks the registered schema
        client.run(FUNCTION, {"image_url": photo, "mask_url": photo, "radius": 0, "method": "fast"})
    assert excinfo.value.status_code == 422
    body = excinfo.value.response.json()
    assert field_issues(body, "radius") and field_issues(body, "method"), body

    small = io.BytesIO()
    Image.new("L", (8, 8), 255).save(small, format="PNG")
    with pytest.raises(FalClientHTTPError) as excinfo:  # the function's own check
        client.run(FUNCTION, {"image_url": photo, "mask_url": data_uri(small.getvalue())})
    assert excinfo.value.status_code == 422
    [issue] = field_issues(excinfo.value.response.json(), "mask_url")
    assert "8x8" in issue["msg"], issue
