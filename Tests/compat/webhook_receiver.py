"""A scripted webhook receiver on loopback and a fal-style webhook signature verifier.

`WebhookReceiver` is a real threaded HTTP server on 127.0.0.1 (optionally also [::1] on the same port, for URLs
spelled `localhost`). It records every request it gets (method, path, headers, raw body, arrival time) and answers
from a script: a list of `Reply`s (or bare status codes) consumed one per request, then `default`. A reply can
delay, add headers (`Location`, `Retry-After`) or hang — hold the connection open without answering until
`release()` or its bound runs out, then close it.

`verify_webhook` checks a delivery the way fal's documented verifiers do: headers present, |now − timestamp| ≤ 300 s,
message = request_id \\n user_id \\n timestamp \\n sha256hex(raw body), Ed25519 signature (hex) valid under any key
of the JWKS. It raises `WebhookVerificationError` on any failure and returns the kid of the key that matched.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import requests

SIGNATURE_HEADERS = ("x-fal-webhook-request-id", "x-fal-webhook-user-id", "x-fal-webhook-timestamp",
                     "x-fal-webhook-signature")
TOLERANCE_S = 300


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay_s: float = 0.0
    hang: bool = False          # hold the connection, never answer (until release() or max_hang_s)
    max_hang_s: float = 60.0


@dataclass
class Delivery:
    method: str
    path: str
    headers: dict[str, str]     # lower-cased names
    body: bytes
    received_at: float          # time.time() when the whole body had arrived
    monotonic: float
    reply: Reply

    def json(self):
        return json.loads(self.body)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-fal-webhook-request-id")

    @property
    def timestamp(self) -> int:
        return int(self.headers["x-fal-webhook-timestamp"])


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class WebhookReceiver:
    """See the module docstring. `port` 0 picks a free port; a fixed port re-opens a receiver that was down."""

    def __init__(self, script=None, *, port: int = 0, default: Reply | int = 200, ipv6: bool = False):
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.deliveries: list[Delivery] = []
        self.script: deque[Reply] = deque()
        self.default = self._reply(default)
        self.set_script(script or [])
        self._release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self):
                body = self._read_body()
                reply = receiver._arrive(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                try:
                    if reply.hang:
                        receiver._release.wait(reply.max_hang_s)
                        self.close_connection = True
                        return
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    self.close_connection = True
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            do_POST = do_GET = do_PUT = _handle  # noqa: N815

            def log_message(self, *args):
                pass

        self.servers = [_Server(("127.0.0.1", port), Handler)]
        self.port = self.servers[0].server_address[1]
        if ipv6:
            try:
                self.servers.append(_Server6(("::1", self.port), Handler))
            except OSError:
                pass  # no IPv6 loopback here: `localhost` then resolves to 127.0.0.1 only
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                        for s in self.servers]
        for t in self.threads:
            t.start()

    @staticmethod
    def _reply(entry) -> Reply:
        return entry if isinstance(entry, Reply) else Reply(status=int(entry))

    def set_script(self, script) -> None:
        with self.lock:
            self.script = deque(self._reply(e) for e in script)

    def set_default(self, default) -> None:
        with self.lock:
            self.default = self._reply(default)

    def _arrive(self, method, path, headers, body) -> Reply:
        with self.lock:
            reply = self.script.popleft() if self.script else self.default
            self.deliveries.append(Delivery(method, path, headers, body, time.time(), time.monotonic(), reply))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.arrived.notify_all()
            return reply

    # -- observing ----------------------------------------------------------------------------------------------
    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def snapshot(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def count(self) -> int:
        with self.lock:
            return len(self.deliveries)

    def wait_for(self, n: int, timeout_s: float) -> list[Delivery]:
        """Waits until at least `n` requests have arrived; fails (AssertionError) at the deadline."""
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while len(self.deliveries) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver on port {self.port} got {len(self.deliveries)} requests within "
                                         f"{timeout_s} s, expected at least {n}")
                self.arrived.wait(min(left, 0.1))
            return list(self.deliveries)

    def quiet_for(self, seconds: float) -> list[Delivery]:
        """Sleeps `seconds` and returns every request seen (the caller asserts nothing more came)."""
        time.sleep(seconds)
        return self.snapshot()

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def release(self) -> None:
        """Lets every hanging reply go (their connections are closed without an answer)."""
        self._release.set()

    def close(self) -> None:
        self.release()
        for s in self.servers:
            s.shutdown()
            s.server_close()


class PortHolder:
    """Keeps a loopback port bound but not listening, so connections to it are refused until `free()`."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def free(self) -> int:
        self.sock.close()
        return self.port


# -- verification -----------------------------------------------------------------------------------------------------
class WebhookVerificationError(Exception):
    pass


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fetch_jwks(server) -> dict:
    """GET /.well-known/jwks.json without credentials; checks its shape."""
    r = requests.get(server.url + "/.well-known/jwks.json", verify=server.verify, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    jwks = r.json()
    assert isinstance(jwks, dict) and isinstance(jwks.get("keys"), list) and jwks["keys"], jwks
    for key in jwks["keys"]:
        assert key.get("kty") == "OKP" and key.get("crv") == "Ed25519", key
        assert isinstance(key.get("kid"), str) and key["kid"], key
        assert key.get("use") == "sig" and key.get("alg") == "EdDSA", key
        assert "=" not in key["x"] and "+" not in key["x"] and "/" not in key["x"], f"x is not unpadded base64url: {key}"
        assert len(b64url_decode(key["x"])) == 32, key
        assert "d" not in key, "the JWKS must not publish the private key"
    assert len({k["kid"] for k in jwks["keys"]}) == len(jwks["keys"]), jwks
    return jwks


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{request_id}\n{user_id}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode("utf-8")


def verify_webhook(headers: dict[str, str], body: bytes, jwks: dict, now: float | None = None) -> str:
    """Returns the kid that verifies `body` under `headers`; raises WebhookVerificationError otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    headers = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in SIGNATURE_HEADERS if not headers.get(h)]
    if missing:
        raise WebhookVerificationError(f"missing headers {missing}")
    request_id, user_id, timestamp, signature = (headers[h] for h in SIGNATURE_HEADERS)
    if not timestamp.isdigit():
        raise WebhookVerificationError(f"timestamp {timestamp!r} is not unix seconds")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise WebhookVerificationError(f"timestamp {timestamp} outside ±{TOLERANCE_S} s of {now:.0f}")
    try:
        raw_signature = bytes.fromhex(signature)
    except ValueError as exc:
        raise WebhookVerificationError(f"signature is not hex: {signature!r}") from exc
    if len(raw_signature) != 64:
        raise WebhookVerificationError(f"signature is {len(raw_signature)} bytes, expected 64")
    message = signed_message(request_id, user_id, timestamp, body)
    for key in jwks.get("keys", []):
        if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            continue
        public = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
        try:
            public.verify(raw_signature, message)
            return key["kid"]
        except InvalidSignature:
            continue
    raise WebhookVerificationError("no JWKS key verifies the signature")
