"""Getting work: `register` (again with backoff whenever the host is unreachable or forgot this runner) and one claim
long poll per function for up to its free capacity."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from . import __version__
from .files import origin
from .jobs import Job
from .protocol import Backoff, Fatal, detail_of, error_type_of, log

if TYPE_CHECKING:  # pragma: no cover
    from .app import FunctionSpec

# short enough that a stopping runner waits little for its claims in flight
CLAIM_WAIT_S = 3.0
MAX_CLAIM_BATCH = 256  # the host's limit on one claim's `max`


class Claiming:
    """How a `Runner` connects to the host and claims jobs (a part of `Runner`)."""

    async def _register(self) -> None:
        body = {"instance": self.instance, "sdk": f"python/{__version__}",
                "functions": self.app.declarations(self.concurrency_scale)}
        r = await self.client.post("/register", json=body, timeout=30.0)
        if r.status_code == 200:
            data = r.json()
            self._set_lease(float(data.get("lease_seconds") or self.lease_seconds),
                            float(data.get("heartbeat_seconds") or 10.0))
            max_wait = float(data.get("max_wait_seconds") or 30)
            self.claim_wait = max(1.0, min(CLAIM_WAIT_S, max_wait))
            # the host says where its file URLs live, so inputs naming them are read through the protocol
            learned = origin(data.get("public_url") or "")
            if learned is not None:
                self.store_origins.add(learned)
            changed = [f.get("id") for f in data.get("functions", []) if f.get("changed")]
            log.info("registered %s as %s/%s (lease %.0f s)%s", ", ".join(self.specs), data.get("runner_id"),
                     self.instance, self.lease_seconds, f"; changed: {', '.join(changed)}" if changed else "")
            return
        if r.status_code in (401, 403, 409, 422):
            raise Fatal(f"the host refused registration ({r.status_code} {error_type_of(r)}): {detail_of(r)}")
        raise httpx.TransportError(f"register answered {r.status_code}: {detail_of(r)}")

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
        # one reconnect however many loops notice; claim loops wait on `ready` until it has registered again
        if self.ready.is_set() and not self.stopping:
            self.ready.clear()
            self.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self._connect()
        except Fatal as exc:
            log.error("%s", exc)
            self.stop(2)

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
                        # claimed while stopping: give it straight back rather than strand it until its lease expires
                        self._releasing.append(self.spawn(self._release(Job(claim, spec))))
                    else:
                        self._start(claim, spec)
                continue
            kind = error_type_of(r)
            if r.status_code == 404 and kind == "function_not_found":
                log.info("the host does not know %s (a new store?): registering again", fid)
                self._connection_lost()
            elif r.status_code in (401, 403):
                log.error("claim %s refused (%s): %s", fid, r.status_code, detail_of(r))
                self.stop(2)
                return
            else:
                log.warning("claim %s answered %s: %s", fid, r.status_code, detail_of(r))
            await self._pause(backoff.step())
