"""`Context`: what a running function can ask of its runner (logs, progress, files, cancellation)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from .types import Cancelled, File, Image

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image as PILImage

    from .jobs import Job
    from .runner import Runner

__all__ = ["Context"]

LEVELS = {"STDOUT", "STDERR", "INFO", "WARN", "ERROR", "DEBUG"}
_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "ERROR", "FATAL": "ERROR", "EXCEPTION": "ERROR"}


def _timestamp() -> str:
    now = time.time()
    millis = int(now * 1000) % 1000
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


class Context:
    """Handed to a function as its second argument. Every method may be called from the function's thread (sync
    functions) or from the event loop (async functions); the `*_async` variants are for async functions, where the
    plain ones block the loop while they wait."""

    __slots__ = ("_job", "_runner", "request_id", "attempt", "max_attempts", "function_id", "sync_mode")

    def __init__(self, job: "Job", runner: "Runner"):
        self._job = job
        self._runner = runner
        self.request_id: str = job.request_id
        self.attempt: int = job.attempt
        self.max_attempts: int = job.max_attempts
        self.function_id: str = job.spec.id
        self.sync_mode: bool = job.sync_mode

    # -- cancellation -----------------------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once the request should stop: a client cancelled it, it timed out, its lease was lost, or the
        runner is shutting down past its grace period."""
        return self._job.stop_reason is not None

    def raise_if_cancelled(self) -> None:
        """Raises `gantry_runner.Cancelled` when `cancelled` is true."""
        if self._job.stop_reason is not None:
            raise Cancelled(f"request {self._job.stop_reason}" if self._job.stop_reason != "cancel"
                            else "request cancelled")

    # -- logs and progress (buffered; flushed in the background) -------------------------------------------------------
    def log(self, message: Any, level: str = "INFO") -> None:
        """Adds a line to the request's logs (fal's `status?logs=1`). Never makes an HTTP call itself."""
        name = str(level).upper()
        name = _LEVEL_ALIASES.get(name, name)
        if name not in LEVELS:
            name = "INFO"
        self._job.events.append(("log", {"message": str(message), "level": name, "timestamp": _timestamp()}))

    def progress(self, fraction: float) -> None:
        """Sets the request's progress (0…1); only the latest value is sent."""
        value = float(fraction)
        if math.isnan(value):
            return
        self._job.progress = min(1.0, max(0.0, value))

    # -- files ---------------------------------------------------------------------------------------------------------
    def read_file(self, url: str) -> bytes:
        """The bytes of an input: a `data:` URI, a file of the host's store (read through the runner API under the
        request's tenant) or any other http(s) URL (fetched here, 50 MiB / 60 s at most). A file that cannot be read
        fails the request as an input error naming the field that holds the URL."""
        return self._runner.blocking(lambda io: io.read_file(self._job, url))

    async def read_file_async(self, url: str) -> bytes:
        return await self._runner.io.read_file(self._job, url)

    def read_image(self, url: str) -> "PILImage":
        """`read_file` decoded with Pillow (fully loaded)."""
        from .files import find_loc, open_image

        return open_image(self.read_file(url), find_loc(self._job.input, url))

    async def read_image_async(self, url: str) -> "PILImage":
        from .files import find_loc, open_image

        return open_image(await self.read_file_async(url), find_loc(self._job.input, url))

    def upload(self, data: bytes, content_type: str, file_name: Optional[str] = None) -> File:
        """Stores an output file under the request's tenant; in sync mode the URL is a `data:` URI instead."""
        body = self._runner.blocking(lambda io: io.upload(self._job, bytes(data), content_type, file_name))
        return File.model_validate(body)

    async def upload_async(self, data: bytes, content_type: str, file_name: Optional[str] = None) -> File:
        return File.model_validate(await self._runner.io.upload(self._job, bytes(data), content_type, file_name))

    def upload_image(self, image: "PILImage", format: str = "png", quality: Optional[int] = None) -> Image:
        """Encodes a PIL image (png, jpeg or webp) and uploads it; the record carries its width and height."""
        from .files import encode_image

        data, content_type, extension, width, height = encode_image(image, format, quality)
        body = self._runner.blocking(lambda io: io.upload(self._job, data, content_type, f"image.{extension}"))
        return _image(body, width, height)

    async def upload_image_async(self, image: "PILImage", format: str = "png",
                                 quality: Optional[int] = None) -> Image:
        from .files import encode_image

        data, content_type, extension, width, height = encode_image(image, format, quality)
        body = await self._runner.io.upload(self._job, data, content_type, f"image.{extension}")
        return _image(body, width, height)

    def __repr__(self) -> str:
        return f"Context(request_id={self.request_id!r}, function={self.function_id!r}, attempt={self.attempt})"


def _image(body: dict, width: int, height: int) -> Image:
    """The uploaded file's record plus the encoded size; a null the host sends does not hide the size we know."""
    return Image.model_validate({"width": width, "height": height, **{k: v for k, v in body.items() if v is not None}})
