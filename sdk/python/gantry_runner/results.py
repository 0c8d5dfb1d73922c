"""Posting finished attempts: everything in the outbox in one `POST /results` (one by one on a host without that
route), retried until the host answers each; an outcome the host refuses becomes a plain failure."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import httpx

from .jobs import Outcome
from .protocol import Backoff, detail_of, log, request_path

MAX_RESULTS_PER_CALL = 256


def _answer_error(answer: dict) -> tuple[Optional[str], Any]:
    """(error_type, detail) of one entry of a batched answer (`error` holds the envelope) or a single answer."""
    envelope = answer.get("error") if isinstance(answer.get("error"), dict) else answer
    return envelope.get("error_type"), envelope.get("detail")


class ResultPosting:
    """How a `Runner` empties its outbox (a part of `Runner`)."""

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
            log.warning("batched results answered %s (%s); posting one by one", r.status_code, detail_of(r))
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
            path = request_path(outcome.job.request_id, outcome.kind)
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
            fallback = Outcome.of(job, None, {"message": message[:16000], "error_type": "function_error"})
            fallback.body["_fallback"] = True  # stripped before posting; keeps a refused fallback from looping
            self.outbox.append(fallback)
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
