"""Reading inputs (data URIs, the host's store, other URLs) and encoding images, without the event loop."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Iterable, Optional
from urllib.parse import unquote_to_bytes, urlsplit

from .types import InputError

MAX_FETCH_BYTES = 50 * 1024 * 1024
FETCH_TIMEOUT_S = 60.0
MAX_REDIRECTS = 3

IMAGE_FORMATS = {
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "jpg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
}


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """`data:[<media type>][;base64],<data>` → (media type, bytes). Raises ValueError when malformed."""
    if not uri[:5].lower() == "data:":
        raise ValueError("not a data URI")
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise ValueError("a data URI needs a comma")
    params = header.split(";")
    media_type = params[0].strip() or "text/plain"
    if any(p.strip().lower() == "base64" for p in params[1:]):
        compact = "".join(payload.split())
        try:
            return media_type, base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"invalid base64 in data URI: {exc}") from None
    return media_type, unquote_to_bytes(payload)


def origin(url: str) -> Optional[tuple[str, str, int]]:
    """(scheme, host, port) of an http(s) URL, default ports filled in; None for anything else."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port


def is_store_url(url: str, origins: Iterable[tuple[str, str, int]]) -> bool:
    """A URL of the host's file store: path under `/files/` on one of the host's own origins."""
    o = origin(url)
    if o is None or o not in set(origins):
        return False
    return urlsplit(url).path.startswith("/files/")


def public_origin_of(file_url: str) -> Optional[tuple[str, str, int]]:
    """The origin of a URL the host returned for a stored file (learns the host's public URL)."""
    if "/files/" not in file_url:
        return None
    return origin(file_url)


def find_loc(value, target: str, path: tuple = ()) -> Optional[list]:
    """Where in an input (nested dicts and lists) the string `target` appears, as a pydantic-style loc."""
    if isinstance(value, str):
        return list(path) if value == target else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_loc(item, target, path + (key,))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_loc(item, target, path + (index,))
            if found is not None:
                return found
    return None


def short(url: str, limit: int = 120) -> str:
    if url.startswith("data:"):
        return url[:40] + "…"
    return url if len(url) <= limit else url[:limit] + "…"


def open_image(data: bytes, loc: Optional[list] = None, what: str = "image"):
    """Decodes image bytes with Pillow (fully loaded); undecodable data is the client's input error."""
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        image = PILImage.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise InputError(f"cannot decode {what}: {exc}", loc or []) from None
    return image


def encode_image(image, format: str = "png", quality: Optional[int] = None) -> tuple[bytes, str, str, int, int]:
    """A PIL image → (bytes, content type, extension, width, height) in png, jpeg or webp."""
    key = (format or "png").lower()
    if key not in IMAGE_FORMATS:
        raise ValueError(f"unsupported image format {format!r} (png, jpeg, webp)")
    pil_format, content_type, extension = IMAGE_FORMATS[key]
    img = image
    if pil_format == "JPEG" and img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGB")
    elif pil_format in ("PNG", "WEBP") and img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I", "I;16"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    if pil_format == "WEBP" and img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    buffer = io.BytesIO()
    options = {}
    if quality is not None and pil_format in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    img.save(buffer, format=pil_format, **options)
    return buffer.getvalue(), content_type, extension, img.width, img.height
