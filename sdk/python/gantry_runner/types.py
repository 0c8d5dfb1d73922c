"""The values and exceptions a function works with: file records and the errors that shape a failure."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from pydantic import BaseModel

__all__ = ["File", "Image", "InputError", "Cancelled", "FunctionError"]


class File(BaseModel):
    """A file the host stores (or, in sync mode, a `data:` URI), as fal's file outputs look."""

    url: str
    content_type: Optional[str] = None
    file_name: Optional[str] = None
    file_size: Optional[int] = None


class Image(File):
    """An image file: a `File` plus its pixel size."""

    width: Optional[int] = None
    height: Optional[int] = None


class InputError(Exception):
    """The client's input is wrong: the request fails with 422 and is never retried.

    `loc` names the input field (e.g. `["radius"]` or `["prompts", 2]`); the host prefixes it with `body`."""

    def __init__(self, message: str, loc: Optional[Sequence[Union[str, int]]] = None, *,
                 error_type: str = "value_error"):
        super().__init__(message)
        self.message = message
        self.loc = list(loc) if loc is not None else []
        self.error_type = error_type


class Cancelled(Exception):
    """Raised by `ctx.raise_if_cancelled()`; raising it ends the request as cancelled."""

    def __init__(self, message: str = "request cancelled"):
        super().__init__(message)
        self.message = message


class FunctionError(Exception):
    """A failure with a chosen `error_type` (anything else a function raises is `function_error`)."""

    def __init__(self, message: str, error_type: str = "function_error", **extra: Any):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.extra = extra
