"""`HostIO`: a request's file reads and uploads (the host's store, data URIs, other URLs); `SideLoop`: where the
blocking ctx helpers run when called from the event loop's own thread."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Awaitable, Callable, Optional

import httpx

from .files import (FETCH_TIMEOUT_S, MAX_FETCH_BYTES, decode_data_uri, find_loc, is_store_url, origin,
                    public_origin_of, short)
from .jobs import Job
from .protocol import LeaseLost, detail_of, request_path
from .types import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Runner

LEASE_HEADER = "X-Gantry-Lease-Token"


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
        r = await self._store_call(job, f"read {short(url)}", lambda: self.client.get(
            request_path(job.request_id, "files"), params={"url": url}, headers={LEASE_HEADER: job.lease_token},
            timeout=httpx.Timeout(120.0, connect=5.0)))
        if r.status_code == 200:
            return r.content
        if r.status_code == 404:
            raise InputError(f"file not found: {short(url)}", find_loc(job.input, url) or [],
                             error_type="file_not_found")
        raise RuntimeError(f"the host answered {r.status_code} reading {short(url)}: {detail_of(r)}")

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
        r = await self._store_call(job, "upload an output", lambda: self.client.post(
            request_path(job.request_id, "files"), content=data, headers=headers,
            timeout=httpx.Timeout(300.0, connect=5.0)))
        if r.status_code == 200:
            body = r.json()
            learned = public_origin_of(body.get("url") or "")
            if learned is not None:
                self.runner.store_origins.add(learned)
            return body
        raise RuntimeError(f"the host refused an output file ({r.status_code}): {detail_of(r)}")

    async def _store_call(self, job: Job, what: str, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """`send()` with a few quick retries: a function waits on this call, so an unreachable host or one answering
        5xx fails it within seconds instead of holding it until the timeout. A 409 means the lease is gone."""
        tries = 0
        while True:
            try:
                r = await send()
            except httpx.TransportError as exc:
                tries += 1
                if tries >= 4:
                    raise RuntimeError(f"cannot reach the host to {what}: {exc!r}") from None
                await asyncio.sleep(0.5 * tries)
                continue
            if r.status_code == 409:
                raise LeaseLost(job.request_id)
            if r.status_code >= 500 and tries < 3:
                tries += 1
                await asyncio.sleep(0.5 * tries)
                continue
            return r


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
