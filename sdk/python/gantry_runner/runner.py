"""The runner: one asyncio loop that registers, claims, runs, heartbeats and posts (runner protocol v1).

Tasks on the loop:
- one claim loop per function: a long-poll `claim` for up to that function's free capacity;
- one heartbeat loop: a long-poll `heartbeat` for every request held (running, or finished and not yet posted),
  so a cancel arrives within milliseconds and leases are renewed at least every `wait_seconds`;
- one flusher: every 0.2 s, the buffered logs/progress/partials of each request in one `events` call;
- one poster: everything finished since its last call in one `POST /results`, retried until the host answers;
- a connector, while the host is unreachable: `register` with backoff (0.5 s doubling to 10 s).

Sync functions run in a thread pool sized to the total concurrency; async ones are tasks on the loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional
from urllib.parse import quote

import httpx
import pydantic_core
from pydantic import BaseModel, ValidationError

from . import __version__, _http
from .app import KIND_ASYNC, KIND_ASYNC_GEN, KIND_GEN, KIND_SYNC, App, FunctionSpec
from .context import Context
from .files import (FETCH_TIMEOUT_S, MAX_FETCH_BYTES, MAX_REDIRECTS, decode_data_uri, find_loc, is_store_url,
                    origin, public_origin_of, short)
from .types import Cancelled, FunctionError, InputError

log = logging.getLogger("gantry_runner")


def _remember_missing_sniffio() -> None:
    """httpcore tries `import sniffio` on every request; when it is not installed, each try searches sys.path again
    (failed imports are not cached), a large share of a small request's CPU. Record its absence once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_remember_missing_sniffio()

LEASE_HEADER = "X-Gantry-Lease-Token"
FLUSH_INTERVAL_S = 0.2
MAX_RESULTS_PER_CALL = 256
DEFAULT_GRACE_S = 30.0
CLAIM_WAIT_S = 3.0
MAX_CLAIM_BATCH = 256  # the host's limit on one claim's `max`  # short enough that a stopping runner waits little for its claims in flight


class Fatal(Exception):
    """The host refused this runner for good (bad token, function outside the token's globs, conflict)."""


class _TimedOut(Exception):
    """The function ran past its timeout (distinct from a TimeoutError the function raised itself)."""


class LeaseLost(Exception):
    """The host says this instance no longer holds the request's lease: stop, post nothing."""


class Backoff:
    """0.5 s doubling to 10 s (with a little jitter); `reset()` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 10.0):
        self.first, self.cap, self.next = first, cap, first

    def reset(self) -> None:
        self.next = self.first

    def step(self) -> float:
        delay = self.next
        self.next = min(self.cap, self.next * 2)
        return delay * random.uniform(0.9, 1.1)

    async def sleep(self) -> None:
        await asyncio.sleep(self.step())


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
        return str(detail)
    return str(body)[:300]


def _error_type(response: httpx.Response) -> Optional[str]:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error_type") if isinstance(body, dict) else None


def _error_type_name(value: Any, default: str = "function_error") -> str:
    """An error_type the host accepts: 1-64 characters of a-z, 0-9 and _."""
    if not isinstance(value, str) or not value:
        return default
    name = "".join(c if ("a" <= c <= "z" or "0" <= c <= "9" or c == "_") else "_" for c in value.lower())[:64]
    return name.strip("_") or default


def _answer_error(answer: dict) -> tuple[Optional[str], Any]:
    """(error_type, detail) of one entry of a batched answer (`error` holds the envelope) or a single answer."""
    envelope = answer.get("error") if isinstance(answer.get("error"), dict) else answer
    return envelope.get("error_type"), envelope.get("detail")


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return pydantic_core.to_jsonable_python(value)


def default_instance() -> str:
    host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname())[:40] or "runner"
    return f"{host}-{os.getpid()}-{os.urandom(2).hex()}"


# ---------------------------------------------------------------------------------------------------------------------
class Job:
    """One claimed attempt. Mutated on the loop; `events`, `progress` and `stop_reason` are also touched by the
    function's thread (deque appends and attribute stores are atomic under the GIL)."""

    __slots__ = ("request_id", "lease_token", "attempt", "max_attempts", "sync_mode", "input", "spec", "events",
                 "progress", "stop_reason", "finished", "abandoned", "task", "flush_lock", "flush_task",
                 "flush_again", "started")

    def __init__(self, claim: dict, spec: FunctionSpec):
        self.request_id: str = claim["request_id"]
        self.lease_token: str = claim["lease_token"]
        self.attempt: int = int(claim.get("attempt") or 1)
        self.max_attempts: int = int(claim.get("max_attempts") or spec.max_attempts)
        self.sync_mode: bool = bool(claim.get("sync_mode"))
        self.input = claim.get("input")
        if self.input is None:
            self.input = {}
        self.spec = spec
        self.events: deque = deque()
        self.progress: Optional[float] = None
        self.stop_reason: Optional[str] = None   # cancel | timeout | lost | shutdown
        self.finished = False                    # an outcome was decided (posted or queued for posting)
        self.abandoned = False                   # lost or released: post nothing more
        self.task: Optional[asyncio.Task] = None
        self.flush_lock: Optional[asyncio.Lock] = None
        self.flush_task: Optional[asyncio.Task] = None
        self.flush_again = False
        self.started = time.monotonic()

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pending_events(self) -> bool:
        return bool(self.events) or self.progress is not None


class Outcome:
    __slots__ = ("job", "body", "kind")

    def __init__(self, job: Job, body: dict, kind: str):
        self.job, self.body, self.kind = job, body, kind


# ---------------------------------------------------------------------------------------------------------------------
class HostIO:
    """File reads and uploads of a request, bound to one event loop's HTTP clients."""

    def __init__(self, runner: "Runner", client: httpx.AsyncClient, fetch_client: httpx.AsyncClient):
        self.runner = runner
        self.client = client
        self.fetch_client = fetch_client

    async def read_file(self, job: Job, url: str) -> bytes:
        if not isinstance(url, str) or not url:
            raise InputError("a file URL must be a non-empty string", find_loc(job.input, url) or [])
        if url[:5].lower() == "data:":
            try:
                return decode_data_uri(url)[1]
            except ValueError as exc:
                raise InputError(str(exc), find_loc(job.input, url) or []) from None
        if is_store_url(url, self.runner.store_origins):
            return await self._read_store(job, url)
        return await self._fetch(job, url)

    async def _read_store(self, job: Job, url: str) -> bytes:
        path = f"/requests/{quote(job.request_id, safe='')}/files"
        tries = 0
        while True:
            try:
                r = await self.client.get(path, params={"url": url}, headers={LEASE_HEADER: job.lease_token},
                                          timeout=httpx.Timeout(120.0, connect=5.0))
            except httpx.TransportError as exc:
                tries += 1
                if tries >= 4:
                    raise RuntimeError(f"cannot reach the host to read {short(url)}: {exc!r}") from None
                await asyncio.sleep(0.5 * tries)
                continue
            if r.status_code == 200:
                return r.content
            if r.status_code == 404:
                raise InputError(f"file not found: {short(url)}", find_loc(job.input, url) or [],
                                 error_type="file_not_found")
            if r.status_code == 409:
                raise LeaseLost(job.request_id)
            if r.status_code >= 500 and tries < 3:
                tries += 1
                await asyncio.sleep(0.5 * tries)
                continue
            raise RuntimeError(f"the host answered {r.status_code} reading {short(url)}: {_detail(r)}")

    async def _fetch(self, job: Job, url: str) -> bytes:
        loc = find_loc(job.input, url) or []
        if origin(url) is None:
            raise InputError(f"unsupported URL (http, https or data: only): {short(url)}", loc)
        try:
            return await asyncio.wait_for(self._fetch_body(url, loc), FETCH_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise InputError(f"fetching {short(url)} took longer than {FETCH_TIMEOUT_S:.0f} s", loc) from None
        except httpx.HTTPError as exc:
            raise InputError(f"cannot fetch {short(url)}: {exc}", loc) from None

    async def _fetch_body(self, url: str, loc: list) -> bytes:
        async with self.fetch_client.stream("GET", url) as r:
            if r.status_code != 200:
                raise InputError(f"fetching {short(url)} answered HTTP {r.status_code}", loc)
            length = r.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_FETCH_BYTES:
                raise InputError(f"{short(url)} is larger than {MAX_FETCH_BYTES >> 20} MiB", loc)
            chunks, size = [], 0
            async for chunk in r.aiter_bytes():
                size += len(chunk)
                if size > MAX_FETCH_BYTES:
                    raise InputError(f"{short(url)} is larger than {MAX_FETCH_BYTES >> 20} MiB", loc)
                chunks.append(chunk)
            return b"".join(chunks)

    async def upload(self, job: Job, data: bytes, content_type: str, file_name: Optional[str]) -> dict:
        if job.abandoned:
            raise LeaseLost(job.request_id)
        headers = {"content-type": content_type or "application/octet-stream", LEASE_HEADER: job.lease_token}
        if file_name:
            headers["X-Gantry-File-Name"] = "".join(c for c in str(file_name) if 32 < ord(c) < 127)[:200] or "file"
        path = f"/requests/{quote(job.request_id, safe='')}/files"
        tries = 0
        while True:
            try:
                r = await self.client.post(path, content=data, headers=headers,
                                           timeout=httpx.Timeout(300.0, connect=5.0))
            except httpx.TransportError as exc:
                tries += 1
                if tries >= 4:
                    raise RuntimeError(f"cannot reach the host to upload an output: {exc!r}") from None
                await asyncio.sleep(0.5 * tries)
                continue
            if r.status_code == 200:
                body = r.json()
                learned = public_origin_of(body.get("url") or "")
                if learned is not None:
                    self.runner.store_origins.add(learned)
                return body
            if r.status_code == 409:
                raise LeaseLost(job.request_id)
            if r.status_code >= 500 and tries < 3:
                tries += 1
                await asyncio.sleep(0.5 * tries)
                continue
            raise RuntimeError(f"the host refused an output file ({r.status_code}): {_detail(r)}")


class SideLoop:
    """A second event loop in its own thread, for the blocking ctx helpers called from the main loop's thread (an
    async function using `ctx.read_file` instead of `read_file_async`): the call blocks the main loop, but it cannot
    deadlock on it."""

    def __init__(self, runner: "Runner"):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), name="gantry-side-loop", daemon=True)
        self.thread.start()
        ready.wait()
        self.io = asyncio.run_coroutine_threadsafe(self._make_io(runner), self.loop).result()

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _make_io(self, runner: "Runner") -> HostIO:
        client, fetch_client = runner.make_clients()
        return HostIO(runner, client, fetch_client)

    def close(self) -> None:
        async def shut():
            await self.io.client.aclose()
            await self.io.fetch_client.aclose()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


# ---------------------------------------------------------------------------------------------------------------------
class Runner:
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

    # -- clients ---------------------------------------------------------------------------------------------------
    def make_clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
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
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    async def serve(self) -> int:
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.client, fetch_client = self.make_clients()
        self.io = HostIO(self, self.client, fetch_client)
        total = sum(self.capacity[fid] for fid, s in self.specs.items() if s.kind in (KIND_SYNC, KIND_GEN))
        self.pool = ThreadPoolExecutor(max_workers=max(1, total), thread_name_prefix="gantry-fn")
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self.results_waiting = asyncio.Event()
        self.slot_freed = {fid: asyncio.Event() for fid in self.specs}
        self._signals = 0
        self._grace_deadline: Optional[float] = None
        self._install_signals()
        log.info("runner %s starting: %s → %s (%s)", self.instance,
                 ", ".join(f"{fid}×{self.capacity[fid]}" for fid in self.specs), self.url, f"sdk {__version__}")
        try:
            try:
                await self._connect(first=True)
            except Fatal as exc:
                log.error("%s", exc)
                return 2
            if self.stopping:
                return 0
            workers = [self.spawn(self._claim_loop(spec)) for spec in self.specs.values()]
            background = [self.spawn(self._heartbeat_loop()), self.spawn(self._flush_loop()),
                          self.spawn(self._poster_loop())]
            await self.stopped.wait()
            await self._drain(workers)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, *workers, return_exceptions=True)
            return self.exit_code
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self.client.aclose()
            await fetch_client.aclose()
            if self._side is not None:
                self._side.close()
            # idle workers exit at once; one still inside a function cannot be stopped (serve() then exits hard)
            self.pool.shutdown(wait=self.threads_busy == 0, cancel_futures=True)
            log.info("runner %s stopped", self.instance)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass

    def _on_signal(self, sig) -> None:
        self._signals += 1
        if self._signals == 1:
            held = sum(1 for j in self.held.values() if not j.finished)
            log.info("%s: stopping claims; %d request(s) in flight get %.0f s to finish", signal.Signals(sig).name,
                     held, self.grace_seconds)
            self.stop()
        else:
            log.info("%s again: releasing what is still running now", signal.Signals(sig).name)
            self._grace_deadline = time.monotonic()

    def stop(self, exit_code: Optional[int] = None) -> None:
        """Begins a graceful stop (what SIGTERM does)."""
        if exit_code is not None:
            self.exit_code = exit_code
        if not self.stopping:
            self.stopping = True
            self._grace_deadline = time.monotonic() + self.grace_seconds
            self.ready.set()  # wakes loops waiting for a connection or a free slot, so they see `stopping`
            for event in self.slot_freed.values():
                event.set()
        self.stopped.set()

    async def _pause(self, seconds: float) -> None:
        """Sleeps, but no longer than until a stop begins."""
        if self.stopping:
            return
        try:
            await asyncio.wait_for(self.stopped.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _drain(self, workers: list[asyncio.Task]) -> None:
        """Claims in flight are not cut off (a claim the host answered but we never read would strand its jobs until
        their leases expire): they end within `claim_wait`, and what they bring is released at once. Running work
        gets the grace period, then is released. A second signal cuts both short."""
        releases: list[asyncio.Task] = []
        while True:
            if self._signals > 1:
                for task in workers:
                    task.cancel()
            claims_done = all(w.done() for w in workers)
            busy = [j for j in self.held.values() if not j.finished and not j.abandoned]
            past = time.monotonic() >= (self._grace_deadline or 0)
            if busy and past:
                log.info("grace period over: releasing %d request(s)", len(busy))
                for job in busy:
                    job.abandoned = True
                    job.stop("shutdown")
                    releases.append(self.spawn(self._release(job)))
                busy = []
            if claims_done and not busy:
                break
            await asyncio.sleep(0.05)
        await asyncio.gather(*releases, *self._releasing, return_exceptions=True)
        # 3. post what finished (a bounded wait: the host may be gone)
        deadline = time.monotonic() + 10.0
        while any(not o.job.abandoned for o in self.outbox) and time.monotonic() < deadline:
            self.results_waiting.set()
            await asyncio.sleep(0.05)
        unposted = [o for o in self.outbox if not o.job.abandoned]
        if unposted:
            log.error("exiting with %d finished result(s) the host did not take: %s", len(unposted),
                      ", ".join(o.job.request_id for o in unposted))
            self.exit_code = self.exit_code or 1

    async def _release(self, job: Job) -> None:
        backoff = Backoff(0.25, 2.0)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                r = await self.client.post(f"/requests/{quote(job.request_id, safe='')}/release",
                                           json={"lease_token": job.lease_token}, timeout=10.0)
                if r.status_code >= 500 and time.monotonic() < deadline:
                    await backoff.sleep()
                    continue
                if r.status_code not in (200, 409):
                    log.warning("release of %s answered %s: %s", job.request_id, r.status_code, _detail(r))
                break
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    log.warning("could not release %s (%r): its lease will expire", job.request_id, exc)
                    break
                await backoff.sleep()
        self._forget(job)

    # -- registration and connection ---------------------------------------------------------------------------------
    async def _register(self) -> None:
        body = {"instance": self.instance, "sdk": f"python/{__version__}",
                "functions": self.app.declarations(self.concurrency_scale)}
        r = await self.client.post("/register", json=body, timeout=30.0)
        if r.status_code == 200:
            data = r.json()
            self.lease_seconds = float(data.get("lease_seconds") or self.lease_seconds)
            self.heartbeat_wait = max(0.5, min(10.0, self.lease_seconds / 3,
                                               float(data.get("heartbeat_seconds") or 10.0)))
            max_wait = float(data.get("max_wait_seconds") or 30)
            self.claim_wait = max(1.0, min(CLAIM_WAIT_S, max_wait))
            changed = [f.get("id") for f in data.get("functions", []) if f.get("changed")]
            log.info("registered %s as %s/%s (lease %.0f s)%s", ", ".join(self.specs), data.get("runner_id"),
                     self.instance, self.lease_seconds, f"; changed: {', '.join(changed)}" if changed else "")
            return
        if r.status_code in (401, 403, 409, 422):
            raise Fatal(f"the host refused registration ({r.status_code} {_error_type(r)}): {_detail(r)}")
        raise httpx.TransportError(f"register answered {r.status_code}: {_detail(r)}")

    async def _connect(self, first: bool = False) -> None:
        backoff = Backoff()
        failures = 0
        while not self.stopping:
            try:
                await self._register()
                if failures:
                    log.info("connected to %s after %d failed attempt(s)", self.url, failures)
                self.ready.set()
                return
            except httpx.TransportError as exc:
                failures += 1
                level = logging.INFO if failures == 1 else logging.DEBUG
                log.log(level, "host %s unreachable (%s); retrying with backoff", self.url, exc or type(exc).__name__)
                await self._pause(backoff.step())

    def _connection_lost(self) -> None:
        if self.ready.is_set() and not self.stopping:
            self.ready.clear()
            self.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self._connect()
        except Fatal as exc:
            log.error("%s", exc)
            self.stop(2)

    # -- claiming ----------------------------------------------------------------------------------------------------
    async def _claim_loop(self, spec: FunctionSpec) -> None:
        fid = spec.id
        capacity = self.capacity[fid]
        freed = self.slot_freed[fid]
        backoff = Backoff()
        while not self.stopping:
            if not self.ready.is_set():
                await self.ready.wait()
                continue
            free = capacity - self.running[fid]
            if free <= 0:
                freed.clear()
                await freed.wait()
                continue
            try:
                r = await self.client.post("/claim", json={"instance": self.instance, "functions": [fid],
                                                           "max": min(free, MAX_CLAIM_BATCH),
                                                           "wait_seconds": self.claim_wait},
                                           timeout=httpx.Timeout(self.claim_wait + 15.0, connect=5.0))
            except httpx.TransportError as exc:
                log.debug("claim %s: %r", fid, exc)
                self._connection_lost()
                await self._pause(backoff.step())
                continue
            if r.status_code == 200:
                backoff.reset()
                jobs = r.json().get("jobs") or []
                for claim in jobs:
                    if self.stopping:
                        self._releasing.append(self.spawn(self._release(Job(claim, spec))))
                    else:
                        self._start(claim, spec)
                continue
            kind = _error_type(r)
            if r.status_code == 404 and kind == "function_not_found":
                log.info("the host does not know %s (a new store?): registering again", fid)
                self._connection_lost()
            elif r.status_code in (401, 403):
                log.error("claim %s refused (%s): %s", fid, r.status_code, _detail(r))
                self.stop(2)
                return
            else:
                log.warning("claim %s answered %s: %s", fid, r.status_code, _detail(r))
            await self._pause(backoff.step())

    def _start(self, claim: dict, spec: FunctionSpec) -> None:
        job = Job(claim, spec)
        previous = self.held.get(job.request_id)
        if previous is not None and not previous.abandoned:
            previous.abandoned = True  # an older attempt we still thought we held: the host moved on
            previous.stop("lost")
        self.held[job.request_id] = job
        self.running[spec.id] += 1
        job.task = None
        self.spawn(self._run_job(job))

    def _slot_done(self, job: Job) -> None:
        fid = job.spec.id
        self.running[fid] -= 1
        self.slot_freed[fid].set()

    # -- running a job -------------------------------------------------------------------------------------------------
    async def _run_job(self, job: Job) -> None:
        spec = job.spec
        ctx = Context(job, self)
        error: Optional[dict] = None
        output: Any = None
        slot_released_later = False
        try:
            value = self._validate(job)
            if spec.kind in (KIND_SYNC, KIND_GEN):
                future = self.loop.run_in_executor(self.pool, self._call_sync, job, ctx, value)
                try:
                    output = await asyncio.wait_for(asyncio.shield(future), spec.timeout)
                except asyncio.TimeoutError:
                    if future.done():  # the function's own TimeoutError
                        raise
                    job.stop("timeout")
                    slot_released_later = True
                    future.add_done_callback(lambda f: (f.cancelled() or f.exception(), self._slot_done(job)))
                    raise _TimedOut() from None
            else:
                job.task = self.loop.create_task(self._call_async(job, ctx, value))
                if job.stop_reason is not None:
                    job.task.cancel()
                try:
                    output = await asyncio.wait_for(job.task, spec.timeout)
                except asyncio.TimeoutError:
                    if job.task.done() and not job.task.cancelled() and job.task.exception() is not None:
                        raise
                    raise _TimedOut() from None
            output = _dump(output)
        except _TimedOut:
            if job.stop_reason is None:
                job.stop_reason = "timeout"
            error = self._stopped_error(job)
        except asyncio.CancelledError:
            if job.stop_reason is None:  # the runner itself is being torn down
                raise
            error = self._stopped_error(job)
        except Cancelled as exc:
            error = self._stopped_error(job) if job.stop_reason == "timeout" else \
                {"message": exc.message, "error_type": "request_cancelled"}
        except InputError as exc:
            error = {"message": exc.message, "input_error": True, "loc": exc.loc}
            if exc.error_type and exc.error_type != "value_error":
                error["error_type"] = _error_type_name(exc.error_type, "value_error")
        except LeaseLost:
            job.abandoned = True
        except FunctionError as exc:
            error = {**exc.extra, "message": exc.message, "error_type": _error_type_name(exc.error_type)}
        except Exception as exc:  # the function failed: its message is the request's error
            message = str(exc) or type(exc).__name__
            error = {"message": message, "error_type": _error_type_name(getattr(exc, "error_type", None))}
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            job.events.append(("log", {"message": trace.rstrip()[-4000:], "level": "ERROR"}))
            log.warning("%s %s attempt %d failed: %s", spec.id, job.request_id, job.attempt, message,
                        exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            if not slot_released_later:
                self._slot_done(job)
        await self._finish(job, output, error)

    def _validate(self, job: Job) -> Any:
        model = job.spec.input_model
        if model is None:
            return job.input
        try:
            return model.model_validate(job.input)
        except ValidationError as exc:
            issues = exc.errors(include_url=False)
            first = issues[0] if issues else {}
            message = "; ".join(f"{'.'.join(map(str, i.get('loc', ())))}: {i.get('msg')}" for i in issues)
            raise InputError(message or "invalid input", list(first.get("loc", ()))) from None

    def _stopped_error(self, job: Job) -> Optional[dict]:
        reason = job.stop_reason
        if reason == "timeout":
            return {"message": f"{job.spec.id} timed out after {job.spec.timeout:g} s", "error_type": "request_timeout"}
        if reason == "cancel":
            return {"message": "request cancelled", "error_type": "request_cancelled"}
        job.abandoned = True  # lost or shutdown: nothing to post
        return None

    def _call_sync(self, job: Job, ctx: Context, value: Any) -> Any:
        self.threads_busy += 1  # only read for the exit decision; a lost update there is harmless
        try:
            return self._call_sync_inner(job, ctx, value)
        finally:
            self.threads_busy -= 1

    def _call_sync_inner(self, job: Job, ctx: Context, value: Any) -> Any:
        spec = job.spec
        args = (value, ctx) if spec.wants_ctx else (value,)
        if spec.kind == KIND_SYNC:
            return spec.fn(*args)
        generator = spec.fn(*args)
        last = None
        try:
            while True:
                if job.stop_reason is not None:
                    generator.close()
                    raise Cancelled()
                try:
                    item = next(generator)
                except StopIteration as done:
                    return done.value if done.value is not None else last
                last = item
                self._push_partial(job, item, from_thread=True)
        finally:
            generator.close()

    async def _call_async(self, job: Job, ctx: Context, value: Any) -> Any:
        spec = job.spec
        args = (value, ctx) if spec.wants_ctx else (value,)
        if spec.kind == KIND_ASYNC:
            return await spec.fn(*args)
        last = None
        generator = spec.fn(*args)
        try:
            async for item in generator:
                last = item
                self._push_partial(job, item, from_thread=False)
        finally:
            await generator.aclose()
        return last

    def _push_partial(self, job: Job, item: Any, from_thread: bool) -> None:
        job.events.append(("partial", _dump(item)))
        if from_thread:
            self.loop.call_soon_threadsafe(self._schedule_flush, job)
        else:
            self._schedule_flush(job)

    async def _finish(self, job: Job, output: Any, error: Optional[dict]) -> None:
        if job.abandoned:
            self._done_line(job, "abandoned")
            self._forget(job)
            return
        job.finished = True
        if job.pending_events():
            await self._flush_job(job, final=True)
            if job.abandoned:
                return
        kind = "result" if error is None else "failure"
        body = {"request_id": job.request_id, "lease_token": job.lease_token}
        if error is None:
            body["output"] = output
        else:
            body["error"] = error
        self._done_line(job, "ok" if error is None else (error.get("error_type") or "input_error"))
        self.outbox.append(Outcome(job, body, kind))
        self.results_waiting.set()

    def _done_line(self, job: Job, what: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s attempt %d: %s in %.1f ms", job.spec.id, job.request_id, job.attempt, what,
                      (time.monotonic() - job.started) * 1000)

    # -- events ----------------------------------------------------------------------------------------------------------
    def _schedule_flush(self, job: Job) -> None:
        if job.abandoned:
            return
        if job.flush_task is not None and not job.flush_task.done():
            job.flush_again = True
            return
        job.flush_task = self.spawn(self._flush_job(job))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            jobs = [j for j in self.held.values() if not j.abandoned and not j.finished and j.pending_events()
                    and (j.flush_task is None or j.flush_task.done())]
            if jobs:
                await asyncio.gather(*(self._flush_job(j) for j in jobs), return_exceptions=True)

    async def _flush_job(self, job: Job, final: bool = False) -> None:
        if job.flush_lock is None:
            job.flush_lock = asyncio.Lock()
        async with job.flush_lock:
            while True:
                job.flush_again = False
                if job.abandoned or not job.pending_events():
                    return
                await self._post_events(job, final)
                if not job.flush_again and not final:
                    return

    async def _post_events(self, job: Job, final: bool) -> None:
        drained = []
        events = job.events
        while events:
            drained.append(events.popleft())
        progress, job.progress = job.progress, None
        body: dict = {"lease_token": job.lease_token}
        logs = [e for kind, e in drained if kind == "log"]
        partial = [e for kind, e in drained if kind == "partial"]
        if logs:
            body["logs"] = logs
        if partial:
            body["partial"] = partial
        if progress is not None:
            body["progress"] = progress
        backoff = Backoff(0.2, 2.0)
        for attempt in range(4):
            try:
                r = await self.client.post(f"/requests/{quote(job.request_id, safe='')}/events", json=body)
            except httpx.TransportError as exc:
                log.debug("events for %s: %r", job.request_id, exc)
                if not final:
                    # still running: keep them, in order, for the next flush (the host may be back by then)
                    events.extendleft(reversed(drained))
                    if job.progress is None:
                        job.progress = progress
                    return
                if attempt == 3:
                    log.warning("dropping %d event(s) of %s: the host is unreachable", len(drained), job.request_id)
                    return
                await backoff.sleep()
                continue
            if r.status_code == 200:
                try:
                    if r.json().get("cancel_requested") and job.stop_reason is None and not job.finished:
                        job.stop("cancel")
                except ValueError:
                    pass
                return
            if r.status_code in (404, 409):
                self._lose(job, f"events answered {r.status_code} {_error_type(r) or ''}".rstrip())
                return
            if r.status_code >= 500 and attempt < 3:
                await backoff.sleep()
                continue
            log.warning("events for %s answered %s (dropped): %s", job.request_id, r.status_code, _detail(r))
            return

    # -- heartbeats ------------------------------------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        backoff = Backoff()
        known_cancels: set[str] = set()
        while True:
            sent = {j.request_id: j.lease_token for j in self.held.values() if not j.abandoned}
            wait = self.heartbeat_wait if not self.stopping else min(self.heartbeat_wait, 1.0)
            started = time.monotonic()
            try:
                r = await self.client.post("/heartbeat", json={
                    "instance": self.instance,
                    # a cancel already heard is acknowledged, so the host stops repeating it and the poll can wait
                    "in_flight": [{"request_id": rid, "lease_token": tok, "cancelling": rid in known_cancels}
                                  for rid, tok in sent.items()],
                    "wait_seconds": wait}, timeout=httpx.Timeout(wait + 15.0, connect=5.0))
            except httpx.TransportError as exc:
                log.debug("heartbeat: %r", exc)
                self._connection_lost()
                await backoff.sleep()
                continue
            if r.status_code != 200:
                log.warning("heartbeat answered %s: %s", r.status_code, _detail(r))
                if r.status_code in (401, 403):
                    self.stop(2)
                await backoff.sleep()
                continue
            backoff.reset()
            data = r.json()
            if data.get("lease_seconds"):
                self.lease_seconds = float(data["lease_seconds"])
                self.heartbeat_wait = max(0.5, min(10.0, self.lease_seconds / 3))
            news = False
            for rid in data.get("lost") or []:
                job = self.held.get(rid)
                # a finished job's outcome is being posted: the post's answer settles it (409 if truly lost)
                if job is not None and sent.get(rid) == job.lease_token and not job.finished:
                    self._lose(job, "the host reports its lease lost")
                    news = True
            for rid in data.get("cancel") or []:
                job = self.held.get(rid)
                if job is None:
                    continue
                if rid not in known_cancels:
                    news = True
                    known_cancels.add(rid)
                if job.stop_reason is None and not job.finished and not job.abandoned:
                    log.debug("cancel requested for %s", rid)
                    job.stop("cancel")
            known_cancels &= set(self.held)
            if not news and time.monotonic() - started < 0.2 and (data.get("cancel") or data.get("lost")):
                await asyncio.sleep(0.5)  # the host repeats what we know: do not spin

    def _lose(self, job: Job, why: str) -> None:
        if not job.abandoned:
            log.info("%s %s attempt %d: %s; abandoning it", job.spec.id, job.request_id, job.attempt, why)
            job.abandoned = True
            job.stop("lost")
        self._forget(job)

    def _forget(self, job: Job) -> None:
        if self.held.get(job.request_id) is job:
            del self.held[job.request_id]

    # -- results ---------------------------------------------------------------------------------------------------------
    async def _poster_loop(self) -> None:
        backoff = Backoff()
        while True:
            await self.results_waiting.wait()
            self.results_waiting.clear()
            await asyncio.sleep(0)  # jobs finishing in the same loop turn join this batch
            while self.outbox:
                batch = [o for o in self.outbox[:MAX_RESULTS_PER_CALL] if not o.job.abandoned]
                taken = len(self.outbox[:MAX_RESULTS_PER_CALL])
                del self.outbox[:taken]
                if not batch:
                    continue
                try:
                    retry = await (self._post_batch(batch) if self.batch_results else self._post_each(batch))
                except httpx.TransportError as exc:
                    log.debug("posting %d result(s): %r", len(batch), exc)
                    retry = batch
                    self._connection_lost()
                if retry:
                    self.outbox[:0] = retry
                    await backoff.sleep()
                else:
                    backoff.reset()

    async def _post_batch(self, batch: list[Outcome]) -> list[Outcome]:
        r = await self.client.post("/results", json={"instance": self.instance, "results": [
            {k: v for k, v in o.body.items() if k != "_fallback"} if "_fallback" in o.body else o.body
            for o in batch]})
        if r.status_code in (404, 405):
            log.info("the host has no batched results route (%s); posting one by one", r.status_code)
            self.batch_results = False
            return await self._post_each(batch)
        if r.status_code >= 500 or r.status_code == 429:
            log.warning("posting %d result(s) answered %s; retrying", len(batch), r.status_code)
            return batch
        if r.status_code != 200:
            log.warning("batched results answered %s (%s); posting one by one", r.status_code, _detail(r))
            return await self._post_each(batch)
        answers = {a.get("request_id"): a for a in (r.json().get("results") or [])}
        retry = []
        for outcome in batch:
            answer = answers.get(outcome.job.request_id)
            if answer is None:
                retry.append(outcome)
                continue
            status = int(answer.get("status") or 0)
            if status >= 500:
                retry.append(outcome)
            else:
                self._settle(outcome, status, answer)
        return retry

    async def _post_each(self, batch: list[Outcome]) -> list[Outcome]:
        retry = []
        for outcome in batch:
            path = f"/requests/{quote(outcome.job.request_id, safe='')}/{outcome.kind}"
            body = {k: v for k, v in outcome.body.items() if k not in ("request_id", "_fallback")}
            try:
                r = await self.client.post(path, json=body)
            except httpx.TransportError:
                retry.append(outcome)
                continue
            if r.status_code >= 500 or r.status_code == 429:
                retry.append(outcome)
                continue
            answer: dict = {"status": r.status_code}
            try:
                parsed = r.json()
                if isinstance(parsed, dict):
                    answer.update(parsed)
            except ValueError:
                pass
            self._settle(outcome, r.status_code, answer)
        return retry

    def _settle(self, outcome: Outcome, status: int, answer: dict) -> None:
        job = outcome.job
        error_type, detail = _answer_error(answer)
        if status in (413, 422) and not outcome.body.get("_fallback"):
            # The host refused the outcome itself (an output over its body limit, a malformed error): the attempt
            # still has to end, so report that as a plain failure.
            if outcome.kind == "result":
                message = f"the host refused the output ({status} {error_type}): {detail}"
            else:
                message = str(outcome.body.get("error", {}).get("message") or "function failed")[:16000]
            log.warning("%s %s attempt %d: the host refused the %s (%s %s): %s", job.spec.id, job.request_id,
                        job.attempt, outcome.kind, status, error_type, detail)
            self.outbox.append(Outcome(job, {"request_id": job.request_id, "lease_token": job.lease_token,
                                             "error": {"message": message[:16000], "error_type": "function_error"},
                                             "_fallback": True}, "failure"))
            self.results_waiting.set()
            return
        if status == 200:
            pass
        elif status == 409:
            log.info("%s %s attempt %d: %s is moot (409 %s)", job.spec.id, job.request_id, job.attempt, outcome.kind,
                     error_type or "lease_lost")
        else:
            log.warning("%s %s attempt %d: %s answered %s %s: %s", job.spec.id, job.request_id, job.attempt,
                        outcome.kind, status, error_type, detail)
        self._forget(job)


# ---------------------------------------------------------------------------------------------------------------------
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
