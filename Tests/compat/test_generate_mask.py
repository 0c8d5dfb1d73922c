"""FooocusAPI's `/v1/tools/generate_mask` (docs/fooocus.md §2.5) and Fooocus-API's `/v1/tools/describe-image` (§1.2) with
`requests` against a live `gantry serve`.

generate_mask answers as the reference does, a JSON string holding the base64 of a PNG (no `data:` prefix); for
isnet-general-use the mask is GrabCut from a centred box (`x-gantry-mask-method: grabcut-centred-box`), every other
model is refused with 422 `capability_unavailable` naming `mask_model`. describe-image checks its input, then refuses:
no captioning model here.
"""

from __future__ import annotations

import base64
import io
import math

import pytest
import requests
from PIL import Image

from gantry_compat import ALICE, API_KEYS, REPO_ROOT, assert_envelope, field_issues

HEADERS = {"X-API-KEY": ALICE}
PHOTO = REPO_ROOT / "Tests/reference/fixtures/overture-creations-5sI6fQgYIuo.png"


@pytest.fixture(scope="module")
def server(module_pool):
    return module_pool.start("generate-mask", api_keys=API_KEYS)


def disc_png(width=64, height=48, radius=15):
    """A red disc on a noisy blue background, and which pixels are the disc."""
    image = Image.new("RGB", (width, height))
    truth = []
    state = 7
    for y in range(height):
        for x in range(width):
            inside = math.hypot(x + 0.5 - width / 2, y + 0.5 - height / 2) < radius
            truth.append(inside)
            base = (200, 40, 40) if inside else (40, 60, 190)
            noise = []
            for _ in range(3):
                state = (state * 1103515245 + 12345) % 2**31
                noise.append(state % 33 - 16)
            image.putpixel((x, y), tuple(max(0, min(255, b + n)) for b, n in zip(base, noise)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue(), truth


def decode_mask(response):
    assert response.status_code == 200, response.text[:500]
    text = response.json()
    assert isinstance(text, str) and not text.startswith("data:")
    mask = Image.open(io.BytesIO(base64.b64decode(text)))
    assert mask.format == "PNG" and mask.mode == "L"
    return mask


def test_generate_mask_example(server):
    """The §2.5 request as a FooocusAPI script sends it: a base64 photo, the default model spelled out."""
    photo = PHOTO.read_bytes()
    params = {"image": base64.b64encode(photo).decode(), "mask_model": "isnet-general-use"}
    response = requests.post(server.url + "/v1/tools/generate_mask", json=params, headers=HEADERS, timeout=120)
    mask = decode_mask(response)
    assert response.headers["x-gantry-mask-method"] == "grabcut-centred-box"
    assert mask.size == Image.open(PHOTO).size
    values = mask.getdata()
    assert set(values) <= {0, 255}
    share = sum(1 for v in values if v) / len(values)
    assert 0.05 < share < 0.9, share  # something in the middle, not the whole frame
    # The 5 % margin of the box is background by construction.
    assert mask.getpixel((5, 5)) == 0 and mask.getpixel((mask.width - 6, mask.height - 6)) == 0


def test_generate_mask_finds_a_disc(server):
    png, truth = disc_png()
    response = requests.post(server.url + "/v1/tools/generate_mask", json={"image": "data:image/png;base64," + base64.b64encode(png).decode()},
                             headers=HEADERS, timeout=60)
    mask = decode_mask(response)
    found = [v == 255 for v in mask.getdata()]
    both = sum(1 for f, t in zip(found, truth) if f and t)
    either = sum(1 for f, t in zip(found, truth) if f or t)
    assert both / either >= 0.9, both / either


@pytest.mark.parametrize("model", ["u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta", "isnet-anime", "sam"])
def test_generate_mask_refuses_neural_models(server, model):
    png, _ = disc_png()
    response = requests.post(server.url + "/v1/tools/generate_mask", json={"image": base64.b64encode(png).decode(), "mask_model": model},
                             headers=HEADERS, timeout=30)
    body = assert_envelope(response, 422, "capability_unavailable")
    [issue] = field_issues(body, "mask_model")
    assert issue["loc"] == ["body", "mask_model"] and issue["type"] == "capability_unavailable"
    assert f"'{model}'" in issue["msg"] and "reference engine" in issue["msg"]


@pytest.mark.parametrize("params, field", [
    ({}, "image"),
    ({"image": "not base64 at all!"}, "image"),
    ({"image": base64.b64encode(b"plain text").decode()}, "image"),
    ({"mask_model": "u3net"}, "mask_model"),
    ({"box_threshold": 1.5}, "box_threshold"),
    ({"sam_max_detections": 11}, "sam_max_detections"),
    ({"dino_erode_or_dilate": 65}, "dino_erode_or_dilate"),
    ({"mask_model": "sam", "sam_model": "vit_q"}, "sam_model"),
])
def test_generate_mask_bad_input(server, params, field):
    png, _ = disc_png()
    body = {"image": base64.b64encode(png).decode(), **params} if field != "image" else params
    response = requests.post(server.url + "/v1/tools/generate_mask", json=body, headers=HEADERS, timeout=30)
    body = assert_envelope(response, 422)
    assert [issue["loc"] for issue in field_issues(body, field)] == [["body", field]], body


def test_describe_image_refused(server):
    """Fooocus-API's describe-image: a multipart file and ?image_type; no captioning model here."""
    png, _ = disc_png()
    for image_type, model in [("Photo", "BLIP"), ("Anime", "WD14")]:
        response = requests.post(server.url + "/v1/tools/describe-image", params={"image_type": image_type},
                                 files={"image": ("photo.png", png, "image/png")}, headers=HEADERS, timeout=30)
        body = assert_envelope(response, 422, "capability_unavailable")
        [issue] = field_issues(body, "image")
        assert issue["type"] == "capability_unavailable"
        assert "reference engine" in issue["msg"] and "'image-captioning'" in issue["msg"] and model in issue["msg"], issue
    # Checked before the refusal: no image, an unknown type.
    missing = requests.post(server.url + "/v1/tools/describe-image", files={"other": ("x.txt", b"x", "text/plain")},
                            headers=HEADERS, timeout=30)
    assert field_issues(assert_envelope(missing, 422), "image")[0]["type"] == "missing"
    cartoon = requests.post(server.url + "/v1/tools/describe-image", params={"image_type": "Cartoon"},
                            files={"image": ("photo.png", png, "image/png")}, headers=HEADERS, timeout=30)
    assert field_issues(assert_envelope(cartoon, 422), "image_type")[0]["loc"] == ["query", "image_type"]
    # The tools need the key like every other Fooocus-API route.
    assert_envelope(requests.post(server.url + "/v1/tools/describe-image", timeout=30), 401, "unauthorized")
