"""Runner functions (runner protocol v1) served by the real Python SDK, `sdk/python`, against a live `gantry serve`.

One TLS host for the module, with API keys (tenants alice and bob) and runner tokens; one runner process
(`runners/basic.py`, `python -m gantry_runner serve`) serves `compat/*` for every test here. Clients are the pinned
official `fal_client` pointed at the host the way test_fal_client.py and test_storage.py do it. Functions that a test
watches from outside write marker files (see runners/basic.py). Tests that kill or restart runners or hosts are in
test_runners_lifecycle.py; the OpenCV example in test_runners_example.py.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid

import pytest
import requests
from fal_client import Completed, FalClientHTTPError, InProgress
from PIL import Image

from gantry_compat import bounded, messages, ALICE, API_KEYS, BOB, data_uri, decode_data_uri, field_issues, make_png, wait_for
from webhook_receiver import fetch_jwks, verify_webhook

RUNNER_TOKENS = "compat:compat-secret-1:compat/*|gantry-examples/*,narrow:narrow-secret-1:elsewhere/*"
COMPAT_TOKEN = "compat:compat-secret-1"
NARROW_TOKEN = "narrow:narrow-secret-1"


# -- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host(module_pool, tls_files):
    return module_pool.start("runners", tls=tls_files, api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS,
                             allow_egress=["127.0.0.1/32"], extra_args=["--webhook-initial-delay", "0.2"])


@pytest.fixture(scope="module")
def runner(host, module_runners):
    return module_runners.start(host, "basic.py", token=COMPAT_TOKEN, name="basic")


def http_error(excinfo) -> tuple[int, dict]:
    err = excinfo.value
    return err.status_code, err.response.json()


def wait_completed(handle, timeout_s: float = 30) -> Completed:
    def done():
        status = handle.status(with_logs=True)
        return status if isinstance(status, Completed) else None

    return wait_for(done, timeout_s, 0.05, f"request {handle.request_id} to complete")


# -- run, queue, subscribe, stream -----------------------------------------------------------------------------------
def test_run_sync_and_async_functions(host, runner, fal):
    client = fal(host)
    marker = uuid.uuid4().hex
    out = client.run("compat/echo", {"text": marker})
    assert set(out) == {"text", "attempt", "request_id"} and out["text"] == marker and out["attempt"] == 1, out
    uuid.UUID(out["request_id"])
    assert client.run("compat/async-echo", {"text": "abc"})["text"] == "ABC"


def test_submit_status_with_logs_and_result(host, runner, fal):
    client = fal(host)
    lines = ["runner line one", "runner line two", "runner line three"]
    marker = uuid.uuid4().hex
    handle = client.submit("compat/echo", {"text": marker, "logs": lines, "delay": 1.2, "progress_steps": 4})
    events = bounded(handle.iter_events(with_logs=True, interval=0.05), 30)
    running = [e for e in events if isinstance(e, InProgress)]
    assert any(set(messages(e.logs)) & set(lines) for e in running), \
        f"no IN_PROGRESS status carried the runner's logs: {running[-3:]}"
    final = events[-1]
    assert isinstance(final, Completed) and final.error is None and final.error_type is None, final
    assert [m for m in messages(final.logs) if m in lines] == lines
    for entry in final.logs:
        assert {"message", "level", "timestamp"} <= set(entry) and entry["level"] in {
            "STDOUT", "STDERR", "INFO", "WARN", "ERROR", "DEBUG"}, entry
    assert isinstance(final.metrics, dict) and final.metrics.get("inference_time", 0) > 1.0, final.metrics
    assert handle.get() == {"text": marker, "attempt": 1, "request_id": handle.request_id}


def test_subscribe(host, runner, fal):
    client = fal(host)
    updates, enqueued = [], []
    result = client.subscribe("compat/async-echo", {"text": "sub", "logs": ["async line"], "delay": 0.5},
                              with_logs=True, on_enqueue=enqueued.append, on_queue_update=updates.append,
                              interval=0.05, client_timeout=60)
    assert result["text"] == "SUB" and result["attempt"] == 1
    assert len(enqueued) == 1 and enqueued[0] == result["request_id"]
    assert isinstance(updates[-1], Completed)
    assert "async line" in messages(updates[-1].logs)
    assert [e for e in updates[-1].logs if e["message"] == "async line"][0]["level"] == "DEBUG"


@pytest.mark.parametrize("function", ["compat/steps", "compat/async-steps"])
def test_stream_partials_then_output(host, runner, fal, function):
    client = fal(host)
    events = []
    deadline = time.monotonic() + 30
    for event in client.stream(function, {"steps": 4, "delay": 0.05}, timeout=30):
        events.append(event)
        assert time.monotonic() < deadline, events
    partials = [{"step": i, "of": 4, "done": function == "compat/async-steps" and i == 3} for i in range(4)]
    if function == "compat/steps":  # a sync generator's return value is the output
        assert events == partials + [{"step": 4, "of": 4, "done": True}], events
    else:  # an async generator's last yield is the output
        assert events == partials + [partials[-1]], events


# -- files ----------------------------------------------------------------------------------------------------------
def turned(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGB").transpose(Image.Transpose.ROTATE_90).tobytes()


def test_sync_mode_returns_data_uris(host, runner, fal):
    client = fal(host)
    png = make_png(24, 16)
    out = client.run("compat/image", {"image_url": data_uri(png), "sync_mode": True})
    image = out["image"]
    media_type, data = decode_data_uri(image["url"])
    assert media_type == "image/png" and image["content_type"] == "image/png", image
    assert (image["width"], image["height"], image["file_size"]) == (16, 24, len(data)), image
    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == turned(png)
    assert out["source_sha256"] == hashlib.sha256(png).hexdigest()


@pytest.mark.parametrize("fmt,content_type", [("png", "image/png"), ("webp", "image/webp")])
def test_upload_image_record_serves_its_bytes(host, runner, fal, fmt, content_type):
    client = fal(host)
    png = make_png(24, 16)
    out = client.run("compat/image", {"image_url": data_uri(png), "format": fmt})
    image = out["image"]
    assert image["url"].startswith(f"{host.url}/files/"), image
    assert image["content_type"] == content_type and (image["width"], image["height"]) == (16, 24), image
    r = host.session().get(image["url"], timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith(content_type), r.headers
    assert len(r.content) == image["file_size"] and image["file_name"] == image["url"].rsplit("/", 1)[-1]
    served = Image.open(io.BytesIO(r.content))
    assert served.size == (16, 24)
    if fmt == "png":
        assert served.convert("RGB").tobytes() == turned(png)


def test_async_upload_of_a_plain_file(host, runner, fal):
    out = fal(host).run("compat/blob", {"text": "hello from a runner"})
    assert out["content_type"] == "text/plain" and out["file_size"] == 19 and out["url"].endswith(".txt"), out
    assert host.session().get(out["url"], timeout=10).content == b"hello from a runner"


def test_store_input_is_read_through_the_runner_api_under_the_tenant(host, runner, fal):
    """alice's upload is readable by alice's request; bob's request naming the same URL fails as not found, which
    a plain fetch of the (public) URL would not: the runner read it through the host, under the request's tenant."""
    png = make_png(20, 12)
    alice = fal(host, ALICE)
    url = alice.upload(png, "image/png", "input.png")
    assert url.startswith(f"{host.url}/files/"), url
    out = alice.run("compat/image", {"image_url": url})
    assert out["source_sha256"] == hashlib.sha256(png).hexdigest()
    assert (out["source_width"], out["source_height"]) == (20, 12)

    bob = fal(host, BOB)
    with pytest.raises(FalClientHTTPError) as excinfo:
        bob.run("compat/image", {"image_url": url})
    status, body = http_error(excinfo)
    assert status == 422, body
    issues = field_issues(body, "image_url")
    assert issues and issues[0]["loc"] == ["body", "image_url"] and issues[0]["type"] == "file_not_found", body


# -- failures, cancellation, timeouts ----------------------------------------------------------------------------------
def test_function_errors_and_schema_validation(host, runner, fal):
    client = fal(host)
    with pytest.raises(FalClientHTTPError) as excinfo:
        client.run("compat/echo", {"fail": "boom from the runner"})
    status, body = http_error(excinfo)
    assert status == 500 and body == {"detail": "boom from the runner", "error_type": "function_error"}, body

    with pytest.raises(FalClientHTTPError) as excinfo:
        client.run("compat/echo", {"reject": "reject must be empty"})
    status, body = http_error(excinfo)
    assert status == 422, body
    [issue] = field_issues(body, "reject")
    assert issue["loc"] == ["body", "reject"] and issue["msg"] == "reject must be empty", body

    # The host validates against the runner's pydantic schema before anything is queued.
    with pytest.raises(FalClientHTTPError) as excinfo:
        client.run("compat/echo", {"delay": 99, "logs": "not a list"})
    status, body = http_error(excinfo)
    assert status == 422 and field_issues(body, "delay") and field_issues(body, "logs"), body

    # A failed attempt's traceback is in its logs.
    handle = client.submit("compat/async-echo", {"fail": "async boom"})
    final = wait_completed(handle)
    assert final.error == "async boom" and final.error_type == "function_error", final
    assert any("ValueError: async boom" in m for m in messages(final.logs)), final.logs


@pytest.mark.parametrize("function", ["compat/slow", "compat/async-slow"])
def test_cancel_reaches_the_running_function_within_2s(host, runner, module_runners, fal, function):
    client = fal(host)
    handle = client.submit(function, {"seconds": 60})
    module_runners.wait_mark(f"started-{handle.request_id}-1", 20)
    asked = time.time()
    client.cancel(function, handle.request_id)
    seen = module_runners.wait_mark(f"cancelled-{handle.request_id}", 3)
    assert seen - asked < 2.0, f"the function saw the cancel {seen - asked:.3f} s after it was requested"
    final = wait_completed(handle, 10)
    assert final.error_type == "request_cancelled", final
    with pytest.raises(FalClientHTTPError) as excinfo:
        handle.get()
    assert excinfo.value.error_type == "request_cancelled"


def test_timeout_fails_with_request_timeout_and_flags_the_function(host, runner, module_runners, fal):
    client = fal(host)
    handle = client.submit("compat/timeout", {"seconds": 20})
    final = wait_completed(handle, 15)
    assert final.error_type == "request_timeout", final
    with pytest.raises(FalClientHTTPError) as excinfo:
        handle.get()
    assert excinfo.value.status_code == 504
    module_runners.wait_mark(f"stopped-{handle.request_id}", 5)  # ctx.cancelled became true in the sync function


# -- webhooks ---------------------------------------------------------------------------------------------------------
def test_webhooks_for_runner_results(host, runner, fal, webhook_receivers):
    client = fal(host)
    rx = webhook_receivers()
    marker = uuid.uuid4().hex
    ok = client.submit("compat/echo", {"text": marker}, webhook_url=rx.url("/ok"))
    bad = client.submit("compat/echo", {"fail": "hooked failure"}, webhook_url=rx.url("/bad"))
    deliveries = {d.path: d for d in rx.wait_for(2, 30)}
    jwks = fetch_jwks(host)
    for delivery in deliveries.values():
        verify_webhook(delivery.headers, delivery.body, jwks, now=delivery.received_at)
        assert delivery.headers["x-fal-webhook-user-id"] == "alice"

    body = deliveries["/ok"].json()
    assert body["request_id"] == ok.request_id and body["status"] == "OK" and body["error"] is None, body
    assert body["payload"] == {"text": marker, "attempt": 1, "request_id": ok.request_id}
    assert body["payload"] == ok.get()

    body = deliveries["/bad"].json()
    assert body["request_id"] == bad.request_id and body["status"] == "ERROR", body
    assert body["payload"] == {"detail": "hooked failure", "error_type": "function_error"}, body


# -- listings and auth -------------------------------------------------------------------------------------------------
def test_listing_shows_the_connected_runner(host, runner):
    entry = runner.listing()
    assert entry and entry["connected"] is True and entry["runner_id"] == "compat", entry
    assert {"compat/echo", "compat/steps", "compat/image"} <= set(entry["functions"]), entry
    assert str(entry.get("sdk", "")).startswith("python/"), entry
    # API keys may read the listing too.
    r = host.session(ALICE).get(host.url + "/runners/v1/runners", timeout=10)
    assert r.status_code == 200 and runner.instance in {e["instance"] for e in r.json()["runners"]}, r.text
    # The functions are documented with the runner's schemas.
    spec = host.session(ALICE).get(host.url + "/openapi.json", timeout=10).json()
    assert any("compat/echo" in path for path in spec.get("paths", {})), sorted(spec.get("paths", {}))[:20]


def runner_call(host, path: str, token: str | None, body: dict) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{host.url}/runners/v1/{path}", json=body, headers=headers, verify=host.verify, timeout=10)


def assert_error(response: requests.Response, status: int, error_type: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body.get("error_type") == error_type and "detail" in body, body
    return body


def test_runner_auth_401_and_403(host, runner, runners):
    declaration = {"id": "compat/auth-probe", "input_schema": {"type": "object"}, "output_schema": {"type": "object"}}
    register = {"instance": "auth-probe", "functions": [declaration]}
    assert_error(runner_call(host, "register", None, register), 401, "unauthorized")
    assert_error(runner_call(host, "register", "compat:wrong-secret", register), 401, "unauthorized")
    assert_error(runner_call(host, "register", ALICE, register), 401, "unauthorized")  # an API key is not a runner
    assert_error(runner_call(host, "claim", None, {"instance": "auth-probe", "functions": ["compat/echo"]}),
                 401, "unauthorized")
    assert_error(runner_call(host, "heartbeat", "nobody:nothing-at-all", {"instance": "auth-probe", "in_flight": []}),
                 401, "unauthorized")
    # The narrow token's globs do not cover compat/*.
    assert_error(runner_call(host, "register", NARROW_TOKEN, register), 403, "forbidden")
    assert_error(runner_call(host, "claim", NARROW_TOKEN, {"instance": "auth-probe", "functions": ["compat/echo"],
                                                          "max": 1, "wait_seconds": 0}), 403, "forbidden")

    # The SDK gives up at once (exit status 2) and says why.
    for token, expected in ((NARROW_TOKEN, "403"), ("compat:wrong-secret", "401")):
        refused = runners.start(host, "basic.py", token=token, name="refused", wait=False)
        deadline = time.monotonic() + 20
        while refused.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused.proc.poll() == 2, refused.log_tail()
        assert f"refused registration ({expected}" in refused.log_tail(), refused.log_tail()
