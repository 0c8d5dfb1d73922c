"""Fooocus-API's own `requests` usage (docs/fooocus.md §1: v1 multipart forms, v2 JSON with base64, async_process and
query-job polling, job-queue, job-history, stop, ping, styles, all-models) against a live `gantry serve`.

Inputs are 32×32 PNGs written with zlib; `advanced_params.inpaint_strength` 0.5 skips Fooocus's fill so debug
builds stay fast. Jobs that must stay RUNNING fetch their input from a socket that listens but never answers.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading

import pytest
import requests

from gantry_compat import ALICE, API_KEYS, BOB, REPO_ROOT, assert_envelope, field_issues, make_png, read_png, wait_for

IMAGE = make_png(32, 32)
MASK = make_png(32, 32, lambda x, y: (255, 255, 255) if 10 <= x < 20 and 10 <= y < 20 else (0, 0, 0))
FAST = json.dumps({"inpaint_strength": 0.5})
ALICE_H = {"X-API-KEY": ALICE}
BOB_H = {"X-API-KEY": BOB}
STYLES = [line.split("\t")[1] for line in (REPO_ROOT / "schemas/fooocus/styles.tsv").read_text().splitlines()
          if line and not line.startswith("#")]
USER_CANCEL = {"base64": None, "url": None, "seed": "", "finish_reason": "USER_CANCEL"}
QUEUE_IS_FULL = {"base64": None, "url": None, "seed": "", "finish_reason": "QUEUE_IS_FULL"}


@pytest.fixture(scope="module")
def server(module_pool):
    return module_pool.start("fooocus-api", api_keys=API_KEYS, allow_egress=["127.0.0.1/32"])


class Receiver:
    """A loopback webhook receiver recording every POST (headers and JSON body)."""

    def __init__(self):
        self.posts: list[tuple[dict, dict]] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posts.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inpaint_form(**fields) -> dict:
    return {"advanced_params": FAST, "image_seed": "7", **fields}


def query(server, job_id: str, headers=ALICE_H) -> requests.Response:
    return requests.get(server.url + "/v1/generation/query-job", params={"job_id": job_id}, headers=headers, timeout=30)


def wait_stage(server, job_id: str, stages: set[str], headers=ALICE_H, timeout_s: float = 60) -> dict:
    def reached():
        body = query(server, job_id, headers).json()
        return body if body["job_stage"] in stages else None
    return wait_for(reached, timeout_s, 0.05, f"job {job_id} to reach {stages}")


def test_ping_styles_all_models(server):
    assert requests.get(server.url + "/ping", timeout=10).json() == "pong"  # public, like /health
    styles = requests.get(server.url + "/v1/engines/styles", headers=ALICE_H, timeout=10).json()
    assert styles == STYLES and len(styles) == 279 and styles[:2] == ["Fooocus V2", "Random Style"]
    models = requests.get(server.url + "/v1/engines/all-models", headers=ALICE_H, timeout=10).json()
    assert set(models) == {"model_filenames", "lora_filenames"}
    assert "sd_xl_offset_example-lora_1.0.safetensors" in models["lora_filenames"]


def test_api_key_header(server):
    assert_envelope(requests.get(server.url + "/v1/engines/styles", timeout=10), 401, "unauthorized")
    assert_envelope(requests.get(server.url + "/v1/engines/styles", headers={"X-API-KEY": "alice:wrong"}, timeout=10), 401)
    assert requests.get(server.url + "/v1/engines/styles", headers={"Authorization": f"Key {ALICE}"}, timeout=10).status_code == 200


def test_v1_inpaint_with_mask(server):
    r = requests.post(server.url + "/v1/generation/image-inpaint-outpaint", headers=ALICE_H,
                      data=inpaint_form(prompt="a cat", require_base64="true"),
                      files={"input_image": ("image.png", IMAGE, "image/png"), "input_mask": ("mask.png", MASK, "image/png")},
                      timeout=120)
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert set(item) == {"base64", "url", "seed", "finish_reason"}
    assert item["seed"] == "7" and item["finish_reason"] == "SUCCESS"
    stored = requests.get(item["url"], timeout=10).content
    assert item["base64"] == "data:image/png;base64," + b64(stored)
    png = read_png(stored)
    assert (png["width"], png["height"]) == (32, 32)


def test_v1_outpaint_without_mask(server):
    """`outpaint_selections` comma-separated with spaces: trimmed and accepted (Fooocus-API would fail)."""
    r = requests.post(server.url + "/v1/generation/image-inpaint-outpaint", headers=ALICE_H,
                      data=inpaint_form(outpaint_selections="Left, Right", save_extension="jpg"),
                      files={"input_image": ("image.png", IMAGE, "image/png")}, timeout=120)
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["url"].endswith(".jpg")
    data = requests.get(item["url"], headers={"Accept": "image/png"}, timeout=10).content
    png = read_png(data)
    assert (png["width"], png["height"]) == (32 + 2 * 9, 32)  # int(0.3 · 32) = 9 on each side


def test_v2_base64_async_then_query_job(server):
    r = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=30, json={
        "input_image": b64(IMAGE), "input_mask": "data:image/png;base64," + b64(MASK), "image_number": 2, "image_seed": 40,
        "async_process": True, "require_base64": True, "advanced_params": {"inpaint_strength": 0.5}})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job == {"job_id": job["job_id"], "job_type": "Image Inpaint or Outpaint", "job_stage": "WAITING", "job_progress": 0,
                   "job_status": None, "job_step_preview": None, "job_result": None}
    done = wait_stage(server, job["job_id"], {"SUCCESS", "ERROR"})
    assert done["job_stage"] == "SUCCESS" and done["job_progress"] == 100 and done["job_status"] == "Finished", done
    assert [item["seed"] for item in done["job_result"]] == ["40", "41"]
    for item in done["job_result"]:
        assert item["base64"] == "data:image/png;base64," + b64(requests.get(item["url"], timeout=10).content)
    # Another tenant sees an unknown job.
    unknown = query(server, job["job_id"], BOB_H)
    assert unknown.status_code == 404
    assert unknown.json() == {"job_id": "", "job_type": "Not Found", "job_stage": "ERROR", "job_progress": 0,
                              "job_status": "Job not found", "job_step_preview": None, "job_result": None}


def test_v2_upscale(server):
    r = requests.post(server.url + "/v2/generation/image-upscale-vary", headers=ALICE_H, timeout=120, json={
        "input_image": b64(IMAGE), "uov_method": "Upscale (Custom)", "upscale_value": 1.5, "save_extension": "webp"})
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["finish_reason"] == "SUCCESS" and item["url"].endswith(".webp")
    assert requests.get(item["url"], timeout=10).content[8:12] == b"WEBP"


def test_one_request_both_surfaces(server):
    """Submitted as Fooocus-API, observed through fal's status and result routes; and the other way round."""
    r = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=30, json={
        "input_image": b64(IMAGE), "outpaint_selections": ["Top"], "async_process": True, "advanced_params": {"inpaint_strength": 0.5}})
    job_id = r.json()["job_id"]
    assert r.headers["x-fal-request-id"] == job_id
    fal = server.session(ALICE)

    def completed():
        status = fal.get(f"{server.queue_url}/fal-ai/fooocus/requests/{job_id}/status", timeout=10)
        return status.json() if status.json()["status"] == "COMPLETED" else None
    assert "error" not in wait_for(completed, 60, message="fal status COMPLETED")
    result = fal.get(f"{server.queue_url}/fal-ai/fooocus/requests/{job_id}", timeout=10).json()
    assert result["images"][0]["url"] == query(server, job_id).json()["job_result"][0]["url"]

    submitted = fal.post(f"{server.queue_url}/fal-ai/fooocus/inpaint", timeout=30, json={
        "inpaint_image_url": "data:image/png;base64," + b64(IMAGE), "mask_image_url": "data:image/png;base64," + b64(MASK),
        "inpaint_mode": "Improve Detail (face, hand, eyes, etc.)", "seed": 12}).json()
    done = wait_stage(server, submitted["request_id"], {"SUCCESS", "ERROR"})
    assert done["job_type"] == "Image Inpaint or Outpaint" and done["job_stage"] == "SUCCESS"
    assert done["job_result"][0]["seed"] == "12"


def test_job_queue_and_history(server):
    r = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=120,
                      json={"input_image": b64(IMAGE), "input_mask": b64(MASK), "advanced_params": {"inpaint_strength": 0.5}})
    job_id = r.headers["x-fal-request-id"]
    queue = requests.get(server.url + "/v1/generation/job-queue", headers=ALICE_H, timeout=10).json()
    assert set(queue) == {"running_size", "finished_size", "last_job_id"}
    assert queue["last_job_id"] == job_id and queue["finished_size"] >= 1 and queue["running_size"] >= 0
    history = requests.get(server.url + "/v1/generation/job-history", params={"job_id": job_id}, headers=ALICE_H, timeout=10).json()
    assert history["queue"] == []
    [entry] = history["history"]
    assert entry["job_id"] == job_id and entry["is_finished"] is True
    assert 0 < entry["in_queue_mills"] <= entry["start_mills"] <= entry["finish_mills"]
    # Bob's history does not hold Alice's jobs.
    assert requests.get(server.url + "/v1/generation/job-history", headers=BOB_H, timeout=10).json() == {"queue": [], "history": []}


@pytest.mark.parametrize("route,kwargs,field", [
    ("/v2/generation/image-inpaint-outpaint", {"json": {"input_image": b64(IMAGE), "outpaint_selections": ["Left"], "meta_scheme": "a111"}},
     "meta_scheme"),
    ("/v2/generation/image-inpaint-outpaint", {"json": {"input_image": b64(IMAGE), "outpaint_selections": ["Left"],
                                                        "inpaint_additional_prompt": None}}, "inpaint_additional_prompt"),
    ("/v1/generation/image-upscale-vary", {"data": {"uov_method": "Upscale (Custom)"},
                                           "files": {"input_image": ("i.png", IMAGE, "image/png")}}, "upscale_value"),
    ("/v1/generation/image-inpaint-outpaint", {"data": {"performance_selection": "Turbo"},
                                               "files": {"input_image": ("i.png", IMAGE, "image/png")}}, "performance_selection"),
    ("/v2/generation/image-inpaint-outpaint", {"json": {"input_image": b64(IMAGE), "outpaint_selections": ["Left"],
                                                        "style_selections": ["Fooocus V2", "No Such Style"]}}, "style_selections"),
    ("/v2/generation/image-inpaint-outpaint", {"json": {"input_image": "not an image", "outpaint_selections": ["Left"]}}, "input_image"),
    ("/v1/generation/image-inpaint-outpaint", {"data": {"advanced_params": "{broken"},
                                               "files": {"input_image": ("i.png", IMAGE, "image/png")}}, "advanced_params"),
    ("/v1/generation/image-inpaint-outpaint", {"data": {}, "files": {"input_image": ("i.png", IMAGE, "image/png")}}, "input_mask"),
])
def test_input_errors_name_the_field(server, route, kwargs, field):
    body = assert_envelope(requests.post(server.url + route, headers=ALICE_H, timeout=30, **kwargs), 422)
    assert field_issues(body, field), body


@pytest.mark.parametrize("route,kwargs,field", [
    ("/v1/generation/text-to-image", {"json": {"prompt": "a cat"}}, "prompt"),
    ("/v2/generation/text-to-image-with-ip", {"json": {"prompt": "a cat", "image_prompts": [{"cn_img": b64(IMAGE), "cn_type": "CPDS"}]}},
     "image_prompts"),
    ("/v1/generation/image-prompt", {"data": {"cn_type1": "PyraCanny"}, "files": {"cn_img1": ("c.png", IMAGE, "image/png")}}, "cn_img1"),
])
def test_diffusion_routes_are_clear_422s(server, route, kwargs, field):
    body = assert_envelope(requests.post(server.url + route, headers=ALICE_H, timeout=30, **kwargs), 422, "capability_unavailable")
    assert field_issues(body, field), body


def test_files_accept(server):
    r = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=120,
                      json={"input_image": b64(IMAGE), "input_mask": b64(MASK), "advanced_params": {"inpaint_strength": 0.5}})
    url = r.json()[0]["url"]
    stored = requests.get(url, timeout=10)
    missing = requests.get(url, headers={"Accept": None}, timeout=10)  # no Accept header at all (a 500 in Fooocus-API)
    assert missing.status_code == 200 and missing.content == stored.content and missing.headers["content-type"] == "image/png"
    jpg = requests.get(url, headers={"Accept": "image/jpg"}, timeout=10)
    assert jpg.status_code == 200 and jpg.headers["content-type"] == "image/jpeg" and jpg.content[:3] == b"\xff\xd8\xff"
    webp = requests.get(url, headers={"Accept": "image/webp"}, timeout=10)
    assert webp.headers["content-type"] == "image/webp" and webp.content[8:12] == b"WEBP"


def test_accept_image_png_streams(server):
    r = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", params={"accept": "image/png"}, headers=ALICE_H,
                      timeout=120, json={"input_image": b64(IMAGE), "input_mask": b64(MASK), "image_number": 2,
                                         "save_extension": "webp", "advanced_params": {"inpaint_strength": 0.5}})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert (read_png(r.content)["width"], read_png(r.content)["height"]) == (32, 32)


def test_stop(server, hanging):
    """Stop cancels the caller's running job and only that; with nothing running it does nothing."""
    assert requests.post(server.url + "/v1/generation/stop", headers=ALICE_H, timeout=10).json() == {"msg": "success"}
    after = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=120,
                          json={"input_image": b64(IMAGE), "input_mask": b64(MASK), "advanced_params": {"inpaint_strength": 0.5}})
    assert after.json()[0]["finish_reason"] == "SUCCESS"  # no stop flag carried over

    job_id = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", headers=ALICE_H, timeout=30, json={
        "input_image": hanging, "outpaint_selections": ["Left"], "async_process": True}).json()["job_id"]
    running = wait_stage(server, job_id, {"RUNNING"})
    assert running["job_type"] == "Image Inpaint or Outpaint" and 0 <= running["job_progress"] < 100
    assert requests.post(server.url + "/v1/generation/stop", headers=BOB_H, timeout=10).json() == {"msg": "success"}
    assert query(server, job_id).json()["job_stage"] == "RUNNING"
    assert requests.post(server.url + "/v1/generation/stop", headers=ALICE_H, timeout=10).json() == {"msg": "success"}
    stopped = wait_stage(server, job_id, {"SUCCESS", "ERROR"})
    assert stopped["job_stage"] == "ERROR" and stopped["job_result"] == [USER_CANCEL]
    status = server.session(ALICE).get(f"{server.queue_url}/fal-ai/fooocus/requests/{job_id}/status", timeout=10).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled"


def test_queue_is_full(gantry_pool, hanging):
    server = gantry_pool.start("fooocus-full", allow_egress=["127.0.0.1/32"], extra_args=["--fooocus-queue-size", "1"])
    job_id = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", timeout=30, json={
        "input_image": hanging, "outpaint_selections": ["Left"], "async_process": True}).json()["job_id"]
    wait_stage(server, job_id, {"RUNNING"}, headers={})
    body = {"input_image": b64(IMAGE), "input_mask": b64(MASK)}
    full = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", json={**body, "async_process": True}, timeout=30).json()
    assert full == {"job_id": "", "job_type": "Image Inpaint or Outpaint", "job_stage": "ERROR", "job_progress": 0,
                    "job_status": None, "job_step_preview": None, "job_result": [QUEUE_IS_FULL]}
    assert requests.post(server.url + "/v2/generation/image-inpaint-outpaint", json=body, timeout=30).json() == [QUEUE_IS_FULL]
    requests.post(server.url + "/v1/generation/stop", timeout=10)
    wait_stage(server, job_id, {"ERROR"}, headers={})


def test_webhooks_in_fooocus_shape(gantry_pool):
    receiver = Receiver()
    try:
        server = gantry_pool.start("fooocus-hooks", allow_egress=["127.0.0.1/32"], extra_args=["--fooocus-webhook-url", receiver.url])
        own = Receiver()
        try:
            request = {"input_image": b64(IMAGE), "input_mask": b64(MASK), "advanced_params": {"inpaint_strength": 0.5}}
            [item] = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", json={**request, "webhook_url": own.url},
                                   timeout=120).json()
            job_id = wait_for(lambda: own.posts, 30, message="the per-request webhook")[0][1]["job_id"]
            headers, payload = own.posts[0]
            assert payload == {"job_id": job_id, "job_result": [{"url": item["url"], "seed": item["seed"]}]}
            assert headers["x-fal-webhook-request-id"] == job_id and len(headers["x-fal-webhook-signature"]) == 128
        finally:
            own.close()
        global_job = requests.post(server.url + "/v2/generation/image-inpaint-outpaint", json={**request, "async_process": True},
                                   timeout=30).json()["job_id"]
        posted = wait_for(lambda: receiver.posts, 60, message="the --fooocus-webhook-url webhook")
        assert posted[0][1]["job_id"] == global_job and posted[0][1]["job_result"][0]["seed"]
    finally:
        receiver.close()
