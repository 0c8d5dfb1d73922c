"""The functions bench/runners.py serves through one Python runner process (gantry_runner SDK).

- `bench/echo`: returns its input (the queue round trip's work, like the in-process `gantry/echo`).
- `bench/spin`: runs until cancelled and notes, in $BENCH_CANCEL_LOG, the instant it saw the cancel.
"""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

import gantry_runner as gr


class EchoInput(BaseModel):
    prompt: str = ""
    n: int = 0


class SpinInput(BaseModel):
    tag: str = ""


class SpinOutput(BaseModel):
    spun: float


app = gr.App()


@app.function("bench/echo", concurrency=int(os.environ.get("BENCH_RUNNER_CONCURRENCY", "64")))
async def echo(input: EchoInput, ctx: gr.Context) -> EchoInput:
    return input


@app.function("bench/spin", concurrency=4, timeout=120)
def spin(input: SpinInput, ctx: gr.Context) -> SpinOutput:
    started = time.monotonic()
    while not ctx.cancelled:
        time.sleep(0.001)
    seen = time.time()
    with open(os.environ["BENCH_CANCEL_LOG"], "a") as log:
        log.write(f"{ctx.request_id} {seen:.6f}\n")
    raise gr.Cancelled()


if __name__ == "__main__":
    app.run()
