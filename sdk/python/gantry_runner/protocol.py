"""What every part of the runner shares about talking to the host: its refusals, backoff, and reading its answers."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Iterable, Optional
from urllib.parse import quote

import httpx

# One logger for the whole runner, whichever module logs: users filter and level it as `gantry_runner`.
log = logging.getLogger("gantry_runner")


class Fatal(Exception):
    """The host refused this runner for good (bad token, function outside the token's globs, conflict)."""


class LeaseLost(Exception):
    """The host says this instance no longer holds the request's lease: stop, post nothing."""


class Backoff:
    """0.5 s doubling to 10 s (with a little jitter); `reset()` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 10.0):
        self.first, self.cap, self.next = first, cap, first

    def reset(self) -> None:
        self.next = self.first

    def step(self) -> float:
        delay = self.next
        self.next = min(self.cap, self.next * 2)
        return delay * random.uniform(0.9, 1.1)

    async def sleep(self) -> None:
        await asyncio.sleep(self.step())


def request_path(request_id: str, action: str) -> str:
    """`/requests/{id}/{action}` of the runner API; the id is escaped as a single path segment."""
    return f"/requests/{quote(request_id, safe='')}/{action}"


def describe_issues(issues: Iterable[dict]) -> str:
    """pydantic-style issues (the host's 422 `detail`, or a ValidationError's) as `field.path: message; …`."""
    return "; ".join(f"{'.'.join(map(str, i.get('loc', ())))}: {i.get('msg')}" for i in issues)


def detail_of(response: httpx.Response) -> str:
    """The host's explanation of a refusal, short enough for one log line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return describe_issues(detail)
        return str(detail)
    return str(body)[:300]


def error_type_of(response: httpx.Response) -> Optional[str]:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error_type") if isinstance(body, dict) else None
