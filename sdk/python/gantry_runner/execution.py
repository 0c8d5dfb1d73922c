"""Running one claimed attempt: validate its input, call the function (in the thread pool or on the loop) under its
timeout and cancellation, and turn what happened into the outcome to post."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any, Optional

import pydantic_core
from pydantic import BaseModel, ValidationError

from .app import KIND_ASYNC, KIND_GEN, KIND_SYNC
from .context import Context
from .jobs import Job, Outcome
from .protocol import LeaseLost, describe_issues, log
from .types import Cancelled, FunctionError, InputError


class _TimedOut(Exception):
    """The function ran past its timeout (distinct from a TimeoutError the function raised itself)."""


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return pydantic_core.to_jsonable_python(value)


def _error_type_name(value: Any, default: str = "function_error") -> str:
    """An error_type the host accepts: 1-64 characters of a-z, 0-9 and _."""
    if not isinstance(value, str) or not value:
        return default
    name = "".join(c if ("a" <= c <= "z" or "0" <= c <= "9" or c == "_") else "_" for c in value.lower())[:64]
    return name.strip("_") or default


class Execution:
    """How a `Runner` runs a job, from its claim to its `Outcome` in the outbox (a part of `Runner`)."""

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
                    # a thread cannot be interrupted: its slot stays busy until the function really returns
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
            raise InputError(describe_issues(issues) or "invalid input", list(first.get("loc", ()))) from None

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
                # checked between items: a sync generator cannot be interrupted while it computes one
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
        # partial outputs and logs reach the host before the result that ends the request
        if job.pending_events():
            await self._flush_job(job, final=True)
            if job.abandoned:
                return
        self._done_line(job, "ok" if error is None else (error.get("error_type") or "input_error"))
        self.outbox.append(Outcome.of(job, output, error))
        self.results_waiting.set()

    def _done_line(self, job: Job, what: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s attempt %d: %s in %.1f ms", job.spec.id, job.request_id, job.attempt, what,
                      (time.monotonic() - job.started) * 1000)
