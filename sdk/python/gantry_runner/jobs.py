"""Bookkeeping of claimed work: `Job` (one claimed attempt), `Outcome` (its end, waiting to be posted) and `JobTable`
(which requests the runner holds and how many of each function's slots are busy)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

from .protocol import log

if TYPE_CHECKING:  # pragma: no cover
    from .app import FunctionSpec


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
    """A finished attempt's `result` or `failure` call, as one entry of a batched `POST /results`."""

    __slots__ = ("job", "body", "kind")

    def __init__(self, job: Job, body: dict, kind: str):
        self.job, self.body, self.kind = job, body, kind

    @classmethod
    def of(cls, job: Job, output: Any, error: Optional[dict]) -> "Outcome":
        """The attempt's output, or its error when `error` is set (an output may itself be None)."""
        body = {"request_id": job.request_id, "lease_token": job.lease_token}
        if error is None:
            body["output"] = output
        else:
            body["error"] = error
        return cls(job, body, "result" if error is None else "failure")


class JobTable:
    """The requests a `Runner` holds (`held`) and its busy slots per function (`running`, `slot_freed`).

    A part of `Runner`, which holds the state. A request stays held from its claim until its outcome is settled or
    it is given up, so the heartbeat keeps renewing the lease of a result still waiting to be posted."""

    def _start(self, claim: dict, spec: FunctionSpec) -> None:
        job = Job(claim, spec)
        previous = self.held.get(job.request_id)
        if previous is not None and not previous.abandoned:
            previous.abandoned = True  # an older attempt we still thought we held: the host moved on
            previous.stop("lost")
        self.held[job.request_id] = job
        self.running[spec.id] += 1
        self.spawn(self._run_job(job))

    def _slot_done(self, job: Job) -> None:
        fid = job.spec.id
        self.running[fid] -= 1
        self.slot_freed[fid].set()

    def _lose(self, job: Job, why: str) -> None:
        if not job.abandoned:
            log.info("%s %s attempt %d: %s; abandoning it", job.spec.id, job.request_id, job.attempt, why)
            job.abandoned = True
            job.stop("lost")
        self._forget(job)

    def _forget(self, job: Job) -> None:
        # a newer attempt of the same request may have replaced this one: leave that one held
        if self.held.get(job.request_id) is job:
            del self.held[job.request_id]
