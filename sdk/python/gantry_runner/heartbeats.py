"""The heartbeat: one long poll that renews the lease of every request the runner holds and brings the host's
cancels and lost leases back within milliseconds."""

from __future__ import annotations

import asyncio
import time

import httpx

from .protocol import Backoff, detail_of, log


class Heartbeating:
    """How a `Runner` keeps its leases (a part of `Runner`)."""

    def _set_lease(self, lease_seconds: float, heartbeat_seconds: float = 10.0) -> None:
        """A poll waits at most a third of the lease, so a lease survives a missed beat or two."""
        self.lease_seconds = lease_seconds
        self.heartbeat_wait = max(0.5, min(10.0, lease_seconds / 3, heartbeat_seconds))

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
                log.warning("heartbeat answered %s: %s", r.status_code, detail_of(r))
                if r.status_code in (401, 403):
                    self.stop(2)
                await backoff.sleep()
                continue
            backoff.reset()
            data = r.json()
            if data.get("lease_seconds"):
                self._set_lease(float(data["lease_seconds"]))
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
