"""A runner function with a constrained pydantic input: the host validates submissions against its schema even
while no runner is connected."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

import gantry_runner as gr


class TypedInput(BaseModel):
    prompt: str = Field(min_length=1, max_length=200)
    count: int = Field(1, ge=1, le=4)
    mode: Literal["fast", "good"] = "fast"


class TypedOutput(BaseModel):
    prompt: str
    count: int
    mode: str
    attempt: int


app = gr.App()


@app.function("compat/typed", concurrency=2)
def typed(input: TypedInput, ctx: gr.Context) -> TypedOutput:
    ctx.log(f"typed {input.mode}")
    return TypedOutput(prompt=input.prompt, count=input.count, mode=input.mode, attempt=ctx.attempt)
