"""Malformed HTTP against the release-mode host: every parser-level refusal is the JSON envelope with a 4xx, a
declared length over the limit is refused before the body, unknown methods get 405 with `Allow`, and pipelined
requests keep their own answers."""

from __future__ import annotations

import json
import re

import pytest
import requests

from conftest import release_binary
from hostile import connect, read_responses


MALFORMED = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400),
    "HTTP/0.9": (b"GET /health\r\n\r\n", 400),
    "100 KB header": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    "10,000 headers": (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000)) + b"\r\n", 431),
    "1 MB URL": (b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
    "Content-Length with Transfer-Encoding": (b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "two Content-Lengths": (b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    "negative Content-Length": (b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
}
for size in (b"ZZZ", b"-1", b"FFFFFFFFFFFFFFFFFF"):
    MALFORMED[f"chunk size {size.decode()}"] = (
        b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size + b"\r\nhello\r\n0\r\n\r\n", 400)
MALFORMED["control character in a chunk extension"] = (
    b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2;e=\x01" + b"e" * 10_000 + b"\r\n{}\r\n0\r\n\r\n", 400)


def raw_exchange(server, data: bytes) -> bytes:
    sock = connect(server, timeout=5)
    try:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the host may answer and close before a huge request is fully sent
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: (\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
        return received
    finally:
        sock.close()


@pytest.fixture(scope="module")
def release_server(module_pool):
    return module_pool.start("release", binary=release_binary(), max_body_bytes=100_000)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_http_gets_the_envelope(release_server, case):
    data, status = MALFORMED[case]
    reply = raw_exchange(release_server, data)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), reply[:300]
    assert re.search(rb"(?i)content-type: application/json", head)
    envelope = json.loads(body)
    assert set(envelope) == {"detail", "error_type"} and envelope["error_type"] != "internal_error", envelope
    assert requests.get(release_server.url + "/health", timeout=5).status_code == 200


def test_a_long_but_valid_chunk_extension_is_read_normally(release_server):
    reply = raw_exchange(release_server, b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n2;" + b"e" * 10_000 + b"\r\n{}\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


def test_declared_length_over_the_limit_is_refused_before_the_body(release_server):
    reply = raw_exchange(release_server, b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: 1000000000\r\n\r\n{")
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["error_type"] == "request_too_large"


@pytest.mark.parametrize("method,path,allow", [("TRACE", "/health", "GET, HEAD"), ("DELETE", "/ready", "GET, HEAD"),
                                               ("PATCH", "/queue/gantry/echo", "GET, HEAD, POST, PUT")])
def test_unknown_methods_are_405_with_allow(release_server, method, path, allow):
    r = requests.request(method, release_server.url + path, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == allow
    assert r.json()["error_type"] == "method_not_allowed"


def test_pipelined_requests_keep_their_own_answers(release_server):
    sock = connect(release_server, timeout=5)
    try:
        sock.sendall(b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{bad"
                     b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first, second = read_responses(sock, 2)
        assert first.startswith(b"HTTP/1.1 400 ") and b"json_invalid" in first
        assert b"connection: close" not in first.lower()  # its body was read whole: the connection goes on
        assert second.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
        third, fourth = read_responses(sock, 2)
        assert third.startswith(b"HTTP/1.1 200 ") and fourth.startswith(b"HTTP/1.1 400 ")
        assert json.loads(fourth.partition(b"\r\n\r\n")[2])["error_type"] == "bad_request"
    finally:
        sock.close()
