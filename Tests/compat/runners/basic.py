"""Runner functions the compat tests serve through the real SDK (`python -m gantry_runner serve basic.py:app`,
started by the `runners` fixtures). Functions that tests watch from outside write marker files into $COMPAT_MARKS
(`started-<request id>-<attempt>`, `cancelled-<request id>`, `done-<request id>-<attempt>`), each holding the
time.time() at which it was written."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import AsyncIterator, Iterator, Literal, Optional

from PIL import Image as PILImage
from pydantic import BaseModel, Field

import gantry_runner as gr

MARKS = Path(os.environ.get("COMPAT_MARKS", "."))


def mark(name: str) -> None:
    tmp = MARKS / f".{name}.tmp"
    tmp.write_text(repr(time.time()))
    os.replace(tmp, MARKS / name)


app = gr.App()


# -- echo: logs, progress, delays, failures ---------------------------------------------------------------------------
class EchoInput(BaseModel):
    text: str = ""
    logs: list[str] = Field(default_factory=list)
    delay: float = Field(0, ge=0, le=30)
    progress_steps: int = Field(0, ge=0, le=100)
    fail: Optional[str] = None
    reject: Optional[str] = None


class EchoOutput(BaseModel):
    text: str
    attempt: int
    request_id: str


@app.function("compat/echo", concurrency=8, timeout=60)
def echo(input: EchoInput, ctx: gr.Context) -> EchoOutput:
    for line in input.logs:
        ctx.log(line)
    steps = max(1, input.progress_steps)
    for step in range(steps):
        if input.progress_steps:
            ctx.progress((step + 1) / steps)
        end = time.monotonic() + input.delay / steps
        while time.monotonic() < end:
            ctx.raise_if_cancelled()
            time.sleep(0.01)
    if input.reject:
        raise gr.InputError(input.reject, loc=["reject"])
    if input.fail:
        raise RuntimeError(input.fail)
    return EchoOutput(text=input.text, attempt=ctx.attempt, request_id=ctx.request_id)


@app.function("compat/async-echo", concurrency=4, timeout=60)
async def async_echo(input: EchoInput, ctx: gr.Context) -> EchoOutput:
    for line in input.logs:
        ctx.log(line, level="DEBUG")
    await asyncio.sleep(input.delay)
    if input.fail:
        raise ValueError(input.fail)
    return EchoOutput(text=input.text.upper(), attempt=ctx.attempt, request_id=ctx.request_id)


# -- streams: each yield is a partial output ----------------------------------------------------------------------------
class StreamInput(BaseModel):
    steps: int = Field(3, ge=1, le=20)
    delay: float = Field(0.05, ge=0, le=2)


class Step(BaseModel):
    step: int
    of: int
    done: bool = False


@app.function("compat/steps", concurrency=2)
def steps(input: StreamInput, ctx: gr.Context) -> Iterator[Step]:
    for i in range(input.steps):
        ctx.log(f"step {i}")
        yield Step(step=i, of=input.steps)
        time.sleep(input.delay)
    return Step(step=input.steps, of=input.steps, done=True)  # the output (a sync generator's return value)


@app.function("compat/async-steps", concurrency=2)
async def async_steps(input: StreamInput, ctx: gr.Context) -> AsyncIterator[Step]:
    for i in range(input.steps):
        await asyncio.sleep(input.delay)
        yield Step(step=i, of=input.steps, done=i == input.steps - 1)  # the last one is the output


# -- files -----------------------------------------------------------------------------------------------------------
class ImageInput(BaseModel):
    image_url: str
    format: Literal["png", "jpeg", "webp"] = "png"


class ImageOutput(BaseModel):
    image: gr.Image
    source_width: int
    source_height: int
    source_sha256: str


@app.function("compat/image", concurrency=4)
def image(input: ImageInput, ctx: gr.Context) -> ImageOutput:
    """Reads an image (data URI, the host's store or a URL) and uploads it turned by 90° counter-clockwise."""
    data = ctx.read_file(input.image_url)
    img = ctx.read_image(input.image_url)
    ctx.log(f"read {len(data)} bytes, {img.width}x{img.height}")
    turned = img.transpose(PILImage.Transpose.ROTATE_90)
    return ImageOutput(image=ctx.upload_image(turned, format=input.format), source_width=img.width,
                       source_height=img.height, source_sha256=hashlib.sha256(data).hexdigest())


class BlobInput(BaseModel):
    text: str


@app.function("compat/blob")
async def blob(input: BlobInput, ctx: gr.Context) -> gr.File:
    return await ctx.upload_async(input.text.encode(), "text/plain", file_name="note.txt")


# -- long runs: cancellation, timeouts, failover -------------------------------------------------------------------------
class SlowInput(BaseModel):
    seconds: float = Field(60, ge=0, le=600)
    only_first_attempt: bool = False  # later attempts return at once


@app.function("compat/slow", concurrency=4, timeout=120, max_attempts=3)
def slow(input: SlowInput, ctx: gr.Context) -> dict:
    mark(f"started-{ctx.request_id}-{ctx.attempt}")
    seconds = input.seconds if (ctx.attempt == 1 or not input.only_first_attempt) else 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ctx.cancelled:
            mark(f"cancelled-{ctx.request_id}")
            ctx.raise_if_cancelled()
        time.sleep(0.01)
    mark(f"done-{ctx.request_id}-{ctx.attempt}")
    return {"attempt": ctx.attempt, "request_id": ctx.request_id}


@app.function("compat/async-slow", concurrency=4, timeout=120)
async def async_slow(input: SlowInput, ctx: gr.Context) -> dict:
    mark(f"started-{ctx.request_id}-{ctx.attempt}")
    try:
        await asyncio.sleep(input.seconds)
    except asyncio.CancelledError:
        mark(f"cancelled-{ctx.request_id}")
        raise
    return {"attempt": ctx.attempt}


@app.function("compat/timeout", timeout=1)
def timeout(input: SlowInput, ctx: gr.Context) -> dict:
    end = time.monotonic() + input.seconds
    while time.monotonic() < end and not ctx.cancelled:
        time.sleep(0.01)
    mark(f"stopped-{ctx.request_id}")
    return {"finished": True}
