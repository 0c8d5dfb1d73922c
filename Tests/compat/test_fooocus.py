"""The unmodified `fal_client` 1.0.3 against the fooocus endpoints of a live `gantry serve` over TLS.

Inputs are the overture fixture pair (Tests/reference/fixtures), downscaled to 128 px in pure Python (every fourth
pixel) so a debug-build run stays within a few seconds, sent as data URIs or from the loopback file server.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from fal_client import FalClientHTTPError

from gantry_compat import API_KEYS, REPO_ROOT, data_uri, decode_data_uri, field_issues, make_png, read_png

INPAINT = "fal-ai/fooocus/inpaint"
FIXTURES = REPO_ROOT / "Tests" / "reference" / "fixtures"
STEP = 4  # 512 px fixtures → 128 px


def downscaled(name: str) -> tuple[bytes, int, int]:
    """The fixture PNG keeping every STEP-th pixel (RGB), re-encoded; with its width and height."""
    png = read_png((FIXTURES / name).read_bytes())
    channels, rows = png["channels"], png["rows"]
    width, height = png["width"] // STEP, png["height"] // STEP

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        row, at = rows[y * STEP], x * STEP * channels
        return tuple(row[at:at + 3]) if channels >= 3 else (row[at],) * 3

    return make_png(width, height, pixel), width, height


@pytest.fixture(scope="module")
def overture():
    image, width, height = downscaled("overture-creations-5sI6fQgYIuo.png")
    mask, _, _ = downscaled("overture-creations-5sI6fQgYIuo_mask.png")
    return {"image": image, "mask": mask, "width": width, "height": height}


@pytest.fixture(scope="module")
def tls_server(module_pool, tls_files):
    return module_pool.start("fooocus-tls", tls=tls_files, api_keys=API_KEYS, allow_egress=["127.0.0.1/32"])


def test_subscribe_inpaint_returns_a_fetchable_image(tls_server, fal, overture):
    client = fal(tls_server)
    arguments = {"inpaint_image_url": data_uri(overture["image"]), "mask_image_url": data_uri(overture["mask"]),
                 "prompt": "a cat on a bench", "output_format": "png", "seed": 1234}
    result = client.subscribe(INPAINT, arguments, with_logs=True, interval=0.05, client_timeout=120)
    assert set(result) >= {"images", "timings", "has_nsfw_concepts", "seed"}, result.keys()
    assert result["seed"] == 1234 and result["has_nsfw_concepts"] == [False]
    assert {"fetch", "prepare", "engine", "finish", "encode", "total"} <= set(result["timings"])
    [image] = result["images"]
    assert image["content_type"] == "image/png"
    assert (image["width"], image["height"]) == (overture["width"], overture["height"])
    assert image["url"].startswith(f"https://127.0.0.1:{tls_server.port}/files/"), image["url"]
    r = requests.get(image["url"], verify=str(tls_server.tls.cert), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert len(r.content) == image["file_size"]
    png = read_png(r.content)
    assert (png["width"], png["height"]) == (overture["width"], overture["height"])


def test_run_with_urls_and_sync_mode(tls_server, fal, overture, file_server):
    client = fal(tls_server)
    tag = uuid.uuid4().hex
    image_url = file_server.add(f"/overture-{tag}.png", overture["image"], "image/png")
    mask_url = file_server.add(f"/overture-{tag}-mask.png", overture["mask"], "image/png")
    result = client.run(INPAINT, {"inpaint_image_url": image_url, "mask_image_url": mask_url, "sync_mode": True,
                                  "inpaint_mode": "Improve Detail (face, hand, eyes, etc.)", "num_images": 2})
    assert f"/overture-{tag}.png" in file_server.requests and f"/overture-{tag}-mask.png" in file_server.requests
    assert len(result["images"]) == 2 and isinstance(result["seed"], int)
    for image in result["images"]:
        media_type, data = decode_data_uri(image["url"])
        assert media_type == image["content_type"] == "image/jpeg"
        assert data[:3] == b"\xff\xd8\xff" and len(data) == image["file_size"]
        assert (image["width"], image["height"]) == (overture["width"], overture["height"])


@pytest.mark.parametrize("app, arguments, field", [
    ("fal-ai/fooocus", {"prompt": "a cat"}, "prompt"),
    ("fal-ai/fooocus/upscale-or-vary", {"uov_image_url": "data:image/png;base64,AAAA"}, "uov_method"),
    ("fal-ai/fooocus/image-prompt", {"image_prompt_1": {"image_url": "data:image/png;base64,AAAA"}}, "image_prompt_1"),
])
def test_what_the_reference_engine_cannot_do_is_refused_at_submit(tls_server, fal, app, arguments, field):
    client = fal(tls_server)
    with pytest.raises(FalClientHTTPError) as err:
        client.submit(app, arguments)
    assert err.value.status_code == 422
    assert err.value.error_type == "capability_unavailable", err.value
    issues = field_issues({"detail": err.value.message}, field)
    assert issues and "reference engine" in issues[0]["msg"], err.value.message
