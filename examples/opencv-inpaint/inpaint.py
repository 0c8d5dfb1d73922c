"""OpenCV inpainting as a Gantry function: `gantry-examples/opencv/inpaint`.

Fills the white part of a mask from the surrounding pixels with OpenCV's Telea (fast marching) or Navier–Stokes
method. Run it next to a host that issued a runner token covering `gantry-examples/*`:

    GANTRY_URL=http://127.0.0.1:8080 GANTRY_RUNNER_TOKEN=examples:s3cret python inpaint.py
"""

from __future__ import annotations

import time
from typing import Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

import gantry_runner as gr

FUNCTION_ID = "gantry-examples/opencv/inpaint"
METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


class InpaintInput(BaseModel):
    image_url: str = Field(description="The image: an http(s) URL, a data URI or a file of the host's store.")
    mask_url: str = Field(description="The mask, the image's size: white (> 127) marks the pixels to fill.")
    method: Literal["telea", "ns"] = Field("telea", description="telea (Telea 2004) or ns (Navier-Stokes).")
    radius: int = Field(3, ge=1, le=50, description="Neighbourhood radius in pixels considered around each pixel.")
    output_format: Literal["png", "jpeg", "webp"] = Field("png", description="Format of the output image.")


class InpaintOutput(BaseModel):
    image: gr.Image


app = gr.App()


def to_array(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """8-bit pixels OpenCV can inpaint (gray or 3-channel) and the alpha channel kept aside, if any."""
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        image = rgba.convert("RGB")
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return np.asarray(image), alpha


@app.function(FUNCTION_ID, concurrency=2, timeout=300, max_attempts=3, title="OpenCV inpainting")
def inpaint(input: InpaintInput, ctx: gr.Context) -> InpaintOutput:
    """Fills the masked area of an image with OpenCV's Telea or Navier-Stokes inpainting."""
    started = time.perf_counter()
    image = ctx.read_image(input.image_url)
    ctx.progress(0.2)
    mask_image = ctx.read_image(input.mask_url)
    ctx.progress(0.35)
    if mask_image.size != image.size:
        raise gr.InputError(f"the mask is {mask_image.width}x{mask_image.height} but the image is "
                            f"{image.width}x{image.height}", loc=["mask_url"])
    pixels, alpha = to_array(image)
    mask = np.where(np.asarray(mask_image.convert("L")) > 127, 255, 0).astype(np.uint8)
    masked = int(np.count_nonzero(mask))
    ctx.log(f"image {image.width}x{image.height} {image.mode}; {masked} masked pixels "
            f"({100.0 * masked / mask.size:.1f} %); method {input.method}, radius {input.radius}")
    ctx.raise_if_cancelled()

    if masked == 0:
        ctx.log("the mask is empty: the image is returned unchanged", level="WARN")
        filled = pixels
    else:
        filled = cv2.inpaint(np.ascontiguousarray(pixels), mask, float(input.radius), METHODS[input.method])
    ctx.progress(0.85)
    ctx.raise_if_cancelled()

    result = Image.fromarray(filled)
    if alpha is not None and input.output_format != "jpeg":
        result = result.convert("RGBA")
        result.putalpha(Image.fromarray(alpha))
    output = ctx.upload_image(result, format=input.output_format)
    ctx.log(f"inpainted in {time.perf_counter() - started:.2f} s")
    ctx.progress(1.0)
    return InpaintOutput(image=output)


if __name__ == "__main__":
    app.run()
