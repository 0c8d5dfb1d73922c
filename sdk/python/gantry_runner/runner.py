"""The runner: one asyncio loop that registers, claims, runs, heartbeats and posts (runner protocol v1).

Tasks on the loop:
- one claim loop per function: a long-poll `claim` for up to that function's free capacity (`claims.py`);
- one heartbeat loop: a long-poll `heartbeat` for every request held (running, or finished and not yet posted),
  so a cancel arrives within milliseconds and leases are renewed at least every `wait_seconds` (`heartbeats.py`);
- one flusher: every 0.2 s, the buffered logs/progress/partials of each request in one `events` call (`events.py`);
- one poster: everything finished since its last call in one `POST /results`, retried until the host answers
  (`results.py`);
- a connector, while the host is unreachable: `register` with backoff (0.5 s doubling to 10 s) (`claims.py`).

Sync functions run in a thread pool sized to the total concurrency; async ones are tasks on the loop
(`execution.py`). Starting, signals and the graceful stop are `lifecycle.py`; held requests and slots `jobs.py`.
`Runner` puts those parts together: they share the state that `Runner.__init__` (and, for what needs the running
loop, `Lifecycle.serve`) creates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
from typing import Any, Callable, Optional

import httpx

from . import __version__, _http
from .app import App
from .claims import CLAIM_WAIT_S, MAX_CLAIM_BATCH, Claiming
from .events import FLUSH_INTERVAL_S, EventFlushing
from .execution import Execution
from .files import FETCH_TIMEOUT_S, MAX_REDIRECTS, origin
from .heartbeats import Heartbeating
from .hostio import LEASE_HEADER, HostIO, SideLoop
from .jobs import Job, JobTable, Outcome
from .lifecycle import Lifecycle
from .protocol import Backoff, Fatal, LeaseLost, log
from .results import MAX_RESULTS_PER_CALL, ResultPosting

# importable from here as before the runner was split into modules
__all__ = ["Runner", "serve", "default_instance", "Job", "Outcome", "HostIO", "SideLoop", "Backoff", "Fatal",
           "LeaseLost", "LEASE_HEADER", "FLUSH_INTERVAL_S", "MAX_RESULTS_PER_CALL", "DEFAULT_GRACE_S",
           "CLAIM_WAIT_S", "MAX_CLAIM_BATCH"]

DEFAULT_GRACE_S = 30.0


def default_instance() -> str:
    host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())[:40] or "runner"
    return f"{host}-{os.getpid()}-{os.urandom(2).hex()}"


class Runner(Lifecycle, Claiming, Execution, EventFlushing, Heartbeating, ResultPosting, JobTable):
    """Serves an app's functions for one host until stopped (`serve()`)."""

    def __init__(self, app: App, *, url: str, token: str, instance: Optional[str] = None,
                 concurrency_scale: float = 1.0, grace_seconds: float = DEFAULT_GRACE_S):
        if not app.functions:
            raise ValueError("the app declares no functions")
        self.app = app
        self.url = url.rstrip("/")
        self.token = token
        self.instance = instance or default_instance()
        self.concurrency_scale = concurrency_scale
        self.grace_seconds = grace_seconds
        self.specs = dict(app.functions)
        self.capacity = {fid: spec.scaled_concurrency(concurrency_scale) for fid, spec in self.specs.items()}
        self.running = {fid: 0 for fid in self.specs}
        self.held: dict[str, Job] = {}
        self.outbox: list[Outcome] = []
        gantry = origin(self.url)
        self.store_origins: set = {gantry} if gantry else set()
        public = os.environ.get("GANTRY_PUBLIC_URL")
        if public and origin(public):
            self.store_origins.add(origin(public))
        self.lease_seconds = 60.0
        self.heartbeat_wait = 10.0
        self.claim_wait = CLAIM_WAIT_S
        self.stopping = False
        self.exit_code = 0
        self.batch_results = True
        self._side: Optional[SideLoop] = None
        self._side_lock = threading.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._releasing: list[asyncio.Task] = []
        self.threads_busy = 0

    def make_clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        """The protocol client (the runner API, authenticated) and the client for inputs at other URLs."""
        headers = {"Authorization": f"Bearer {self.token}",
                   "User-Agent": f"gantry-runner/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"}
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0)
        client = httpx.AsyncClient(base_url=self.url + "/runners/v1", headers=headers,
                                   timeout=httpx.Timeout(30.0, connect=5.0), limits=limits,
                                   transport=_http.transport(limits))
        fetch_client = httpx.AsyncClient(
            follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=httpx.Timeout(FETCH_TIMEOUT_S, connect=10.0),
            headers={"User-Agent": f"gantry-runner/{__version__}"})
        return client, fetch_client

    def blocking(self, make: Callable[[HostIO], Any]) -> Any:
        """Runs `make(io)` (a coroutine) to completion from synchronous code: on the main loop from a worker
        thread, on the side loop from the main loop's own thread."""
        if threading.get_ident() == self._loop_thread:
            with self._side_lock:
                if self._side is None:
                    self._side = SideLoop(self)
            side = self._side
            return asyncio.run_coroutine_threadsafe(make(side.io), side.loop).result()
        return asyncio.run_coroutine_threadsafe(make(self.io), self.loop).result()

    def spawn(self, coro) -> asyncio.Task:
        # the loop keeps only weak references to tasks: hold them until done, and cancel what is left at exit
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def serve(app: App, *, url: Optional[str] = None, token: Optional[str] = None, concurrency_scale: float = 1.0,
          grace_seconds: Optional[float] = None, instance: Optional[str] = None) -> int:
    """Runs `app` until it is stopped; returns the exit status."""
    url = url or app.url or os.environ.get("GANTRY_URL")
    token = token or app.token or os.environ.get("GANTRY_RUNNER_TOKEN")
    if not url:
        log.error("no host: set GANTRY_URL (e.g. http://127.0.0.1:8080) or pass App(url=...)")
        return 2
    if not token:
        log.error("no runner token: set GANTRY_RUNNER_TOKEN (ID:SECRET) or pass App(token=...)")
        return 2
    if grace_seconds is None:
        grace_seconds = app.grace_seconds
    if grace_seconds is None:
        grace_seconds = float(os.environ.get("GANTRY_RUNNER_GRACE_SECONDS") or DEFAULT_GRACE_S)
    runner = Runner(app, url=url, token=token, instance=instance or app.instance or os.environ.get("GANTRY_INSTANCE"),
                    concurrency_scale=concurrency_scale, grace_seconds=grace_seconds)
    code = asyncio.run(runner.serve())
    if runner.threads_busy > 0:
        # sync functions that ignore ctx.cancelled cannot be stopped; do not wait for them at interpreter exit
        log.warning("%d function call(s) still running at exit", runner.threads_busy)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
