"""A runner's life from start to exit: connect, start the loops, and on SIGTERM/SIGINT (or `stop()`) stop claiming,
give running work its grace period, release what is left and post what finished."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import httpx

from . import __version__
from .app import KIND_GEN, KIND_SYNC
from .hostio import HostIO
from .jobs import Job
from .protocol import Backoff, Fatal, detail_of, log, request_path


class Lifecycle:
    """How a `Runner` starts, stops and drains (a part of `Runner`)."""

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
        # then post what finished (a bounded wait: the host may be gone)
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
        """Gives the request back to the queue (the attempt is not counted), so it need not wait for its lease."""
        backoff = Backoff(0.25, 2.0)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                r = await self.client.post(request_path(job.request_id, "release"),
                                           json={"lease_token": job.lease_token}, timeout=10.0)
                if r.status_code >= 500 and time.monotonic() < deadline:
                    await backoff.sleep()
                    continue
                if r.status_code not in (200, 409):
                    log.warning("release of %s answered %s: %s", job.request_id, r.status_code, detail_of(r))
                break
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    log.warning("could not release %s (%r): its lease will expire", job.request_id, exc)
                    break
                await backoff.sleep()
        self._forget(job)
