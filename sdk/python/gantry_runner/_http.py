"""A lean asyncio network backend under httpx for the runner's protocol calls.

httpx's default async transport goes through httpcore's anyio backend: cancel scopes around every socket operation,
a socket query per response, and one send for the request head plus another for its body. A runner makes thousands
of small calls a second to one host, so this module plugs a plain asyncio `Protocol` into httpcore instead: reads
wait on a future, writes are gathered and sent as one segment when the response is awaited, TLS goes through
`loop.start_tls`. Everything above the socket (HTTP/1.1, pooling, timeouts, error mapping) is still httpx and
httpcore. `GANTRY_RUNNER_HTTP=anyio` (or a proxy in the environment) selects httpx's stock transport.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import ssl
import sys
from typing import Any, Iterable, Optional

import httpcore
import httpx


def _remember_missing_sniffio() -> None:
    """httpcore tries `import sniffio` on every request; when it is not installed, each try searches sys.path again
    (failed imports are not cached), a large share of a small request's CPU. Record its absence once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_remember_missing_sniffio()

_FLUSH_AT = 64 * 1024
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class _Protocol(asyncio.Protocol):
    __slots__ = ("transport", "buffer", "eof", "error", "waiter", "paused", "drainer")

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Optional[BaseException] = None
        self.waiter: Optional[asyncio.Future] = None
        self.paused = False
        self.drainer: Optional[asyncio.Future] = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drainer, self.drainer = self.drainer, None
        if drainer is not None and not drainer.done():
            drainer.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _wait(future: asyncio.Future, timeout: Optional[float], on_timeout: type) -> None:
    """Awaits `future`; past `timeout` it fails with `on_timeout` (httpcore's timeout error, which httpx maps)."""
    if timeout is None:
        await future
        return
    handle = asyncio.get_running_loop().call_later(timeout, _expire, future, on_timeout, timeout)
    try:
        await future
    finally:
        handle.cancel()


def _expire(future: asyncio.Future, on_timeout: type, timeout: float) -> None:
    if not future.done():
        future.set_exception(on_timeout(f"timed out after {timeout} s"))


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol):
        self._transport = transport
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._pending_size = 0

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            if self._transport.is_closing():
                raise httpcore.WriteError("the connection is closed")
            self._transport.write(data)

    async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        self._flush()
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            future = asyncio.get_running_loop().create_future()
            protocol.waiter = future
            await _wait(future, timeout, httpcore.ReadTimeout)
        buffer = protocol.buffer
        if buffer:
            if len(buffer) <= max_bytes:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:max_bytes])
                del buffer[:max_bytes]
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        if not buffer:
            return
        self._pending.append(bytes(buffer))
        self._pending_size += len(buffer)
        if self._pending_size >= _FLUSH_AT:
            self._flush()
            protocol = self._protocol
            if protocol.paused:
                future = asyncio.get_running_loop().create_future()
                protocol.drainer = future
                await _wait(future, timeout, httpcore.WriteTimeout)
        if self._protocol.error is not None:
            raise httpcore.WriteError(str(self._protocol.error))

    async def aclose(self) -> None:
        self._pending.clear()
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: Optional[str] = None,
                        timeout: Optional[float] = None) -> "_Stream":
        self._flush()
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._transport, self._protocol, ssl_context, server_hostname=server_hostname),
                timeout)
        except asyncio.TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake timed out after {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        self._protocol.transport = transport
        return _Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                          local_address: Optional[str] = None,
                          socket_options: Optional[Iterable] = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(_Protocol, host, port,
                                       local_addr=(local_address, 0) if local_address else None),
                timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out after {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        return _Stream(transport, protocol)

    async def connect_unix_socket(self, path: str, timeout: Optional[float] = None,
                                  socket_options: Optional[Iterable] = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(loop.create_unix_connection(_Protocol, path), timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {path} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def transport(limits: httpx.Limits) -> Optional[httpx.AsyncBaseTransport]:
    """httpx's async transport on the asyncio backend, or None to keep httpx's stock one (proxies configured in the
    environment, or GANTRY_RUNNER_HTTP=anyio)."""
    if os.environ.get("GANTRY_RUNNER_HTTP", "").lower() == "anyio":
        return None
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    stock = httpx.AsyncHTTPTransport(limits=limits)
    pool = stock._pool  # pinned httpx 0.28.1: the transport maps httpcore's errors around this pool
    stock._pool = httpcore.AsyncConnectionPool(
        ssl_context=pool._ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        http1=True, http2=False, network_backend=AsyncioBackend())
    return stock
