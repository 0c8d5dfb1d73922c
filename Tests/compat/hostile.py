"""Helpers of the hostile-client tiers: raw sockets against a live host, and Prometheus text."""

from __future__ import annotations

import re
import select
import socket


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def connect(server, timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset); never blocks."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        sock.setblocking(False)
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def read_responses(sock: socket.socket, count: int, timeout: float = 5) -> list[bytes]:
    """`count` Content-Length-framed responses from `sock`."""
    sock.settimeout(timeout)
    buffer, replies = b"", []
    while len(replies) < count:
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: (\d+)", head) if sep else None
        if length and len(rest) >= int(length.group(1)):
            size = int(length.group(1))
            replies.append(head + b"\r\n\r\n" + rest[:size])
            buffer = rest[size:]
            continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        buffer += chunk
    return replies
