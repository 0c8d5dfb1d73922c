"""Bad input never gets a 5xx: each answers the right 4xx with the JSON envelope and the host stays healthy.

The server here runs with `--max-body-bytes 65536` and WITHOUT `--allow-egress`, so every loopback, private and
metadata address of the SSRF refusal list (reliability.md §D) must be refused before any connection is made.
"""

from __future__ import annotations

import json
import time

import pytest

from gantry_compat import assert_envelope, bomb_png, data_uri, field_issues, make_png, wait_for

MAX_BODY = 65_536
FORBIDDEN_TYPES = {"forbidden_address", "forbidden_scheme", "credentials_in_url", "invalid_url", "input_url_forbidden"}


@pytest.fixture(scope="module")
def server(module_pool):
    return module_pool.start("bad-input", max_body_bytes=MAX_BODY)


@pytest.fixture(scope="module")
def http(server):
    return server.session()


@pytest.fixture(autouse=True)
def stays_healthy(server):
    yield
    assert server.health() == 200, "GET /health must stay 200 after bad input"
    assert server.proc.poll() is None, "the server process died"


def post_json_bytes(http, url, body: bytes, content_type="application/json"):
    return http.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)


# -- the request body -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("surface", ["", "/queue"])
@pytest.mark.parametrize("body", [
    b"{", b"{'a': 1}", b'{"a": tru}', b"\xff\xfe{}", b'{"a":1} trailing', b'{"a" 1}',
    b'{"a": 1,}', b'[1, 2,]', b'{"a": NaN}', b'{"a": 01}', b'// c\n{}',
])
def test_malformed_json_is_400_json_invalid(server, http, surface, body):
    r = post_json_bytes(http, f"{server.url}{surface}/gantry/echo", body)
    envelope = assert_envelope(r, 400, "json_invalid")
    assert envelope["detail"], envelope


@pytest.mark.parametrize("surface", ["", "/queue"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_415(server, http, surface, content_type):
    r = post_json_bytes(http, f"{server.url}{surface}/gantry/echo", b'{"a": 1}', content_type)
    assert_envelope(r, 415)


@pytest.mark.parametrize("surface", ["", "/queue"])
def test_oversized_body_is_413(server, http, surface):
    body = json.dumps({"pad": "x" * (MAX_BODY + 4096)}).encode()
    r = post_json_bytes(http, f"{server.url}{surface}/gantry/echo", body)
    assert_envelope(r, 413, "request_too_large")


def test_body_just_under_the_limit_is_accepted(server, http):
    pad = "x" * (MAX_BODY - 200)
    r = post_json_bytes(http, f"{server.url}/gantry/echo", json.dumps({"pad": pad}).encode())
    assert r.status_code == 200, r.text[:300]
    assert r.json()["pad"] == pad


@pytest.mark.parametrize("path", ["/nope/nothing", "/gantry/nothing", "/queue/nope/nothing", "/queue/gantry/echo/extra/path",
                                  "/gantry/image/convert/extra"])
def test_unknown_function_is_404(server, http, path):
    r = http.post(server.url + path, json={}, timeout=10)
    assert_envelope(r, 404)


@pytest.mark.parametrize("path", ["/queue/gantry/echo/requests/00000000-0000-0000-0000-000000000000/status",
                                  "/queue/gantry/echo/requests/00000000-0000-0000-0000-000000000000",
                                  "/queue/gantry/echo/requests/not-a-uuid/status"])
def test_unknown_request_is_404(server, http, path):
    r = http.get(server.url + path, timeout=10)
    assert_envelope(r, 404)


@pytest.mark.parametrize("surface", ["", "/queue"])
@pytest.mark.parametrize("field,value", [("quality", "high"), ("quality", 500), ("quality", 0), ("quality", 1.5),
                                         ("output_format", "gif"), ("output_format", 5), ("sync_mode", "yes"),
                                         ("image_url", 7), ("image_url", "")])
def test_wrong_field_types_are_422_naming_the_field(server, http, surface, field, value):
    body = {"image_url": data_uri(make_png(2, 2)), field: value}
    r = http.post(f"{server.url}{surface}/gantry/image/convert", json=body, timeout=10)
    envelope = assert_envelope(r, 422)
    assert field_issues(envelope, field), f"no detail item names {field}: {envelope}"


def test_missing_required_field_is_422(server, http):
    r = http.post(f"{server.url}/gantry/image/convert", json={"quality": 50}, timeout=10)
    envelope = assert_envelope(r, 422)
    assert field_issues(envelope, "image_url"), envelope


@pytest.mark.parametrize("body", [b"[]", b"42", b'"text"', b"null"])
def test_non_object_body_is_422(server, http, body):
    r = post_json_bytes(http, f"{server.url}/gantry/echo", body)
    assert_envelope(r, 422)


def test_echo_field_types_are_validated(server, http):
    r = http.post(f"{server.url}/gantry/echo", json={"delay_ms": "soon", "logs": "not-a-list"}, timeout=10)
    envelope = assert_envelope(r, 422)
    assert field_issues(envelope, "delay_ms") and field_issues(envelope, "logs"), envelope


@pytest.mark.parametrize("logs", ["maybe", "2"])
def test_bad_logs_query_is_4xx(server, http, logs):
    r = http.post(f"{server.url}/queue/gantry/echo", json={}, timeout=10)
    status_url = r.json()["status_url"]
    r = http.get(status_url, params={"logs": logs}, timeout=10)
    assert_envelope(r, 422, "bool_parsing")


@pytest.mark.parametrize("path,body,content_type", [
    ("/nope/nothing", b"{}", "application/json"),
    ("/gantry/echo", b"{", "application/json"),
    ("/gantry/echo", b"{}", "text/plain"),
    ("/gantry/image/convert", b"{}", "application/json"),
])
def test_error_answers_carry_x_fal_request_id(server, http, path, body, content_type):
    r = post_json_bytes(http, server.url + path, body, content_type)
    assert 400 <= r.status_code < 500
    assert r.headers.get("x-fal-request-id"), r.headers


# -- images -------------------------------------------------------------------------------------------------------
def convert(server, http, image_url, **extra):
    return http.post(f"{server.url}/gantry/image/convert", json={"image_url": image_url, **extra}, timeout=30)


@pytest.mark.parametrize("uri", ["data:image/png;base64,!!!not base64!!!", "data:image/png;base64,iVBORw0KGgo=A",
                                 "data:image/png;base64", "data:image/png;base64,%zz"])
def test_bad_data_uri_is_422_invalid_data_uri(server, http, uri):
    envelope = assert_envelope(convert(server, http, uri), 422, "invalid_data_uri")
    assert field_issues(envelope, "image_url"), envelope


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_png_is_422_image_corrupt(server, http, cut):
    png = make_png(64, 64)
    envelope = assert_envelope(convert(server, http, data_uri(png[: int(len(png) * cut)])), 422, "image_corrupt")
    assert field_issues(envelope, "image_url"), envelope


def test_garbage_bytes_are_422(server, http):
    r = convert(server, http, data_uri(b"GIF89a" + bytes(range(256)), "image/png"))
    envelope = assert_envelope(r, 422)
    assert envelope["error_type"] in {"image_corrupt", "unsupported_format"}, envelope
    assert field_issues(envelope, "image_url"), envelope


@pytest.mark.parametrize("width,height", [(50_000, 50_000), (100_000, 1), (1, 100_000), (8_000, 8_000)])
def test_png_bomb_header_is_422_image_too_large(server, http, width, height):
    started = time.monotonic()
    envelope = assert_envelope(convert(server, http, data_uri(bomb_png(width, height))), 422, "image_too_large")
    assert field_issues(envelope, "image_url"), envelope
    assert time.monotonic() - started < 5, "a header-declared bomb must be refused before decoding"


def test_zero_width_png_is_422(server, http):
    r = convert(server, http, data_uri(bomb_png(0, 10)))
    envelope = assert_envelope(r, 422)
    assert field_issues(envelope, "image_url"), envelope


# -- SSRF refusal list (no --allow-egress) -----------------------------------------------------------------------
REFUSAL_LIST = [
    "http://127.0.0.1/", "http://0.0.0.0/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
    "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://10.0.0.1/", "http://172.16.0.1/",
    "http://192.168.1.1/", "http://100.64.0.1/", "http://100.100.100.200/", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/", "http://[fe80::1%25eth0]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
    "http://user:pw@example.com/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_", "ftp://127.0.0.1/x", "dict://127.0.0.1:11211/",
]

# The same loopback spellings aimed at a listener of ours, so a connection that slips through is counted.
LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{p}/", "http://0.0.0.0:{p}/", "http://[::1]:{p}/", "http://[::ffff:127.0.0.1]:{p}/",
    "http://2130706433:{p}/", "http://0x7f000001:{p}/", "http://0177.0.0.1:{p}/", "http://127.1:{p}/",
    "http://user:pw@127.0.0.1:{p}/", "https://127.0.0.1:{p}/", "gopher://127.0.0.1:{p}/_",
    "ftp://127.0.0.1:{p}/x", "dict://127.0.0.1:{p}/", "http://localhost:{p}/",
]


def assert_refused(envelope: dict) -> None:
    items = field_issues(envelope, "image_url")
    assert items, f"detail does not name image_url: {envelope}"
    assert all(item["msg"] for item in items), envelope
    assert envelope["error_type"] in FORBIDDEN_TYPES, envelope


@pytest.mark.parametrize("url", REFUSAL_LIST)
def test_refusal_list_on_run_surface(server, http, url):
    started = time.monotonic()
    envelope = assert_envelope(convert(server, http, url), 422)
    assert_refused(envelope)
    assert time.monotonic() - started < 5, "a refused URL must fail fast"


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
def test_loopback_spellings_make_no_connection(server, http, counting_listener, template):
    url = template.format(p=counting_listener.port)
    envelope = assert_envelope(convert(server, http, url), 422)
    assert_refused(envelope)
    time.sleep(0.2)  # let a stray connection, if any, reach the listener before counting
    assert counting_listener.count == 0, f"{url} reached the loopback listener from {counting_listener.peers}"


def test_refusal_through_the_queue_surface(server, http, counting_listener):
    url = f"http://127.0.0.1:{counting_listener.port}/image.png"
    r = http.post(f"{server.queue_url}/gantry/image/convert", json={"image_url": url}, timeout=10)
    assert r.status_code == 200, r.text
    submitted = r.json()

    def completed():
        s = http.get(submitted["status_url"], timeout=10)
        assert s.status_code in (200, 202), s.text
        return s.json() if s.json()["status"] == "COMPLETED" else None

    status = wait_for(completed, 30, 0.1, "the refused request to complete")
    assert status["error_type"] in FORBIDDEN_TYPES, status
    assert status["error"], status
    result = http.get(submitted["response_url"], timeout=10)
    assert_refused(assert_envelope(result, 422))
    assert counting_listener.count == 0, counting_listener.peers


def test_listener_positive_control(gantry_pool, counting_listener):
    """With --allow-egress 127.0.0.1/32 the same kind of URL does reach the listener, so the zero counts above
    mean refusal, not a deaf listener."""
    allowed = gantry_pool.start("egress-allowed", allow_egress=["127.0.0.1/32"])
    r = allowed.session().post(f"{allowed.url}/gantry/image/convert",
                               json={"image_url": f"http://127.0.0.1:{counting_listener.port}/x.png"}, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert_envelope(r, r.status_code)
    wait_for(lambda: counting_listener.count >= 1, 5, message="the allowed fetch to reach the listener")
