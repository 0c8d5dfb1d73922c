"""Sending a running request's logs, progress and partial outputs: buffered per job, posted in one `events` call per
flush (every 0.2 s, at once for a partial output, and before the result)."""

from __future__ import annotations

import asyncio

import httpx

from .jobs import Job
from .protocol import Backoff, detail_of, error_type_of, log, request_path

FLUSH_INTERVAL_S = 0.2


class EventFlushing:
    """How a `Runner` flushes its jobs' buffered events (a part of `Runner`)."""

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
        # one flush at a time per job keeps its events in order on the host
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
                r = await self.client.post(request_path(job.request_id, "events"), json=body)
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
                self._lose(job, f"events answered {r.status_code} {error_type_of(r) or ''}".rstrip())
                return
            if r.status_code >= 500 and attempt < 3:
                await backoff.sleep()
                continue
            log.warning("events for %s answered %s (dropped): %s", job.request_id, r.status_code, detail_of(r))
            return
