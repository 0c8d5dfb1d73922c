"""Fixtures that run the real `gantry serve` binary on 127.0.0.1 and the loopback helpers the tests talk to.

The binary is $GANTRY_BIN (relative paths are taken from the repository root), default `.build/debug/gantry`.
Every server gets a free port, a fresh data directory and its own stderr file; readiness is polled on
GET /health against a deadline; every process is killed at teardown, and a failing test shows the stderr tail
of each server still alive at that point.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gantry_compat import REPO_ROOT  # noqa: E402

STARTUP_DEADLINE_S = 30.0
_LIVE: list["GantryServer"] = []


def gantry_binary() -> Path:
    raw = Path(os.environ.get("GANTRY_BIN", ".build/debug/gantry"))
    return raw if raw.is_absolute() else REPO_ROOT / raw


def release_binary() -> Path:
    """The release-mode build the hostile-client tier runs against: $GANTRY_RELEASE_BIN, default
    `.build/release/gantry` (`swift build -c release --product gantry`)."""
    raw = Path(os.environ.get("GANTRY_RELEASE_BIN", ".build/release/gantry"))
    return raw if raw.is_absolute() else REPO_ROOT / raw


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path


class GantryServer:
    """One `gantry serve` process (restartable on the same data directory and port)."""

    def __init__(self, workdir: Path, *, name: str = "gantry", functions_dir: Path | None = None,
                 schemas_dir: Path | None = None, tls: TLSFiles | None = None, api_keys: str | None = None,
                 allow_egress: list[str] | None = None, max_body_bytes: int | None = None,
                 extra_args: list[str] | None = None, runner_tokens: str | None = None,
                 binary: Path | None = None, wrapper: list[str] | None = None, extra_env: dict[str, str] | None = None):
        self.name = name
        self.binary = binary or gantry_binary()
        self.wrapper = wrapper or []  # e.g. ["prlimit", "--nofile=256:256"]: execs the server in the same process
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.functions_dir = functions_dir or REPO_ROOT / "functions"
        self.schemas_dir = schemas_dir or REPO_ROOT / "schemas"
        self.tls = tls
        self.api_keys = api_keys
        self.allow_egress = allow_egress or []
        self.max_body_bytes = max_body_bytes
        self.extra_args = extra_args or []
        self.runner_tokens = runner_tokens
        self.extra_env = extra_env or {}
        self.stderr_path = workdir / "stderr.log"
        self.stdout_path = workdir / "stdout.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # -- addresses -------------------------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def queue_url(self) -> str:
        return self.url + "/queue"

    @property
    def verify(self):
        return str(self.tls.cert) if self.tls else True

    @property
    def db_path(self) -> Path:
        return self.data_dir / "gantry.sqlite"

    def session(self, key: str | None = None) -> requests.Session:
        s = requests.Session()
        s.verify = self.verify
        s.trust_env = False  # no proxies, no CA bundle from the environment
        if key:
            s.headers["Authorization"] = f"Key {key}"
        return s

    # -- lifecycle -------------------------------------------------------------------------------------------
    def command(self) -> list[str]:
        args = [*self.wrapper, str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--functions", str(self.functions_dir),
                "--schemas", str(self.schemas_dir), "--shutdown-grace", "2", "--log-level", "info"]
        if self.tls:
            args += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        if self.allow_egress:
            args += ["--allow-egress", *self.allow_egress]
        if self.max_body_bytes is not None:
            args += ["--max-body-bytes", str(self.max_body_bytes)]
        return args + self.extra_args

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GANTRY_")}
        if self.api_keys:
            env["GANTRY_API_KEYS"] = self.api_keys
        if self.runner_tokens:
            env["GANTRY_RUNNER_TOKENS"] = self.runner_tokens
        env.update(self.extra_env)
        return env

    def start(self, port: int | None = None) -> "GantryServer":
        if not self.binary.is_file():
            pytest.fail(f"gantry binary not found at {self.binary}: run `swift build` in {REPO_ROOT} or set GANTRY_BIN")
        attempts = 1 if port else 3
        for attempt in range(attempts):
            self.port = port or free_port()
            self.starts += 1
            with open(self.stderr_path, "ab") as err, open(self.stdout_path, "ab") as out:
                err.write(f"\n===== start #{self.starts} on port {self.port} =====\n".encode())
                err.flush()
                self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                             env=self.environment(), cwd=str(self.workdir))
            if self not in _LIVE:
                _LIVE.append(self)
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                exited = self.proc.poll() is not None
                if exited and "in use" in self.stderr_tail(2000).lower() and attempt + 1 < attempts:
                    continue
                raise
        raise AssertionError("unreachable")

    def wait_ready(self, deadline_s: float = STARTUP_DEADLINE_S) -> None:
        deadline = time.monotonic() + deadline_s
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                                   f"{self.stderr_tail()}")
            try:
                r = requests.get(self.url + "/health", verify=self.verify, timeout=1)
                if r.status_code == 200:
                    return
                last_error = f"GET /health -> {r.status_code}"
            except requests.RequestException as exc:
                last_error = repr(exc)
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"{self.name} not ready within {deadline_s} s ({last_error}):\n{self.stderr_tail()}")

    def health(self) -> int:
        return requests.get(self.url + "/health", verify=self.verify, timeout=5).status_code

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, grace_s: float = 8.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.kill9()

    def restart(self) -> "GantryServer":
        """Starts again on the same data directory and port (after a kill or stop)."""
        assert self.proc is None or self.proc.poll() is not None, "stop or kill the server first"
        return self.start(port=self.port)

    def dispose(self) -> None:
        self.stop()
        if self in _LIVE:
            _LIVE.remove(self)

    def stderr_tail(self, limit: int = 6000) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text[-limit:]


class ServerPool:
    """Starts servers in their own temp directories and disposes of them all at teardown."""

    def __init__(self, tmp_factory: pytest.TempPathFactory, prefix: str):
        self.tmp_factory = tmp_factory
        self.prefix = prefix
        self.servers: list[GantryServer] = []

    def start(self, name: str = "gantry", **kwargs) -> GantryServer:
        workdir = self.tmp_factory.mktemp(f"{self.prefix}-{name}")
        server = GantryServer(workdir, name=name, **kwargs)
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        for server in self.servers:
            server.dispose()


@pytest.fixture
def gantry_pool(tmp_path_factory, request):
    pool = ServerPool(tmp_path_factory, request.node.name[:40])
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def module_pool(tmp_path_factory, request):
    pool = ServerPool(tmp_path_factory, Path(request.node.name).stem)
    yield pool
    pool.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in list(_LIVE):
            report.sections.append((f"gantry stderr: {server.name} ({server.stderr_path})", server.stderr_tail()))
        from runner_processes import LIVE_RUNNERS

        for runner in list(LIVE_RUNNERS):
            report.sections.append((f"runner log: {runner.name} ({runner.log_path})", runner.log_tail()))


# -- TLS ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TLSFiles:
    """A self-signed certificate for 127.0.0.1 / localhost (it is its own CA for the clients)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return TLSFiles(cert, key)


# -- loopback file server ---------------------------------------------------------------------------------------
class FileServer:
    """http.server on 127.0.0.1:0 in a thread, serving registered byte strings by path and recording requests."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        files, seen = self.files, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                seen.append(self.path)
                entry = files.get(self.path.split("?")[0])
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, content_type = entry
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, content_type: str) -> str:
        self.files[path] = (body, content_type)
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def file_server():
    server = FileServer()
    yield server
    server.close()


# -- connection-counting listener --------------------------------------------------------------------------------
class CountingListener:
    """Accepts (and at once closes) TCP connections on 127.0.0.1 and, on the same port, [::1]; counts them."""

    def __init__(self):
        self.count = 0
        self.peers: list = []
        self._stop = threading.Event()
        self.sockets: list[socket.socket] = []
        for _ in range(20):
            v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            v4.bind(("127.0.0.1", 0))
            port = v4.getsockname()[1]
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                v6.bind(("::1", port))
            except OSError:
                v4.close()
                v6.close()
                continue
            self.sockets = [v4, v6]
            self.port = port
            break
        else:
            raise RuntimeError("no port free on both 127.0.0.1 and ::1")
        for sock in self.sockets:
            sock.listen(64)
            sock.settimeout(0.1)
        self.threads = [threading.Thread(target=self._accept, args=(s,), daemon=True) for s in self.sockets]
        for t in self.threads:
            t.start()

    def _accept(self, sock):
        while not self._stop.is_set():
            try:
                conn, peer = sock.accept()
            except (socket.timeout, OSError):
                continue
            self.count += 1
            self.peers.append(peer)
            conn.close()

    def close(self):
        self._stop.set()
        for t in self.threads:
            t.join(timeout=2)
        for s in self.sockets:
            s.close()


@pytest.fixture
def counting_listener():
    listener = CountingListener()
    yield listener
    listener.close()


# -- webhook receivers ---------------------------------------------------------------------------------------------
@pytest.fixture
def webhook_receivers():
    """`webhook_receivers(script, port=…, default=…, ipv6=…)` → a started `WebhookReceiver`; all closed at teardown
    (hanging replies are released first)."""
    from webhook_receiver import WebhookReceiver

    made: list[WebhookReceiver] = []

    def make(script=None, **kwargs) -> WebhookReceiver:
        receiver = WebhookReceiver(script, **kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


# -- a URL that never answers ----------------------------------------------------------------------------------
@pytest.fixture
def hanging():
    """A loopback URL whose server accepts connections (the kernel does) but never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/image.png"
    sock.close()


# -- runner processes (the Python SDK, sdk/python; see runner_processes.py) ------------------------------------
@pytest.fixture
def runners(tmp_path_factory, request):
    from runner_processes import RunnerPool

    pool = RunnerPool(tmp_path_factory, request.node.name[:40])
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def module_runners(tmp_path_factory, request):
    from runner_processes import RunnerPool

    pool = RunnerPool(tmp_path_factory, Path(request.node.name).stem)
    yield pool
    pool.close()


# -- the official fal client aimed at a test server ----------------------------------------------------------------
@pytest.fixture
def fal(monkeypatch, tls_files):
    """`fal(server, key)` → a fresh `fal_client.SyncClient` whose run, queue, REST and CDN bases point at `server`
    (a TLS server: fal_client speaks https only), with no proxy in the way."""
    import fal_client
    import fal_client.client as fal_module

    from gantry_compat import ALICE

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def connect(server, key: str = ALICE) -> fal_client.SyncClient:
        base = f"https://127.0.0.1:{server.port}"
        monkeypatch.setattr(fal_module, "RUN_URL_FORMAT", base + "/")
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", base + "/queue/")
        monkeypatch.setattr(fal_module, "REST_URL", base)
        monkeypatch.setattr(fal_module, "CDN_URL", base)
        return fal_client.SyncClient(key=key)

    return connect
