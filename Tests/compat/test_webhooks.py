"""Webhooks (`?fal_webhook=` / `fal_client.submit(..., webhook_url=)`) against a live `gantry serve`.

Every receiver is a real threaded HTTP server on 127.0.0.1 (`webhook_receiver.WebhookReceiver`) answering from a
script; every delivery is checked with an Ed25519 verifier built on `cryptography` against the host's own
`/.well-known/jwks.json`, the way fal's documented verifiers do it (message = request_id \\n user_id \\n timestamp \\n
sha256hex(body), ±300 s). Servers run with `--webhook-initial-delay 0.2` so retries come quickly; every wait has a
deadline, and "no further attempt" is checked by waiting well past the next scheduled attempt.
"""

from __future__ import annotations

import base64
import re
import socket
import sqlite3
import subprocess
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import gantry_binary
from gantry_compat import ALICE, API_KEYS, BOB, assert_envelope, field_issues, wait_for
from webhook_receiver import (PortHolder, Reply, WebhookVerificationError, b64url_decode, fetch_jwks,
                              verify_webhook)

ECHO = "gantry/echo"
FAST_RETRIES = ["--webhook-initial-delay", "0.2"]
BODY_KEYS = {"request_id", "gateway_request_id", "status", "payload", "error"}


# -- helpers ----------------------------------------------------------------------------------------------------------
def echoed(arguments: dict) -> dict:
    return {"sync_mode": False, **arguments}


def marker() -> str:
    return f"wh-{uuid.uuid4().hex}"


def submit(server, arguments: dict, webhook: str, http: requests.Session | None = None) -> dict:
    http = http or server.session()
    r = http.post(f"{server.queue_url}/{ECHO}", params={"fal_webhook": webhook}, json=arguments, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    body = r.json()
    assert {"request_id", "status_url", "response_url"} <= set(body), body
    return body


def wait_completed(server, submitted: dict, http: requests.Session | None = None, timeout_s: float = 20) -> dict:
    http = http or server.session()

    def done():
        body = http.get(submitted["status_url"], timeout=5).json()
        return body if body.get("status") == "COMPLETED" else None

    return wait_for(done, timeout_s, 0.05, f"request {submitted['request_id']} to complete")


def fetch_result(server, submitted: dict, http: requests.Session | None = None) -> tuple[int, object]:
    http = http or server.session()
    r = http.get(submitted["response_url"], timeout=10)
    return r.status_code, r.json()


def webhook_log_lines(server, submitted: dict, http: requests.Session | None = None) -> list[str]:
    http = http or server.session()
    body = http.get(submitted["status_url"], params={"logs": "1"}, timeout=10).json()
    return [e.get("message", "") for e in body.get("logs") or [] if "webhook" in e.get("message", "").lower()]


def webhook_attempt_metrics(server) -> dict[str, float]:
    """`gantry_webhook_attempts_total` by its `outcome` label."""
    text = requests.get(server.url + "/metrics", verify=server.verify, timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("gantry_webhook_attempts_total"):
            m = re.match(r'gantry_webhook_attempts_total\{[^}]*outcome="([^"]*)"[^}]*\}\s+(\S+)', line)
            assert m, f"unexpected metric line {line!r}"
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out


def assert_verifies(delivery, jwks: dict) -> str:
    """Verifies a delivery at the moment it arrived; returns the kid that matched."""
    try:
        return verify_webhook(delivery.headers, delivery.body, jwks, now=delivery.received_at)
    except WebhookVerificationError as exc:
        pytest.fail(f"delivery to {delivery.path} does not verify: {exc}; headers {delivery.headers}")


def assert_fails(headers: dict, body: bytes, jwks: dict, now: float, why: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, jwks, now=now)
        pytest.fail(f"verification should fail: {why}")


def localhost_has_ipv6() -> bool:
    try:
        return any(info[0] == socket.AF_INET6 for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    except socket.gaierror:
        return False


# -- servers ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hook_server(module_pool):
    """No API keys (tenant "default"), egress to 127.0.0.1 allowed, retries 0.2 s apart at first."""
    return module_pool.start("webhooks", allow_egress=["127.0.0.1/32"], extra_args=FAST_RETRIES)


# -- 1/2: signatures ---------------------------------------------------------------------------------------------------
def test_delivery_verifies_and_tampering_fails(hook_server, webhook_receivers):
    rx = webhook_receivers()
    submitted = submit(hook_server, {"marker": marker()}, rx.url("/sig"))
    [delivery] = rx.wait_for(1, 15)
    jwks = fetch_jwks(hook_server)

    assert delivery.method == "POST" and delivery.path == "/sig"
    assert delivery.headers.get("content-type", "").split(";")[0].strip() == "application/json", delivery.headers
    assert delivery.headers["x-fal-webhook-request-id"] == submitted["request_id"]
    assert delivery.headers["x-fal-webhook-user-id"] == "default"
    assert re.fullmatch(r"[0-9a-f]{128}", delivery.headers["x-fal-webhook-signature"]), delivery.headers
    assert re.fullmatch(r"[0-9]+", delivery.headers["x-fal-webhook-timestamp"]), delivery.headers
    assert abs(delivery.timestamp - delivery.received_at) <= 5, "the timestamp is not the send time"
    kid = assert_verifies(delivery, jwks)
    assert kid in {k["kid"] for k in jwks["keys"]}

    headers, body, now = delivery.headers, delivery.body, delivery.received_at
    # One byte changed anywhere in the body.
    for index in (0, len(body) // 2, len(body) - 1):
        tampered = bytearray(body)
        tampered[index] ^= 0x01
        assert_fails(headers, bytes(tampered), jwks, now, f"body byte {index} flipped")
    assert_fails(headers, body + b" ", jwks, now, "a byte appended")
    # Each signed header changed (the timestamp stays inside the window, so the signature is what fails).
    ts = delivery.timestamp
    for name, value in (("x-fal-webhook-timestamp", str(ts + 1)), ("x-fal-webhook-timestamp", str(ts - 1)),
                        ("x-fal-webhook-request-id", str(uuid.uuid4())), ("x-fal-webhook-user-id", "alice")):
        assert_fails({**headers, name: value}, body, jwks, now, f"{name} changed to {value}")
    # Flipped signature bit; a JWKS that does not hold the host's key.
    signature = bytearray.fromhex(headers["x-fal-webhook-signature"])
    signature[5] ^= 0x80
    assert_fails({**headers, "x-fal-webhook-signature": signature.hex()}, body, jwks, now, "signature bit flipped")
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    other = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "stranger",
                       "x": base64.urlsafe_b64encode(stranger).decode().rstrip("=")}]}
    assert_fails(headers, body, other, now, "a key the host never used")
    # Freshness: the same, untouched delivery verified 301 s late or early fails; 299 s late passes.
    assert_fails(headers, body, jwks, ts + 301, "timestamp 301 s old")
    assert_fails(headers, body, jwks, ts - 301, "timestamp 301 s in the future")
    assert verify_webhook(headers, body, jwks, now=ts + 299) == kid
    # The JWKS x really is the raw 32-byte key (decodes, and a re-encoded copy verifies).
    same = {"keys": [{**k, "x": base64.urlsafe_b64encode(b64url_decode(k["x"])).decode().rstrip("=")}
                     for k in jwks["keys"]]}
    assert verify_webhook(headers, body, same, now=now) == kid


def test_jwks_needs_no_auth_and_is_stable(hook_server):
    first = fetch_jwks(hook_server)
    r = requests.get(hook_server.url + "/.well-known/jwks.json", timeout=10,
                     headers={"Authorization": "Key nobody:nothing"})
    assert r.status_code == 200 and r.json() == first


# -- 3: bodies ----------------------------------------------------------------------------------------------------------
def test_ok_and_error_bodies(hook_server, webhook_receivers):
    rx = webhook_receivers()
    ok_args = {"marker": marker(), "nested": {"ü": [1, 2.5, None, True, "ß"]}, "logs": ["a line"]}
    ok = submit(hook_server, ok_args, rx.url("/ok?token=a%20b&x=1"))
    bad = submit(hook_server, {"marker": marker(), "fail_with": "webhook boom"}, rx.url("/bad"))
    rx.wait_for(2, 15)
    deliveries = rx.quiet_for(1.5)
    assert len(deliveries) == 2, [(d.path, d.reply.status) for d in deliveries]
    by_path = {d.path: d for d in deliveries}
    assert set(by_path) == {"/ok?token=a%20b&x=1", "/bad"}, "the webhook URL (path and query) must be used as given"
    jwks = fetch_jwks(hook_server)

    wait_completed(hook_server, ok)
    status, result = fetch_result(hook_server, ok)
    assert status == 200 and result == echoed(ok_args)
    d = by_path["/ok?token=a%20b&x=1"]
    assert d.json() == {"request_id": ok["request_id"], "gateway_request_id": ok["request_id"], "status": "OK",
                        "payload": result, "error": None}
    assert d.headers["x-fal-webhook-request-id"] == ok["request_id"]
    assert d.headers["x-fal-webhook-user-id"] == "default"
    assert_verifies(d, jwks)

    done = wait_completed(hook_server, bad)
    assert done.get("error") == "webhook boom", done
    status, error_body = fetch_result(hook_server, bad)
    assert status == 500 and error_body.get("detail") == "webhook boom", error_body
    d = by_path["/bad"]
    body = d.json()
    assert set(body) == BODY_KEYS, body
    assert (body["request_id"], body["gateway_request_id"], body["status"]) == (bad["request_id"], bad["request_id"],
                                                                               "ERROR"), body
    assert isinstance(body["error"], str) and body["error"], body
    assert body["payload"] == error_body, body
    assert d.headers["x-fal-webhook-request-id"] == bad["request_id"]
    assert_verifies(d, jwks)


# -- 4: retries until 2xx ---------------------------------------------------------------------------------------------
def test_500_500_200_is_three_attempts(hook_server, webhook_receivers):
    before = sum(webhook_attempt_metrics(hook_server).values())
    rx = webhook_receivers([500, 500, 200], default=Reply(status=200))
    submitted = submit(hook_server, {"marker": marker()}, rx.url("/retry"))
    rx.wait_for(3, 20)
    deliveries = rx.quiet_for(3.0)  # a 4th would be due ~0.8 s after the 3rd
    assert [d.reply.status for d in deliveries] == [500, 500, 200], "exactly three attempts, none after the 200"
    jwks = fetch_jwks(hook_server)
    assert {d.request_id for d in deliveries} == {submitted["request_id"]}
    assert {d.body for d in deliveries} == {deliveries[0].body}, "every attempt must carry the same body"
    assert deliveries[0].json()["request_id"] == submitted["request_id"]
    for d in deliveries:
        assert_verifies(d, jwks)
        assert abs(d.timestamp - d.received_at) <= 2, "each attempt carries its own send time"
    assert deliveries[0].monotonic < deliveries[1].monotonic < deliveries[2].monotonic

    lines = wait_for(lambda: (lambda l: l if len(l) >= 3 else None)(webhook_log_lines(hook_server, submitted)), 5,
                     0.1, "a request log line per webhook attempt")
    assert len(lines) >= 3, lines
    after = wait_for(lambda: (lambda n: n if n - before >= 3 else None)(sum(webhook_attempt_metrics(hook_server).values())),
                     5, 0.1, "gantry_webhook_attempts_total to count the three attempts")
    assert after - before == 3, f"gantry_webhook_attempts_total grew by {after - before}, expected 3"


# -- 6: 410 and redirects -------------------------------------------------------------------------------------------------
def test_410_stops_at_once(hook_server, webhook_receivers):
    rx = webhook_receivers([410], default=200)  # a retry would be answered 200 and show up here
    submitted = submit(hook_server, {"marker": marker()}, rx.url("/gone"))
    rx.wait_for(1, 15)
    deliveries = rx.quiet_for(3.0)  # a retry would be due 0.2 s later
    assert len(deliveries) == 1, f"410 must stop delivery; got {[d.reply.status for d in deliveries]}"
    assert deliveries[0].request_id == submitted["request_id"]


def test_redirects_are_failures_and_not_followed(hook_server, webhook_receivers):
    target = webhook_receivers()
    location = {"Location": target.url("/elsewhere")}
    rx = webhook_receivers([Reply(301, location), Reply(302, location), Reply(307, location), Reply(200)])
    submitted = submit(hook_server, {"marker": marker()}, rx.url("/moved"))
    rx.wait_for(4, 20)
    deliveries = rx.quiet_for(3.0)
    assert [d.reply.status for d in deliveries] == [301, 302, 307, 200], \
        "each 3xx must count as a failed attempt (retried), and the 200 ends it"
    assert {d.request_id for d in deliveries} == {submitted["request_id"]}
    assert target.count() == 0, f"the Location was followed: {[d.path for d in target.snapshot()]}"


# -- 7: Retry-After ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(hook_server, webhook_receivers, status):
    rx = webhook_receivers([Reply(status, {"Retry-After": "2"}), Reply(200)])
    submitted = submit(hook_server, {"marker": marker()}, rx.url("/busy"))
    first, second = rx.wait_for(2, 15)[:2]
    gap = second.monotonic - first.monotonic
    assert gap >= 1.9, f"the retry came {gap:.2f} s after a {status} with Retry-After: 2 (initial delay is 0.2 s)"
    assert gap <= 8, f"the retry came {gap:.2f} s later; Retry-After: 2 was not meant as a much longer wait"
    assert second.timestamp > first.timestamp, "the retry must carry a fresh timestamp"
    assert first.body == second.body and first.request_id == second.request_id == submitted["request_id"]
    jwks = fetch_jwks(hook_server)
    assert_verifies(first, jwks)
    assert_verifies(second, jwks)
    assert len(rx.quiet_for(1.5)) == 2


# -- 9: egress policy at submit --------------------------------------------------------------------------------------------
def test_forbidden_webhook_urls_are_refused_at_submit(gantry_pool, hook_server, webhook_receivers):
    rx = webhook_receivers()
    strict = gantry_pool.start("no-egress")  # no --allow-egress: loopback is forbidden
    http = strict.session()
    forbidden = [rx.url("/direct"), rx.url("/by-name", host="localhost"), f"http://[::1]:{rx.port}/v6",
                 f"http://2130706433:{rx.port}/decimal", f"http://0x7f000001:{rx.port}/hex",
                 "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "http://192.168.1.1/x",
                 f"ftp://127.0.0.1:{rx.port}/x", "file:///etc/passwd", "not a url",
                 f"http://user:pass@127.0.0.1:{rx.port}/creds"]
    for url in forbidden:
        r = http.post(f"{strict.queue_url}/{ECHO}", params={"fal_webhook": url}, json={"marker": marker()}, timeout=10)
        body = assert_envelope(r, 422)
        issues = field_issues(body, "fal_webhook")
        assert issues, f"{url}: the 422 does not name fal_webhook: {body}"
        assert issues[0]["loc"] == ["query", "fal_webhook"], body
    # With loopback allowed, other private and metadata ranges stay forbidden.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", f"ftp://127.0.0.1:{rx.port}/x"):
        r = hook_server.session().post(f"{hook_server.queue_url}/{ECHO}", params={"fal_webhook": url},
                                       json={"marker": marker()}, timeout=10)
        assert field_issues(assert_envelope(r, 422), "fal_webhook"), url

    with sqlite3.connect(f"file:{strict.db_path}?mode=ro", uri=True, timeout=5) as db:
        stored = db.execute("SELECT count(*) FROM requests").fetchone()[0]
    assert stored == 0, "a request refused at submit must not be stored"
    assert rx.quiet_for(1.0) == [], "nothing may be delivered to a forbidden URL"


# -- 10: fal_client ----------------------------------------------------------------------------------------------------------
def test_fal_client_submit_with_webhook_url(gantry_pool, tls_files, fal, webhook_receivers):
    server = gantry_pool.start("tls-webhooks", tls=tls_files, api_keys=API_KEYS, allow_egress=["127.0.0.1/32"],
                               extra_args=FAST_RETRIES)
    rx = webhook_receivers()
    alice, bob = fal(server, ALICE), fal(server, BOB)
    args = {"marker": marker(), "list": [1, {"x": None}]}
    handle = alice.submit(ECHO, args, webhook_url=rx.url("/fal?from=fal_client"))
    other = bob.submit(ECHO, {"marker": marker()}, webhook_url=rx.url("/bob"))
    rx.wait_for(2, 15)
    deliveries = {d.path: d for d in rx.quiet_for(1.0)}
    assert set(deliveries) == {"/fal?from=fal_client", "/bob"}, list(deliveries)

    result = handle.get()
    assert result == echoed(args)
    d = deliveries["/fal?from=fal_client"]
    assert d.json() == {"request_id": handle.request_id, "gateway_request_id": handle.request_id, "status": "OK",
                        "payload": result, "error": None}
    assert d.headers["x-fal-webhook-request-id"] == handle.request_id
    assert d.headers["x-fal-webhook-user-id"] == "alice", "the user id is the tenant of the submitting key"
    assert deliveries["/bob"].headers["x-fal-webhook-user-id"] == "bob"
    assert deliveries["/bob"].request_id == other.request_id
    jwks = fetch_jwks(server)  # over TLS, without an Authorization header
    assert_verifies(d, jwks)
    assert_verifies(deliveries["/bob"], jwks)


# -- 11: key rotation ------------------------------------------------------------------------------------------------------
def gantry_keys(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(gantry_binary()), "keys", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"gantry keys {' '.join(args)} -> {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_key_rotation_and_retirement(gantry_pool, webhook_receivers):
    server = gantry_pool.start("keys", allow_egress=["127.0.0.1/32"], extra_args=FAST_RETRIES)
    data_dir = str(server.data_dir)
    keyfile = server.data_dir / "webhook-keys.json"
    assert keyfile.is_file(), "the key file is created on first start"
    assert keyfile.stat().st_mode & 0o777 == 0o600, oct(keyfile.stat().st_mode)
    rx = webhook_receivers()

    def deliver() -> object:
        n = rx.count()
        submitted = submit(server, {"marker": marker()}, rx.url(f"/keys/{n}"))
        delivery = rx.wait_for(n + 1, 15)[n]
        assert delivery.request_id == submitted["request_id"]
        return delivery

    def jwks_kids(expected: int):
        def check():
            kids = [k["kid"] for k in fetch_jwks(server)["keys"]]
            return kids if len(kids) == expected else None
        return wait_for(check, 5, 0.1, f"the JWKS to list {expected} keys")

    [kid0] = jwks_kids(1)
    assert assert_verifies(deliver(), fetch_jwks(server)) == kid0
    assert kid0 in gantry_keys("list", "--data-dir", data_dir).stdout

    gantry_keys("rotate", "--data-dir", data_dir)
    kids = jwks_kids(2)
    assert kid0 in kids, "the old key must stay published after a rotation"
    [kid1] = [k for k in kids if k != kid0]
    listed = gantry_keys("list", "--data-dir", data_dir).stdout
    assert kid0 in listed and kid1 in listed, listed
    assert keyfile.stat().st_mode & 0o777 == 0o600, oct(keyfile.stat().st_mode)
    jwks = fetch_jwks(server)
    delivery = deliver()
    assert assert_verifies(delivery, jwks) == kid1, "after a rotation the new key signs"
    only_old = {"keys": [k for k in jwks["keys"] if k["kid"] == kid0]}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(delivery.headers, delivery.body, only_old, now=delivery.received_at)

    gantry_keys("retire", kid0, "--data-dir", data_dir)
    assert jwks_kids(1) == [kid1], "a retired key leaves the JWKS"
    assert kid0 not in gantry_keys("list", "--data-dir", data_dir).stdout
    assert assert_verifies(deliver(), fetch_jwks(server)) == kid1

    # A delayed rotation publishes the next key at once but keeps signing with the current one.
    gantry_keys("rotate", "--data-dir", data_dir, "--delay", "3600")
    kids = jwks_kids(2)
    assert kid1 in kids
    assert assert_verifies(deliver(), fetch_jwks(server)) == kid1, "a key rotated in with --delay must not sign yet"


# -- 12: a slow receiver does not hold up others ---------------------------------------------------------------------------
def test_slow_receiver_does_not_delay_others(gantry_pool, webhook_receivers):
    ipv6 = localhost_has_ipv6()
    egress = ["127.0.0.1/32"] + (["::1/128"] if ipv6 else [])
    server = gantry_pool.start("per-host", allow_egress=egress,
                               extra_args=FAST_RETRIES + ["--webhook-per-host", "2", "--webhook-timeout", "5",
                                                          "--webhook-attempts", "1"])
    slow = webhook_receivers(default=Reply(hang=True, max_hang_s=30))
    fast = webhook_receivers(ipv6=ipv6)
    slow_ids = [submit(server, {"marker": marker(), "i": i}, slow.url(f"/slow/{i}"))["request_id"] for i in range(6)]
    slow.wait_for(2, 10)
    first_slow = slow.snapshot()[0].monotonic
    time.sleep(0.3)  # room for a third slow attempt to show up if the per-host limit were not applied

    fast_ids = [submit(server, {"marker": marker(), "i": i}, fast.url(f"/fast/{i}", host="localhost"))["request_id"]
                for i in range(3)]
    fast.wait_for(3, 3.0)
    elapsed = time.monotonic() - first_slow
    assert elapsed < 4.5, f"the fast deliveries finished {elapsed:.1f} s after the slow ones began (timeout 5 s)"
    assert sorted(d.request_id for d in fast.snapshot()) == sorted(fast_ids)
    assert slow.count() == 2, f"--webhook-per-host 2: {slow.count()} attempts to the slow host were in flight at once"
    assert {d.request_id for d in slow.snapshot()} <= set(slow_ids)

    # The two hung attempts time out after --webhook-timeout 5 s, which frees their slots for the next two.
    third = slow.wait_for(3, 10)[2]
    waited = third.monotonic - first_slow
    assert 4.0 <= waited <= 8.5, f"the next slow attempt started {waited:.1f} s after the first (timeout 5 s)"


# -- 5: receiver down, then up -------------------------------------------------------------------------------------------
def test_receiver_down_then_up_is_delivered_once(gantry_pool, webhook_receivers):
    server = gantry_pool.start("down", allow_egress=["127.0.0.1/32"],
                               extra_args=["--webhook-initial-delay", "0.2", "--webhook-max-delay", "2",
                                           "--webhook-attempts", "40"])
    holder = PortHolder()  # bound, not listening: every connection is refused
    url = f"http://127.0.0.1:{holder.port}/down"
    try:
        submitted = submit(server, {"marker": marker()}, url)
        wait_completed(server, submitted)
        time.sleep(20)
        refused = webhook_log_lines(server, submitted)
        assert len(refused) >= 5, f"attempts while the receiver was down (max delay 2 s over 20 s): {refused}"
    finally:
        port = holder.free()
    rx = webhook_receivers(port=port)
    [delivery] = rx.wait_for(1, 8)
    assert len(rx.quiet_for(3.0)) == 1, "delivered more than once after the receiver came back"
    assert delivery.request_id == submitted["request_id"] == delivery.json()["request_id"]
    assert delivery.json()["status"] == "OK"
    assert_verifies(delivery, fetch_jwks(server))

    lines = wait_for(lambda: (lambda l: l if len(l) > len(refused) else None)(webhook_log_lines(server, submitted)), 5,
                     0.1, "the successful attempt to be logged")
    metrics = webhook_attempt_metrics(server)
    assert sum(metrics.values()) >= len(refused) + 1, (metrics, lines)
    assert len(metrics) >= 2, f"failed and successful attempts should have different outcomes: {metrics}"


# -- 8: kill -9 between completion and delivery ---------------------------------------------------------------------------
def test_kill9_before_delivery_is_delivered_after_restart(gantry_pool, webhook_receivers):
    server = gantry_pool.start("kill9", allow_egress=["127.0.0.1/32"], extra_args=FAST_RETRIES)
    rx = webhook_receivers([Reply(hang=True, max_hang_s=60)], default=200)
    jwks_before = fetch_jwks(server)
    args = {"marker": marker()}
    submitted = submit(server, args, rx.url("/crash"))
    [first] = rx.wait_for(1, 15)  # the host is now waiting on the receiver, the request already terminal
    assert first.request_id == submitted["request_id"]
    assert wait_completed(server, submitted, timeout_s=5).get("error") is None, "the request should be terminal"
    server.kill9()
    assert server.proc.returncode == -9
    rx.release()  # drop the hung connection; every later request is answered 200

    server.restart()
    restarted = time.monotonic()
    deliveries = rx.wait_for(2, 10)
    second = deliveries[1]
    assert second.monotonic - restarted < 5, "an in-flight delivery must be retried at once after a restart"
    assert second.request_id == submitted["request_id"] and second.body == first.body
    assert second.timestamp >= first.timestamp
    jwks_after = fetch_jwks(server)
    assert jwks_after == jwks_before, "the signing keys must survive a restart (kept in the data directory)"
    assert_verifies(second, jwks_after)
    body = second.json()
    assert set(body) == BODY_KEYS and body["status"] == "OK", body
    status, result = fetch_result(server, submitted)
    assert status == 200 and result == echoed(args) == body["payload"]
    later = rx.quiet_for(2.0)
    assert {d.request_id for d in later} == {submitted["request_id"]}
    assert all(d.body == first.body for d in later)


# -- egress policy at send time ---------------------------------------------------------------------------------------------
def test_policy_is_rechecked_at_send_time(gantry_pool, webhook_receivers):
    """A delivery accepted while loopback was allowed, retried after a restart that no longer allows it: refused at
    send time (no connection reaches the receiver) and recorded in the request's log."""
    server = gantry_pool.start("recheck", allow_egress=["127.0.0.1/32"], extra_args=["--webhook-initial-delay", "2"])
    rx = webhook_receivers([500], default=200)  # a second attempt that got through would be answered 200
    submitted = submit(server, {"marker": marker()}, rx.url("/recheck"))
    rx.wait_for(1, 15)
    # The first attempt's outcome is recorded before the host stops, so the refused one is the second.
    wait_for(lambda: len(webhook_log_lines(server, submitted)) >= 1, 10, 0.1, "the first attempt to be recorded")
    server.stop()
    server.allow_egress = []
    server.restart()
    wait_for(lambda: len(webhook_log_lines(server, submitted)) >= 2, 10, 0.1,
             "the second (refused) attempt to be recorded in the request log")
    assert len(rx.quiet_for(3.0)) == 1, \
        f"the egress policy was not re-checked at send time: {[(d.path, d.reply.status) for d in rx.snapshot()]}"
