"""`App`: the functions a runner serves and how to start it."""

from __future__ import annotations

import collections.abc
import inspect
import logging
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pydantic import BaseModel

__all__ = ["App", "FunctionSpec"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,}$")
_GENERATOR_ORIGINS = {
    collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator,
    collections.abc.AsyncIterator, collections.abc.AsyncIterable, collections.abc.AsyncGenerator,
}

KIND_SYNC, KIND_ASYNC, KIND_GEN, KIND_ASYNC_GEN = "sync", "async", "generator", "async_generator"


@dataclass
class FunctionSpec:
    """One registered function: its id, limits, models and how to call it."""

    id: str
    fn: Callable[..., Any]
    kind: str
    input_model: Optional[type[BaseModel]]
    output_model: Optional[type[BaseModel]]
    wants_ctx: bool
    concurrency: int = 1
    timeout: float = 600.0
    max_attempts: int = 3
    title: Optional[str] = None
    description: Optional[str] = None
    input_schema: dict = field(default_factory=dict)
    output_schema: dict = field(default_factory=dict)

    def declaration(self, concurrency_scale: float = 1.0) -> dict:
        """The entry of `functions` in a register call."""
        body = {
            "id": self.id,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "concurrency": self.scaled_concurrency(concurrency_scale),
            "timeout_seconds": int(self.timeout) if float(self.timeout).is_integer() else self.timeout,
            "max_attempts": self.max_attempts,
        }
        if self.title:
            body["title"] = self.title
        if self.description:
            body["description"] = self.description
        return body

    def scaled_concurrency(self, scale: float) -> int:
        return max(1, min(1024, int(round(self.concurrency * scale))))


def _model_of(annotation) -> Optional[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _yielded(annotation):
    """The item type of Iterator[X] / Generator[X, …] / AsyncIterator[X] / AsyncGenerator[X, …]."""
    origin = typing.get_origin(annotation)
    if origin in _GENERATOR_ORIGINS:
        args = typing.get_args(annotation)
        return args[0] if args else None
    return annotation


def _describe(fn: Callable) -> tuple[str, Optional[type[BaseModel]], Optional[type[BaseModel]], bool]:
    if inspect.isasyncgenfunction(fn):
        kind = KIND_ASYNC_GEN
    elif inspect.isgeneratorfunction(fn):
        kind = KIND_GEN
    elif inspect.iscoroutinefunction(fn):
        kind = KIND_ASYNC
    else:
        kind = KIND_SYNC
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:
        raise TypeError(f"{fn.__qualname__} must take the input as its first parameter (and optionally ctx)")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        hints = dict(getattr(fn, "__annotations__", {}))
    input_model = _model_of(hints.get(params[0].name))
    returned = hints.get("return")
    output_model = _model_of(_yielded(returned) if kind in (KIND_GEN, KIND_ASYNC_GEN) else returned)
    return kind, input_model, output_model, len(params) >= 2


def _schema(model: Optional[type[BaseModel]], mode: str) -> dict:
    if model is None:
        return {"type": "object"}
    return model.model_json_schema(mode=mode)


class App:
    """A set of functions served by one runner process.

    `url` and `token` default to the environment's `GANTRY_URL` and `GANTRY_RUNNER_TOKEN` (read when the runner
    starts, so a module defining an app can be imported without them)."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *, instance: Optional[str] = None,
                 grace_seconds: Optional[float] = None, name: Optional[str] = None):
        self.url = url
        self.token = token
        self.instance = instance
        self.grace_seconds = grace_seconds
        self.name = name
        self.functions: dict[str, FunctionSpec] = {}

    def function(self, id: str, *, concurrency: int = 1, timeout: float = 600, max_attempts: int = 3,
                 title: Optional[str] = None, description: Optional[str] = None,
                 input_model: Optional[type[BaseModel]] = None, output_model: Optional[type[BaseModel]] = None):
        """Registers `fn(input, ctx)` as function `id` (`owner/alias[/path]`).

        The input and output pydantic models come from the annotations (or `input_model`/`output_model`);
        their JSON Schemas are what the host validates submissions against and documents."""
        if not isinstance(id, str) or not _ID.match(id):
            raise ValueError(f"function id {id!r} must look like owner/alias[/path]")
        if id.rsplit("/", 1)[-1] == "stream":
            raise ValueError(f"function id {id!r} may not end in /stream (fal's output-stream path)")
        if not 1 <= int(concurrency) <= 1024:
            raise ValueError("concurrency must be between 1 and 1024")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if int(max_attempts) < 1:
            raise ValueError("max_attempts must be at least 1")

        def decorate(fn: Callable) -> Callable:
            if id in self.functions:
                raise ValueError(f"function {id!r} is declared twice")
            kind, found_in, found_out, wants_ctx = _describe(fn)
            model_in = input_model or found_in
            model_out = output_model or found_out
            doc = inspect.getdoc(fn)
            self.functions[id] = FunctionSpec(
                id=id, fn=fn, kind=kind, input_model=model_in, output_model=model_out, wants_ctx=wants_ctx,
                concurrency=int(concurrency), timeout=float(timeout), max_attempts=int(max_attempts),
                title=title, description=description or doc,
                input_schema=_schema(model_in, "validation"), output_schema=_schema(model_out, "serialization"))
            return fn

        return decorate

    def declarations(self, concurrency_scale: float = 1.0) -> list[dict]:
        return [spec.declaration(concurrency_scale) for spec in self.functions.values()]

    def run(self, *, concurrency_scale: float = 1.0, grace_seconds: Optional[float] = None,
            instance: Optional[str] = None, log_level: Optional[str] = None) -> int:
        """Serves the functions until SIGTERM/SIGINT. Returns 0 after a clean stop; raises SystemExit with the status
        when the runner could not serve (no URL or token, refused by the host) or exited with unposted results."""
        from .runner import serve

        setup_logging(log_level)
        code = serve(self, concurrency_scale=concurrency_scale, grace_seconds=grace_seconds, instance=instance)
        if code:
            raise SystemExit(code)
        return code


def setup_logging(level: Optional[str] = None) -> None:
    """Configures the root logger once (when the program has not): one line per record on stderr."""
    name = (level or os.environ.get("GANTRY_RUNNER_LOG_LEVEL") or "INFO").upper()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gantry_runner").setLevel(getattr(logging, name, logging.INFO))
    # httpx logs every request at INFO: far too much for a runner's protocol traffic.
    logging.getLogger("httpx").setLevel(logging.WARNING)
