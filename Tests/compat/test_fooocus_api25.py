"""FooocusAPI 2.5's own `requests` usage (its docs/migration.md examples, docs/fooocus.md §2: `/v1/engine/generate/` in the
async, streaming, binary and synchronous modes, `/tasks`, `/tasks/{task_id}`, `/v1/engine/control`) against a live
`gantry serve`.

The doc examples are text-to-image ("Lightning", empty prompt), which needs a diffusion engine: run verbatim they
get a clear 422; the mode tests send the same requests with a 32×32 inpaint image (strength 0.5 skips Fooocus's fill,
so debug builds stay fast). Tasks that must stay running fetch their input from a socket that never answers.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from gantry_compat import ALICE, API_KEYS, BOB, assert_envelope, field_issues, make_png, read_png, wait_for

IMAGE = make_png(32, 32)
MASK = make_png(32, 32, lambda x, y: (255, 255, 255) if 10 <= x < 20 and 10 <= y < 20 else (0, 0, 0))
ALICE_H = {"X-API-KEY": ALICE}
BOB_H = {"X-API-KEY": BOB}
RECORD_KEYS = {"id", "task_id", "req_params", "in_queue_mills", "start_mills", "finish_mills", "task_status", "progress",
               "webhook_url", "result"}
# The doc examples' own parameters.
EXAMPLE = {"prompt": "", "negative_prompt": "", "performance_selection": "Lightning", "webhook_url": ""}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inpaint(**fields) -> dict:
    return {**EXAMPLE, "performance_selection": "Speed", "inpaint_input_image": b64(IMAGE),
            "inpaint_mask_image_upload": b64(MASK), "inpaint_strength": 0.5, "image_seed": 7, **fields}


@pytest.fixture(scope="module")
def server(module_pool):
    return module_pool.start("fooocusapi-25", api_keys=API_KEYS, allow_egress=["127.0.0.1/32"])


def generate(server, params: dict, headers=None, **kwargs) -> requests.Response:
    """POSTs as the docs do: `data=json.dumps(params)`, no content type."""
    return requests.post(server.url + "/v1/engine/generate/", data=json.dumps(params), headers={**ALICE_H, **(headers or {})},
                         timeout=120, **kwargs)


def task(server, task_id: str, headers=ALICE_H):
    return requests.get(f"{server.url}/tasks/{task_id}", headers=headers, timeout=30).json()


def wait_task(server, task_id: str, statuses: set[str], timeout_s: float = 60) -> dict:
    def reached():
        body = task(server, task_id)
        return body if isinstance(body, dict) and body.get("task_status") in statuses else None
    return wait_for(reached, timeout_s, 0.05, f"task {task_id} to reach {statuses}")


def test_doc_examples_verbatim_are_clear_422s(server):
    """Text-to-image needs a diffusion engine: every mode of the verbatim examples answers 422 naming `prompt`."""
    for extra, headers in [({"async_process": True}, {}), ({"stream_output": True}, {}), ({}, {"Accept": "image/png"}), ({}, {})]:
        body = assert_envelope(generate(server, {**EXAMPLE, **extra}, headers), 422, "capability_unavailable")
        assert field_issues(body, "prompt"), body


def test_async_then_tasks(server):
    r = generate(server, inpaint(async_process=True))
    assert r.status_code == 200, r.text
    placeholder = r.json()
    task_id = placeholder["task_id"]
    assert placeholder == {"id": -1, "task_id": task_id, "req_params": {}, "in_queue_mills": -1, "start_mills": -1,
                           "finish_mills": -1, "task_status": "pending", "progress": -1, "preview": "", "webhook_url": "",
                           "result": []}
    done = wait_task(server, task_id, {"finished", "failed"})
    assert set(done) == RECORD_KEYS and done["task_status"] == "finished" and done["progress"] == 100, done
    assert done["id"] >= 1 and done["req_params"]["inpaint_strength"] == 0.5
    assert done["req_params"]["inpaint_input_image"].startswith("<inline image")
    assert 0 < done["in_queue_mills"] <= done["start_mills"] <= done["finish_mills"]
    [url] = done["result"]
    assert read_png(requests.get(url, timeout=10).content)["width"] == 32

    tasks = requests.get(server.url + "/tasks", headers=ALICE_H, timeout=10).json()
    assert set(tasks) == {"history", "current", "pending"}
    assert task_id in [t["task_id"] for t in tasks["history"]]
    history = requests.get(server.url + "/tasks", params={"query": "history", "page": 0, "page_size": 1}, headers=ALICE_H,
                           timeout=10).json()
    assert len(history["history"]) == 1 and history["current"] == [] and history["pending"] == []
    windowed = requests.get(server.url + "/tasks", params={"query": "history", "start_at": "2000-01-01T00:00:00"},
                            headers=ALICE_H, timeout=10).json()
    assert task_id in [t["task_id"] for t in windowed["history"]]
    # Another tenant: unknown task, empty lists.
    assert task(server, task_id, BOB_H) == []
    assert requests.get(server.url + "/tasks", headers=BOB_H, timeout=10).json() == {"history": [], "current": [], "pending": []}


def test_sync_returns_the_finished_record(server):
    r = generate(server, inpaint(image_number=2, output_format="webp"))
    assert r.status_code == 200, r.text
    record = r.json()
    assert set(record) == RECORD_KEYS and record["task_status"] == "finished" and record["task_id"] == r.headers["x-fal-request-id"]
    assert len(record["result"]) == 2 and all(url.endswith(".webp") for url in record["result"])
    assert task(server, record["task_id"]) == record
    # Without the trailing slash too (FooocusAPI would redirect it).
    slashless = requests.post(server.url + "/v1/engine/generate", json=inpaint(), headers=ALICE_H, timeout=120)
    assert slashless.status_code == 200 and slashless.json()["task_status"] == "finished"


@pytest.mark.parametrize("accept,content_type,magic", [
    ("image/png", "image/png", b"\x89PNG"), ("image/jpeg", "image/jpeg", b"\xff\xd8\xff"), ("image/jpg", "image/jpeg", b"\xff\xd8\xff"),
    ("image/webp", "image/webp", b"RIFF"),
])
def test_binary_output(server, accept, content_type, magic):
    """`Accept: image/…` answers the image itself (one image), ahead of stream_output and async_process."""
    r = generate(server, inpaint(image_number=3, async_process=True, stream_output=True), {"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"] == content_type, r.text[:300]
    assert r.content.startswith(magic)
    result = server.session(ALICE).get(f"{server.queue_url}/fal-ai/fooocus/requests/{r.headers['x-fal-request-id']}", timeout=10)
    assert len(result.json()["images"]) == 1


def test_streaming_output(server):
    """The doc's streaming loop: `iter_lines`, `json.loads(line[6:])`, last event Finished with the image URLs."""
    r = generate(server, inpaint(stream_output=True), stream=True)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    events = []
    for line in r.iter_lines(chunk_size=8192):
        line = line.decode("utf-8").split("\n")[0]
        try:
            events.append(json.loads(line[6:]))
        except json.decoder.JSONDecodeError:
            continue
    assert events and all(set(e) == {"progress", "preview", "message", "images"} for e in events), events
    assert all(e["preview"] is None for e in events)
    last = events[-1]
    assert last["progress"] == 100 and last["message"] == "Finished" and len(last["images"]) == 1
    assert all(e["images"] == [] for e in events[:-1])
    assert [p["progress"] for p in events] == sorted(p["progress"] for p in events)
    assert task(server, r.headers["x-fal-request-id"])["result"] == last["images"]


def test_outpaint_distance_and_custom_upscale(server):
    """`outpaint_distance` [left, top, right, bottom] sets the canvas; `Upscale (Custom)` scales by upscale_multiple."""
    r = generate(server, {"inpaint_input_image": b64(IMAGE), "outpaint_selections": ["Left", "Top"],
                          "outpaint_distance": [64, 10, 0, 0], "inpaint_strength": 0.5}, {"Accept": "image/png"})
    assert r.status_code == 200, r.text
    png = read_png(r.content)
    assert (png["width"], png["height"]) == (32 + 64, 32 + 10)
    default = generate(server, {"inpaint_input_image": b64(IMAGE), "outpaint_selections": ["Left"], "inpaint_strength": 0.5},
                       {"Accept": "image/png"})
    assert read_png(default.content)["width"] == 32 + 9  # 0 = Fooocus's int(0.3 · 32)
    big = make_png(200, 200)
    up = generate(server, {"uov_input_image": b64(big), "uov_method": "Upscale (Custom)", "upscale_multiple": 5}, {"Accept": "image/png"})
    assert up.status_code == 200, up.text
    png = read_png(up.content)
    assert (png["width"], png["height"]) == (1000, 1000)


def test_one_request_both_surfaces(server):
    """A 2.5 task is the fal request of its function (status, result); a fal submit is a 2.5 task (and a Fooocus-API job)."""
    task_id = generate(server, inpaint(async_process=True)).json()["task_id"]
    fal = server.session(ALICE)

    def completed():
        status = fal.get(f"{server.queue_url}/fal-ai/fooocus/inpaint/requests/{task_id}/status", timeout=10).json()
        return status if status["status"] == "COMPLETED" else None
    assert "error" not in wait_for(completed, 60, message="fal status COMPLETED")
    result = fal.get(f"{server.queue_url}/fal-ai/fooocus/requests/{task_id}", timeout=10).json()
    assert [image["url"] for image in result["images"]] == task(server, task_id)["result"]
    job = requests.get(server.url + "/v1/generation/query-job", params={"job_id": task_id}, headers=ALICE_H, timeout=10).json()
    assert job["job_stage"] == "SUCCESS" and job["job_type"] == "Image Inpaint or Outpaint"

    submitted = fal.post(f"{server.queue_url}/fal-ai/fooocus/inpaint", timeout=30, json={
        "inpaint_image_url": "data:image/png;base64," + b64(IMAGE), "outpaint_selections": ["Bottom"],
        "outpaint_distance_bottom": 16, "output_format": "png", "inpaint_mode": "Improve Detail (face, hand, eyes, etc.)"}).json()
    record = wait_task(server, submitted["request_id"], {"finished", "failed"})
    assert record["task_status"] == "finished" and record["id"] == -1 and record["req_params"] == {}
    assert read_png(requests.get(record["result"][0], timeout=10).content)["height"] == 32 + 16


def test_control_stop_and_skip(server, hanging):
    """stop/skip end the caller's running task only; with nothing running nothing happens."""
    control = lambda action, headers=ALICE_H: requests.post(server.url + "/v1/engine/control", params={"action": action},  # noqa: E731
                                                             headers=headers, timeout=10).json()
    assert control("stop") == {"message": "No task running"}
    assert control("jump") == {"message": "Invalid control action"}
    after = generate(server, inpaint())
    assert after.json()["task_status"] == "finished"  # nothing carried over

    for action, status in [("stop", "stop"), ("skip", "skip")]:
        task_id = generate(server, {"inpaint_input_image": hanging, "outpaint_selections": ["Left"], "async_process": True}).json()["task_id"]
        running = wait_task(server, task_id, {"running"})
        assert "preview" in running and running["progress"] < 100
        current = requests.get(server.url + "/tasks", params={"query": "current"}, headers=ALICE_H, timeout=10).json()["current"]
        assert [t["task_id"] for t in current] == [task_id]
        assert control(action, BOB_H) == {"message": "No task running"}
        assert task(server, task_id)["task_status"] == "running"
        assert control(action) == {"message": f"task {action}ed"}  # FooocusAPI's spelling: "task stoped"
        stopped = wait_task(server, task_id, {"stop", "skip", "finished", "failed"})
        assert stopped["task_status"] == status and stopped["result"] == [], stopped
    status = server.session(ALICE).get(f"{server.queue_url}/fal-ai/fooocus/requests/{task_id}/status", timeout=10).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled"


def test_webhook(server, webhook_receivers):
    """The per-request webhook goes through the signed outbox, in Fooocus-API's `{job_id, job_result}` shape."""
    receiver = webhook_receivers()
    record = generate(server, inpaint(webhook_url=receiver.url())).json()
    [delivery] = receiver.wait_for(1, 30)
    assert delivery.json() == {"job_id": record["task_id"], "job_result": [{"url": record["result"][0], "seed": "7"}]}
    assert delivery.request_id == record["task_id"] and len(delivery.headers["x-fal-webhook-signature"]) == 128
    assert record["webhook_url"] == receiver.url()


def test_api_key(server):
    assert_envelope(requests.get(server.url + "/tasks", timeout=10), 401, "unauthorized")
    assert requests.get(server.url + "/tasks", headers={"Authorization": f"Key {ALICE}"}, timeout=10).status_code == 200


@pytest.mark.parametrize("params,field", [
    (inpaint(metadata_scheme="a111"), "metadata_scheme"),
    (inpaint(inpaint_additional_prompt=None), "inpaint_additional_prompt"),
    (inpaint(outpaint_selections=["Left"], outpaint_distance=[1, 2, 3]), "outpaint_distance"),
    (inpaint(outpaint_selections=["Left"], outpaint_distance=[5000, 0, 0, 0]), "outpaint_distance"),
    (inpaint(outpaint_selections="Left, Right", performance_selection="Turbo"), "performance_selection"),
    (inpaint(upscale_multiple=6), "upscale_multiple"),
    ({"uov_input_image": b64(IMAGE)}, "uov_method"),  # Disabled: nothing to do
    (inpaint(preset="anime"), "preset"),
    (inpaint(enhance_checkbox=True), "enhance_checkbox"),
    (inpaint(style_selections=["Fooocus V2", "No Such Style"]), "style_selections"),
    (inpaint(inpaint_input_image="not an image"), "inpaint_input_image"),
    (inpaint(inpaint_mask_image_upload=b64(make_png(16, 16))), "inpaint_mask_image_upload"),  # size mismatch, found at run time
    ({"inpaint_input_image": b64(IMAGE)}, "inpaint_mask_image_upload"),  # nothing to inpaint
    (inpaint(controlnet_image=[{"cn_img": b64(IMAGE), "cn_type": "PyraCanny"}]), "controlnet_image"),
])
def test_input_errors_name_the_field(server, params, field):
    body = assert_envelope(generate(server, params), 422)
    assert field_issues(body, field), body
