"""The unmodified official `fal_client` 1.0.3 against a live `gantry serve` over TLS.

The client is pointed at the server the two documented ways: module constants patched after import (most tests:
`fal_client.client.RUN_URL_FORMAT` / `QUEUE_URL_FORMAT`, a fresh `SyncClient(key=…)`, SSL_CERT_FILE set before its
httpx client exists), and FAL_RUN_HOST / FAL_QUEUE_RUN_HOST / FAL_KEY / SSL_CERT_FILE set before import in a
subprocess (one test). Nothing in the client is changed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime
from importlib.metadata import version

import pytest
import requests
from fal_client import Completed, FalClientHTTPError, InProgress, Queued

from gantry_compat import (ALICE, bounded, messages, API_KEYS, BOB, assert_same_pixels, data_uri, decode_data_uri, field_issues,
                           functions_copy, make_png, read_png, wait_for)

ECHO = "gantry/echo"
CONVERT = "gantry/image/convert"
LOG_LEVELS = {"STDERR", "STDOUT", "ERROR", "INFO", "WARN", "DEBUG"}


def test_client_is_the_pinned_release():
    assert version("fal_client") == "1.0.3"


@pytest.fixture(scope="module")
def tls_server(module_pool, tls_files):
    return module_pool.start("tls", tls=tls_files, api_keys=API_KEYS, allow_egress=["127.0.0.1/32"])


@pytest.fixture(scope="module")
def single_slot_server(module_pool, tls_files, tmp_path_factory):
    """gantry/echo with concurrency 1, so a long request in front keeps the next ones queued."""
    functions = functions_copy(tmp_path_factory.mktemp("fn-c1") / "functions", {ECHO: {"concurrency": 1}})
    return module_pool.start("tls-single-slot", tls=tls_files, api_keys=API_KEYS, functions_dir=functions)


def echoed(arguments: dict) -> dict:
    """What gantry/echo returns: its input with the schema defaults applied."""
    return {"sync_mode": False, **arguments}


def check_log_entries(logs) -> None:
    assert isinstance(logs, list)
    for entry in logs:
        assert set(entry) >= {"message", "level", "source", "timestamp"}, entry
        assert entry["level"] in LOG_LEVELS, entry
        datetime.fromisoformat(entry["timestamp"])


# -- run / submit / status / iter_events / get / subscribe -------------------------------------------------------
def test_run_returns_the_input(tls_server, fal):
    client = fal(tls_server)
    arguments = {"hello": "world", "n": [1, 2.5, None, True], "nested": {"ü": "ß"}, "marker": uuid.uuid4().hex}
    assert client.run(ECHO, arguments) == echoed(arguments)


def test_submit_status_iter_events_get(tls_server, fal):
    client = fal(tls_server)
    lines = ["first line", "second line", "third line"]
    arguments = {"logs": lines, "delay_ms": 900, "marker": uuid.uuid4().hex}
    handle = client.submit(ECHO, arguments)
    assert handle.request_id
    assert handle.status_url.startswith(f"https://127.0.0.1:{tls_server.port}/queue/gantry/echo/requests/")

    first = handle.status(with_logs=True)
    assert isinstance(first, (Queued, InProgress)), first
    if isinstance(first, Queued):
        assert first.position >= 0
    else:
        check_log_entries(first.logs)

    events = bounded(handle.iter_events(with_logs=True, interval=0.05), 30)
    running = [e for e in events if isinstance(e, InProgress)]
    assert running, events
    for event in running:
        check_log_entries(event.logs)
    assert any(set(messages(e.logs)) & set(lines) for e in running), "no IN_PROGRESS status carried the echo's logs"

    final = events[-1]
    assert isinstance(final, Completed)
    assert final.error is None and final.error_type is None
    check_log_entries(final.logs)
    assert [m for m in messages(final.logs) if m in lines] == lines
    assert isinstance(final.metrics, dict) and final.metrics.get("inference_time", 0) > 0, final.metrics

    assert handle.get() == echoed(arguments)
    # Without logs, COMPLETED still carries the key (null or a list).
    plain = handle.status(with_logs=False)
    assert isinstance(plain, Completed) and (plain.logs is None or isinstance(plain.logs, list))


def test_subscribe_with_logs_and_queue_updates(tls_server, fal):
    client = fal(tls_server)
    lines = ["sub-a", "sub-b", "sub-c"]
    arguments = {"logs": lines, "delay_ms": 1200, "marker": uuid.uuid4().hex}
    updates, enqueued = [], []
    result = client.subscribe(ECHO, arguments, with_logs=True, on_enqueue=enqueued.append,
                              on_queue_update=updates.append, interval=0.05, client_timeout=60)
    assert result == echoed(arguments)
    assert len(enqueued) == 1 and enqueued[0]
    assert isinstance(updates[-1], Completed)
    running = [u for u in updates if isinstance(u, InProgress)]
    assert any(set(messages(u.logs)) & set(lines) for u in running), updates


def test_status_and_result_by_request_id_drop_the_endpoint_path(tls_server, fal):
    client = fal(tls_server)
    handle = client.submit(CONVERT, {"image_url": data_uri(make_png(9, 7))})
    # from_request_id keeps owner/alias only: …/gantry/image/requests/{id}
    rebuilt = client.get_handle(CONVERT, handle.request_id)
    assert rebuilt.status_url == f"https://127.0.0.1:{tls_server.port}/queue/gantry/image/requests/{handle.request_id}/status"

    result = client.result(CONVERT, handle.request_id)
    assert (result["image"]["width"], result["image"]["height"]) == (9, 7)
    status = client.status(CONVERT, handle.request_id, with_logs=True)
    assert isinstance(status, Completed) and status.error is None
    check_log_entries(status.logs)
    assert result == handle.get()

    # The same id under another app is not found.
    with pytest.raises(FalClientHTTPError) as err:
        client.status(ECHO, handle.request_id)
    assert err.value.status_code == 404

    echo = client.submit(ECHO, {"k": 1})
    assert client.result(ECHO, echo.request_id) == echoed({"k": 1})
    assert isinstance(client.status(ECHO, echo.request_id), Completed)


def test_env_configured_client_in_a_subprocess(tls_server, tls_files):
    """The documented recipe: FAL_RUN_HOST / FAL_QUEUE_RUN_HOST / FAL_KEY / SSL_CERT_FILE set before import."""
    script = (
        "import json, fal_client\n"
        "out = {'run': fal_client.run('gantry/echo', {'via': 'run'})}\n"
        "h = fal_client.submit('gantry/echo', {'via': 'queue'})\n"
        "out['get'] = h.get()\n"
        "out['status'] = type(fal_client.status('gantry/echo', h.request_id, with_logs=True)).__name__\n"
        "out['result'] = fal_client.result('gantry/echo', h.request_id)\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(FAL_RUN_HOST=f"127.0.0.1:{tls_server.port}", FAL_QUEUE_RUN_HOST=f"127.0.0.1:{tls_server.port}/queue",
               FAL_KEY=ALICE, SSL_CERT_FILE=str(tls_files.cert), NO_PROXY="127.0.0.1,localhost")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"run": echoed({"via": "run"}), "get": echoed({"via": "queue"}), "status": "Completed",
                   "result": echoed({"via": "queue"})}


# -- cancel ---------------------------------------------------------------------------------------------------------
def db_row(server, request_id: str):
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT state, started_at, attempt FROM requests WHERE id = ?", (request_id,)).fetchone()


def test_cancel_queued_and_running_then_cancel_finished(single_slot_server, fal):
    client = fal(single_slot_server)
    blocker = client.submit(ECHO, {"delay_ms": 60_000, "role": "blocker"})
    wait_for(lambda: isinstance(blocker.status(), InProgress), 20, message="the blocker to start")
    queued = client.submit(ECHO, {"role": "queued"})
    behind = client.submit(ECHO, {"role": "behind"})

    assert client.status(ECHO, queued.request_id) == Queued(position=0)
    assert client.status(ECHO, behind.request_id) == Queued(position=1)

    # Cancel the queued one: 202, then COMPLETED with request_cancelled; result raises.
    assert client.cancel(ECHO, queued.request_id) is None
    status = queued.status(with_logs=True)
    assert isinstance(status, Completed), status
    assert status.error_type == "request_cancelled" and status.error, status
    with pytest.raises(FalClientHTTPError) as err:
        client.result(ECHO, queued.request_id)
    assert 400 <= err.value.status_code < 500 and err.value.error_type == "request_cancelled", err.value
    state, started_at, _attempt = db_row(single_slot_server, queued.request_id)
    assert (state, started_at) == ("cancelled", None), "a cancelled queued request must never start"
    assert client.status(ECHO, behind.request_id) == Queued(position=0)

    # Cancel the running blocker: cooperative, it ends COMPLETED/request_cancelled and frees the slot.
    blocker.cancel()
    final = wait_for(lambda: (lambda s: s if isinstance(s, Completed) else None)(blocker.status()), 20,
                     message="the running request to stop")
    assert final.error_type == "request_cancelled", final
    assert behind.get() == echoed({"role": "behind"})

    # Cancelling a finished request: 400 ALREADY_COMPLETED → FalClientHTTPError.
    for cancel in (behind.cancel, lambda: client.cancel(ECHO, behind.request_id), queued.cancel):
        with pytest.raises(FalClientHTTPError) as err:
            cancel()
        assert err.value.status_code == 400
        assert "ALREADY_COMPLETED" in str(err.value)


# -- images: sync_mode data URIs and stored files ------------------------------------------------------------------
FORMATS = {"png": ("image/png", b"\x89PNG\r\n\x1a\n"), "jpeg": ("image/jpeg", b"\xff\xd8\xff"), "webp": ("image/webp", b"RIFF")}


def stored_files(server) -> int:
    root = server.data_dir / "files"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_sync_mode_returns_a_data_uri(tls_server, fal, output_format):
    client = fal(tls_server)
    width, height = 23, 17
    before = stored_files(tls_server)
    out = client.run(CONVERT, {"image_url": data_uri(make_png(width, height)), "sync_mode": True,
                               "output_format": output_format})
    image = out["image"]
    content_type, magic = FORMATS[output_format]
    assert image["url"].startswith(f"data:{content_type};base64,"), image["url"][:60]
    media, data = decode_data_uri(image["url"])
    assert media == content_type == image["content_type"]
    assert image["file_size"] == len(data)
    assert data.startswith(magic)
    assert (image["width"], image["height"]) == (width, height)
    assert image["file_name"]
    if output_format == "png":
        assert_same_pixels(read_png(data), width, height)
    if output_format == "webp":
        assert data[8:12] == b"WEBP"
    assert stored_files(tls_server) == before, "sync_mode must not store the output"


@pytest.mark.parametrize("surface", ["run", "queue"])
def test_stored_output_url_is_fetchable(tls_server, fal, file_server, surface):
    client = fal(tls_server)
    width, height = 31, 12
    png = make_png(width, height)
    if surface == "run":
        path = f"/input-{uuid.uuid4().hex}.png"
        source = file_server.add(path, png, "image/png")
        out = client.run(CONVERT, {"image_url": source})
        assert path in file_server.requests, "the input was not fetched from the loopback file server"
    else:
        out = client.subscribe(CONVERT, {"image_url": data_uri(png), "output_format": "png"}, client_timeout=60)
    image = out["image"]
    assert image["url"].startswith(f"https://127.0.0.1:{tls_server.port}/"), image["url"]
    r = requests.get(image["url"], verify=str(tls_server.tls.cert), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png" == image["content_type"]
    assert int(r.headers["Content-Length"]) == len(r.content) == image["file_size"]
    etag = r.headers.get("ETag")
    assert etag, r.headers
    assert_same_pixels(read_png(r.content), width, height)
    again = requests.get(image["url"], verify=str(tls_server.tls.cert), headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304 and not again.content


# -- errors ----------------------------------------------------------------------------------------------------------
def test_validation_error_is_a_422_with_a_detail_list(tls_server, fal):
    client = fal(tls_server)
    with pytest.raises(FalClientHTTPError) as err:
        client.run(CONVERT, {"image_url": data_uri(make_png(2, 2)), "quality": 500})
    assert err.value.status_code == 422
    assert isinstance(err.value.message, list), err.value.message
    assert field_issues({"detail": err.value.message}, "quality"), err.value.message
    assert err.value.error_type


def test_validation_error_on_submit(tls_server, fal):
    """Gantry validates at submit (fal validates in the runner and reports 422 from the result); either way the
    client raises FalClientHTTPError 422 naming the field."""
    client = fal(tls_server)
    with pytest.raises(FalClientHTTPError) as err:
        client.subscribe(CONVERT, {"image_url": data_uri(make_png(2, 2)), "quality": "high"}, client_timeout=30)
    assert err.value.status_code == 422
    assert field_issues({"detail": err.value.message}, "quality"), err.value.message


@pytest.mark.parametrize("key", ["alice:wrong", "mallory:secret1", "alice", "alice:secret1x"])
def test_wrong_key_is_401(tls_server, fal, key):
    client = fal(tls_server, key=key)
    with pytest.raises(FalClientHTTPError) as err:
        client.run(ECHO, {"x": 1})
    assert err.value.status_code == 401
    assert err.value.response_headers.get("www-authenticate", "").startswith("Key"), err.value.response_headers
    with pytest.raises(FalClientHTTPError) as err:
        client.submit(ECHO, {"x": 1})
    assert err.value.status_code == 401


def test_tenant_isolation(tls_server, fal):
    alice, bob = fal(tls_server, ALICE), fal(tls_server, BOB)
    handle = alice.submit(ECHO, {"owner": "alice", "delay_ms": 300})
    for call in (lambda: bob.status(ECHO, handle.request_id, with_logs=True),
                 lambda: bob.result(ECHO, handle.request_id),
                 lambda: bob.cancel(ECHO, handle.request_id)):
        with pytest.raises(FalClientHTTPError) as err:
            call()
        assert err.value.status_code == 404

    # Byte-for-byte the same answer as for an id that does not exist.
    unknown = str(uuid.uuid4())
    bob_http = tls_server.session(BOB)
    base = f"{tls_server.queue_url}/gantry/echo/requests"
    for method, suffix in (("GET", "/status"), ("GET", "/status?logs=1"), ("GET", ""), ("PUT", "/cancel"),
                           ("GET", "/status/stream")):
        theirs = bob_http.request(method, f"{base}/{handle.request_id}{suffix}", timeout=10)
        missing = bob_http.request(method, f"{base}/{unknown}{suffix}", timeout=10)
        assert theirs.status_code == missing.status_code == 404, (method, suffix, theirs.text, missing.text)
        assert theirs.content == missing.content, (method, suffix, theirs.text, missing.text)
        assert theirs.headers.get("content-type") == missing.headers.get("content-type")

    # Bob's attempts changed nothing.
    assert handle.get() == echoed({"owner": "alice", "delay_ms": 300})
    assert isinstance(alice.status(ECHO, handle.request_id), Completed)


def test_function_failure_completes_with_error(tls_server, fal):
    client = fal(tls_server)
    with pytest.raises(FalClientHTTPError) as err:
        client.run(ECHO, {"fail_with": "boom"})
    assert (err.value.status_code, err.value.message, err.value.error_type) == (500, "boom", "function_error")

    handle = client.submit(ECHO, {"fail_with": "queued boom"})
    with pytest.raises(FalClientHTTPError) as err:
        handle.get()
    assert (err.value.status_code, err.value.message, err.value.error_type) == (500, "queued boom", "function_error")
    status = handle.status()
    assert isinstance(status, Completed)
    assert (status.error, status.error_type) == ("queued boom", "function_error")


# -- status over plain HTTP: codes and the SSE stream -------------------------------------------------------------------
def test_status_codes_and_request_id_header(tls_server):
    http = tls_server.session(ALICE)
    r = http.post(f"{tls_server.queue_url}/gantry/echo", json={"delay_ms": 800}, timeout=10)
    assert r.status_code == 200 and r.headers.get("x-fal-request-id") == r.json()["request_id"]
    submitted = r.json()
    assert {"request_id", "response_url", "status_url", "cancel_url"} <= set(submitted)
    s = http.get(submitted["status_url"], params={"logs": "1"}, timeout=10)
    assert s.status_code == 202 and s.json()["status"] in ("IN_QUEUE", "IN_PROGRESS"), s.text
    assert s.headers.get("x-fal-request-id") == submitted["request_id"]

    def completed():
        resp = http.get(submitted["status_url"], params={"logs": "0"}, timeout=10)
        return resp if resp.json()["status"] == "COMPLETED" else None

    done = wait_for(completed, 20, 0.1, "COMPLETED")
    assert done.status_code == 200
    assert "logs" in done.json() and "metrics" in done.json()
    for flag in ("true", "false", "1", "0"):
        assert http.get(submitted["status_url"], params={"logs": flag}, timeout=10).status_code == 200


def test_status_stream_sse(tls_server):
    http = tls_server.session(ALICE)
    lines = ["sse-1", "sse-2", "sse-3"]
    submitted = http.post(f"{tls_server.queue_url}/gantry/echo", json={"delay_ms": 1500, "logs": lines},
                          timeout=10).json()
    started = time.monotonic()
    events, raw_lines = [], []
    with http.get(submitted["status_url"] + "/stream", params={"logs": "1"}, stream=True,
                  headers={"Accept": "text/event-stream"}, timeout=(5, 20)) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/event-stream")
        data: list[str] = []
        for line in r.iter_lines(decode_unicode=True):
            assert time.monotonic() - started < 30, "the stream did not close after COMPLETED"
            raw_lines.append(line)
            if line == "":
                if data:
                    events.append(json.loads("\n".join(data)))
                    data = []
                continue
            if line.startswith(":"):
                continue  # keepalive comment
            field, _, value = line.partition(":")
            assert field == "data", f"only data-only events are allowed, got {line!r}"
            data.append(value[1:] if value.startswith(" ") else value)
        assert not data, "the stream ended inside an event"
    assert events, raw_lines
    states = [e["status"] for e in events]
    assert states[-1] == "COMPLETED" and states.count("COMPLETED") == 1, states
    order = {"IN_QUEUE": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
    assert [order[s] for s in states] == sorted(order[s] for s in states), states
    for event in events:
        assert event["request_id"] == submitted["request_id"]
        if event["status"] != "IN_QUEUE":
            check_log_entries(event["logs"])
    assert [m for m in messages(events[-1]["logs"]) if m in lines] == lines
    assert "metrics" in events[-1]
