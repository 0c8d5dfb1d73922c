#!/usr/bin/env python3
"""Golden files for Gantry's bit-exact Swift re-implementation of the Fooocus image pipeline stages.

Usage: make_goldens.py OUTDIR

Every primitive and stage of the deterministic (non-neural) part of the Fooocus 2.5.x image pipeline is
re-implemented here from the written specification (docs/fooocus.md §3), on top of the very
libraries Fooocus uses (Pillow 10.4.0, OpenCV 4.10, NumPy 1.26, pinned in requirements.txt), so that the
results are the ones Fooocus produces. The neural ESRGAN super-resolution is replaced by a stand-in,
`esrgan_standin` = Pillow LANCZOS to 4x the size (see docs/fooocus.md §3.5; the real model is not available).

Output (read by the Swift tests; keep the format stable):
  OUTDIR/*.raw       16-byte header: b"GLD1" + little-endian uint32 width, height, channels (1 = L, 3 = RGB,
                     4 = RGBA), then width*height*channels bytes, row-major, channels interleaved.
                     Identical images are stored once and shared between cases.
  OUTDIR/manifest.json  {"version": 1, "cases": [{"name", "op", "params", "inputs", "outputs", "expect"}]}

Everything is deterministic: synthetic inputs come from fixed seeds (NumPy PCG64) and integer formulas.
"""

import hashlib
import itertools
import json
import math
import os
import struct
import sys
import time

import cv2
import numpy as np
from PIL import Image, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
LANCZOS = Image.Resampling.LANCZOS
KERNEL3 = np.ones((3, 3), dtype=np.uint8)
ESRGAN_SCALE = 4

# ---------------------------------------------------------------------------------------------------------
# Primitives (docs/fooocus.md §3.0)
# ---------------------------------------------------------------------------------------------------------


def lanczos(im, width, height):
    """Pillow LANCZOS resize (`resample_image`): 2-D -> mode L, H×W×3 -> RGB, H×W×4 -> RGBA (premultiplied)."""
    return np.array(Image.fromarray(im).resize((int(width), int(height)), LANCZOS))


def box_blur(im, radius):
    return np.array(Image.fromarray(im).filter(ImageFilter.BoxBlur(radius)))


def dilate(mask, iterations):
    return cv2.dilate(mask, KERNEL3, iterations=iterations)


def erode(mask, iterations):
    return cv2.erode(mask, KERNEL3, iterations=iterations)


def erode_or_dilate(mask, k):
    k = int(k)
    if k > 0:
        return dilate(mask, k)
    if k < 0:
        return erode(mask, -k)
    return mask


def hwc3(x):
    """Fooocus HWC3: gray -> 3 copies; RGB as is; RGBA composited on white in float32, truncated."""
    assert x.dtype == np.uint8
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    assert channels in (1, 3, 4)
    if channels == 3:
        return x
    if channels == 1:
        return np.concatenate([x, x, x], axis=2)
    color = x[:, :, 0:3].astype(np.float32)
    alpha = x[:, :, 3:4].astype(np.float32) / 255.0          # float32 / scalar stays float32
    y = color * alpha + 255.0 * (1.0 - alpha)
    return y.clip(0, 255).astype(np.uint8)                   # truncation


def up255(x, t):
    y = np.zeros_like(x, dtype=np.uint8)
    y[x > t] = 255
    return y


def get_shape_ceil(h, w):
    return math.ceil(((h * w) ** 0.5) / 64.0) * 64.0


def shape_ceil_size(height, width, target):
    """set_image_shape_ceil's size loop: returns (H, W, number of resize steps taken)."""
    target = float(target)
    h, w, loops = height, width, 0
    for _ in range(256):
        current = get_shape_ceil(h, w)
        if abs(current - target) < 0.1:
            break
        k = target / current
        h = int(round(float(h) * k / 64.0) * 64)             # Python round(): half to even
        w = int(round(float(w) * k / 64.0) * 64)
        loops += 1
    return h, w, loops


def set_image_shape_ceil(im, target):
    height, width = im.shape[:2]
    h, w, _ = shape_ceil_size(height, width, target)
    if h == height and w == width:
        return im
    return lanczos(im, w, h)


def esrgan_standin(im, scale=ESRGAN_SCALE):
    """Stand-in for the neural ESRGAN `perform_upscale`: Pillow LANCZOS to scale× the size."""
    height, width = im.shape[:2]
    return lanczos(im, width * scale, height * scale)


# ---------------------------------------------------------------------------------------------------------
# Inpaint worker pieces (docs/fooocus.md §3.3)
# ---------------------------------------------------------------------------------------------------------

FILL_SCHEDULE = [(512, 2), (256, 2), (128, 4), (64, 4), (33, 8), (15, 8), (5, 16), (3, 16)]


def fill(image, mask):
    keep = np.where(mask < 127)
    store = image[keep]
    current = image.copy()
    for radius, repeats in FILL_SCHEDULE:
        for _ in range(repeats):
            current = box_blur(current, radius)
            current[keep] = store
    return current


def blend_mask(mask):
    """The feathered dilation (`morphological_open`): the real 32-iteration int16 loop with cv2.dilate."""
    v = np.zeros_like(mask, dtype=np.int16)
    v[mask > 127] = 256
    for _ in range(32):
        maxed = cv2.dilate(v, np.ones((3, 3), dtype=np.int16)) - 8
        v = np.maximum(maxed, v)
    return v.clip(0, 255).astype(np.uint8)


def _clamp_box(shape, a, b, c, d):
    height, width = shape[:2]
    return (min(max(a, 0), height), min(max(b, 0), height), min(max(c, 0), width), min(max(d, 0), width))


def initial_box(mask):
    rows, cols = np.where(mask > 0)
    a, b, c, d = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    abp, abm, cdp, cdm = (b + a) // 2, (b - a) // 2, (d + c) // 2, (d - c) // 2
    half = int(max(abm, cdm) * 1.15)
    return _clamp_box(mask.shape, abp - half, abp + half + 1, cdp - half, cdp + half + 1)


def grow_box(mask, box, k):
    k = float(k)
    assert 0.0 <= k <= 1.0
    height, width = mask.shape[:2]
    if k == 1.0:
        return (0, height, 0, width)
    a, b, c, d = box
    while True:
        if b - a >= height * k and d - c >= width * k:
            break
        add_h = (b - a) < (d - c)
        add_w = not add_h
        if b - a == height:
            add_w = True
        if d - c == width:
            add_h = True
        if add_h:
            a, b = a - 1, b + 1
        if add_w:
            c, d = c - 1, d + 1
        a, b, c, d = _clamp_box(mask.shape, a, b, c, d)
    return (a, b, c, d)


def inpaint_prepare(image, mask, k, use_fill):
    box = grow_box(mask, initial_box(mask), k)
    a, b, c, d = box
    crop_mask = mask[a:b, c:d]
    crop = image[a:b, c:d]
    if get_shape_ceil(*crop.shape[:2]) < 1024:
        crop = esrgan_standin(crop)
    crop = set_image_shape_ceil(crop, 1024)
    height, width = crop.shape[:2]
    working_mask = up255(lanczos(crop_mask, width, height), 127)
    filled = fill(crop, working_mask) if use_fill else crop.copy()
    return box, filled, working_mask, crop, blend_mask(mask)


def paste_back(original, generated, blend, box):
    a, b, c, d = box
    content = lanczos(generated, d - c, b - a)
    result = original.copy()
    result[a:b, c:d] = content
    fg = result.astype(np.float32)
    bg = original.astype(np.float32)
    w = blend[:, :, None].astype(np.float32) / 255.0
    y = fg * w + bg * (1 - w)                                # numpy: separate multiply and add, no FMA
    return y.clip(0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# Mask preprocessing and outpaint (docs/fooocus.md §3.1, §3.2)
# ---------------------------------------------------------------------------------------------------------


def mask_prepare(image, mask, upload, k, invert, advanced):
    m = mask[:, :, 0]
    if advanced and upload is not None and upload.ndim == 3:
        height, width = image.shape[:2]
        u = lanczos(upload, width, height)
        u = (np.mean(u, axis=2) > 127).astype(np.uint8) * 255
        m = np.maximum(m, u)
    if int(k) != 0:
        m = erode_or_dilate(m, k)
    if invert:
        m = 255 - m
    return hwc3(image), np.ascontiguousarray(m)


def outpaint(image, mask, directions, distances=None):
    directions = [s.lower() for s in directions]
    dist = distances or {}

    def amount(side, size):
        v = int(dist.get(side, 0) or 0)
        return v if v > 0 else int(size * 0.3)

    height, width = image.shape[:2]
    for side in ("top", "bottom"):
        if side in directions:
            n = amount(side, height)
            pad = [[n, 0], [0, 0]] if side == "top" else [[0, n], [0, 0]]
            image = np.pad(image, pad + [[0, 0]], mode="edge")
            mask = np.pad(mask, pad, mode="constant", constant_values=255)
    height, width = image.shape[:2]
    for side in ("left", "right"):
        if side in directions:
            n = amount(side, width)
            pad = [[0, 0], [n, 0]] if side == "left" else [[0, 0], [0, n]]
            image = np.pad(image, pad + [[0, 0]], mode="edge")
            mask = np.pad(mask, pad, mode="constant", constant_values=255)
    return image, mask


# ---------------------------------------------------------------------------------------------------------
# Upscale (docs/fooocus.md §3.4)
# ---------------------------------------------------------------------------------------------------------


def upscale_factor(method):
    m = method.lower()
    if "1.5x" in m:
        return 1.5
    if "2x" in m:
        return 2.0
    return 1.0


def upscale_size(method, height, width, scale=ESRGAN_SCALE):
    f = upscale_factor(method)
    s = get_shape_ceil(height * f, width * f)
    if s < 1024:
        h, w, _ = shape_ceil_size(height * scale, width * scale, 1024)
        s = 1024
    else:
        h, w = int(height * f), int(width * f)
    fast = "fast" in method.lower()
    direct = fast or s > 2800
    out = {"height": h, "width": w, "fast": fast, "direct": direct}
    if not direct:  # diffusion path: VAE encode crops to multiples of 8
        out["vae_height"], out["vae_width"] = h // 8 * 8, w // 8 * 8
    return out


def upscale(image, method):
    image = hwc3(image)
    height, width = image.shape[:2]
    f = upscale_factor(method)
    up = esrgan_standin(image)
    if get_shape_ceil(height * f, width * f) < 1024:
        return set_image_shape_ceil(up, 1024)
    return lanczos(up, width * f, height * f)


# ---------------------------------------------------------------------------------------------------------
# Synthetic inputs (integer arithmetic + PCG64 only, so they are the same on every machine)
# ---------------------------------------------------------------------------------------------------------


def rand_img(h, w, c, seed, low=0, high=256):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(low, high, size=shape, dtype=np.uint8)


def smooth_img(h, w, c, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(h, dtype=np.int64)[:, None]
    x = np.arange(w, dtype=np.int64)[None, :]
    planes = []
    for _ in range(c):
        ax, ay, bx, by = (int(v) for v in rng.integers(-7, 8, size=4))
        p0, p1 = (int(v) for v in rng.integers(0, 510, size=2))
        t1 = (x * ax + y * ay + p0) % 510
        t1 = np.where(t1 > 255, 510 - t1, t1)
        t2 = ((x * bx) // 3 + (y * by) // 2 + p1) % 510
        t2 = np.where(t2 > 255, 510 - t2, t2)
        planes.append(((t1 * 3 + t2) // 4).astype(np.uint8))
    return planes[0] if c == 1 else np.stack(planes, axis=2)


def rect_mask(h, w, rows, cols, value=255):
    m = np.zeros((h, w), dtype=np.uint8)
    m[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = value
    return m


def soft_disc(h, w, cy, cx, r_in, r_out):
    """255 inside r_in, linear-in-d² ramp down to 0 at r_out (integer math)."""
    y = np.arange(h, dtype=np.int64)[:, None]
    x = np.arange(w, dtype=np.int64)[None, :]
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    v = (r_out * r_out - d2) * 255 // max(1, r_out * r_out - r_in * r_in)
    return v.clip(0, 255).astype(np.uint8)


def sparse_binary(h, w, seed, per_mille):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 1000, size=(h, w)) < per_mille).astype(np.uint8) * 255


def with_alpha(rgb, alpha):
    return np.concatenate([rgb, alpha[:, :, None]], axis=2)


def load_fixture(stem, size=None):
    """Fixture photo (RGB) and its mask as the API decoders see it: 2-D masks stacked to 3 channels."""
    im = np.array(Image.open(os.path.join(FIXTURES, stem + ".png")).convert("RGB"))
    m = np.array(Image.open(os.path.join(FIXTURES, stem + "_mask.png")))
    if m.ndim == 2:
        m = np.stack([m, m, m], axis=2)
    if size is not None:
        im, m = lanczos(im, size[0], size[1]), lanczos(m, size[0], size[1])
    return im, m


# ---------------------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------------------


class Goldens:
    def __init__(self, outdir):
        self.outdir = outdir
        self.cases = []
        self.names = set()
        self.by_hash = {}
        self.bytes_written = 0

    def image(self, arr, stem):
        arr = np.ascontiguousarray(arr)
        assert arr.dtype == np.uint8, (stem, arr.dtype)
        if arr.ndim == 2:
            h, w, c = arr.shape[0], arr.shape[1], 1
        else:
            assert arr.ndim == 3 and arr.shape[2] in (1, 3, 4), (stem, arr.shape)
            h, w, c = arr.shape
        assert h > 0 and w > 0, (stem, arr.shape)
        blob = b"GLD1" + struct.pack("<III", w, h, c) + arr.tobytes()
        digest = hashlib.sha256(blob).hexdigest()
        if digest in self.by_hash:
            return self.by_hash[digest]
        name = stem + ".raw"
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(blob)
        self.bytes_written += len(blob)
        self.by_hash[digest] = name
        return name

    def case(self, name, op, params=None, inputs=None, outputs=None, expect=None):
        assert name not in self.names, name
        assert all(ch.isalnum() or ch in "-_." for ch in name), name
        self.names.add(name)
        entry = {"name": name, "op": op, "params": params or {},
                 "inputs": {role: self.image(a, f"{name}__in_{role}") for role, a in (inputs or {}).items()},
                 "outputs": {role: self.image(a, f"{name}__out_{role}") for role, a in (outputs or {}).items()}}
        if expect is not None:
            entry["expect"] = expect
        self.cases.append(entry)

    def finish(self):
        manifest = {"version": 1, "cases": self.cases}
        with open(os.path.join(self.outdir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=False)
            f.write("\n")


def dims(a):
    return f"{a.shape[1]}x{a.shape[0]}"


MODE_NAME = {1: "l", 3: "rgb", 4: "rgba"}


def mode_of(a):
    return MODE_NAME[1 if a.ndim == 2 else a.shape[2]]


# ---------------------------------------------------------------------------------------------------------
# Self-checks: the test vectors written in docs/fooocus.md must hold
# ---------------------------------------------------------------------------------------------------------


def check_spec_vectors():
    vectors = [((512, 512), (1024, 1024, 1)), ((768, 512), (1216, 832, 1)), ((1000, 750), (1152, 832, 1)),
               ((896, 1152), (896, 1152, 0)), ((600, 800), (896, 1152, None)), ((100, 300), (576, 1728, 2)),
               ((333, 777), (640, 1536, None)), ((1080, 1920), (768, 1344, None)),
               ((2000, 3000), (832, 1216, None)), ((479, 640), (832, 1152, None)),
               ((1217, 913), (1152, 832, None)), ((176, 1168), (384, 2432, None))]
    for (h, w), (eh, ew, el) in vectors:
        got = shape_ceil_size(h, w, 1024)
        assert got[:2] == (eh, ew) and (el is None or got[2] == el), ((h, w), got)
    m = rect_mask(1024, 1024, (400, 499), (300, 599))
    assert initial_box(m) == (278, 621, 278, 621)
    assert grow_box(m, initial_box(m), 0.618) == (133, 766, 133, 766)
    assert grow_box(m, initial_box(m), 0.0) == (278, 621, 278, 621)
    m = rect_mask(600, 800, (10, 19), (700, 789))
    assert initial_box(m) == (0, 65, 694, 795)
    assert grow_box(m, initial_box(m), 0.618) == (0, 494, 305, 800)
    assert grow_box(m, initial_box(m), 0.3) == (0, 239, 560, 800)
    _, m2 = outpaint(np.zeros((600, 800, 3), np.uint8), np.zeros((600, 800), np.uint8), ["left"])
    assert m2.shape == (600, 1040) and grow_box(m2, initial_box(m2), 0.618) == (0, 600, 0, 643)


def check_blend_closed_form(mask, blend):
    """docs/fooocus.md: value = clamp(256 - 8·d, 0, 255), d = Chebyshev distance to the nearest pixel > 127."""
    inside = (mask > 127).astype(np.uint8)
    if not inside.any():
        assert not blend.any()
        return
    dist = np.full(mask.shape, 10 ** 6, dtype=np.int64)
    dist[inside > 0] = 0
    cur = inside.copy()
    for d in range(1, 33):
        cur = cv2.dilate(cur, KERNEL3)
        dist[(cur > 0) & (dist > d)] = d
    expected = np.clip(256 - 8 * dist, 0, 255).astype(np.uint8)
    assert np.array_equal(expected, blend)


# ---------------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------------


def gen_lanczos(g):
    def content(mode, w, h, kind, seed):
        c = {"l": 1, "rgb": 3, "rgba": 4}[mode]
        if kind == "rand":
            return rand_img(h, w, c, seed)
        return smooth_img(h, w, c, seed)

    specs = [  # (mode, src w, src h, dst w, dst h, content)
        ("l", 17, 13, 40, 9, "rand"), ("rgb", 17, 13, 40, 9, "rand"), ("rgba", 17, 13, 40, 9, "rand"),
        ("l", 97, 89, 1024, 1024, "smooth"), ("l", 1024, 1024, 97, 101, "rand"),
        ("rgb", 111, 259, 213, 512, "smooth"), ("rgb", 213, 512, 111, 259, "rand"),
        ("rgb", 31, 29, 31, 29, "rand"), ("rgba", 31, 29, 31, 29, "rand"), ("l", 31, 29, 31, 29, "smooth"),
        ("rgb", 64, 48, 100, 48, "smooth"), ("rgb", 64, 48, 64, 77, "rand"), ("l", 200, 50, 37, 50, "rand"),
        ("l", 50, 200, 50, 37, "smooth"), ("rgba", 64, 48, 64, 31, "smooth"),
        ("l", 1, 1, 5, 7, "rand"), ("rgb", 1, 1, 5, 7, "rand"), ("rgb", 7, 5, 1, 1, "rand"),
        ("l", 1, 40, 13, 1, "rand"), ("rgb", 40, 1, 1, 40, "smooth"), ("l", 3, 1, 1, 3, "rand"),
        ("rgb", 2, 2, 3, 3, "rand"), ("rgb", 3, 3, 2, 2, "rand"),
        ("rgb", 50, 30, 123, 71, "smooth"), ("l", 50, 30, 123, 71, "rand"), ("rgba", 50, 30, 123, 71, "smooth"),
        ("rgb", 300, 200, 137, 91, "rand"), ("l", 300, 200, 137, 91, "smooth"), ("rgba", 300, 200, 137, 91, "rand"),
        ("rgb", 120, 40, 47, 113, "rand"), ("l", 997, 13, 5, 3, "rand"), ("rgb", 1000, 7, 3, 7, "smooth"),
        ("rgb", 256, 256, 255, 257, "rand"), ("l", 127, 131, 254, 262, "smooth"), ("rgb", 333, 77, 64, 153, "smooth"),
        ("l", 479, 64, 83, 11, "smooth"),
    ]
    for i, (mode, sw, sh, dw, dh, kind) in enumerate(specs):
        src = content(mode, sw, sh, kind, 100 + i)
        g.case(f"lanczos_{mode}_{kind}_{sw}x{sh}_to_{dw}x{dh}", "lanczos", {"width": dw, "height": dh},
               {"image": src}, {"image": lanczos(src, dw, dh)})
    # RGBA with alpha 0 / 255 extremes and colour hidden under zero alpha (premultiplication discards it)
    rgb = rand_img(41, 37, 3, 7)
    alpha = np.zeros((41, 37), np.uint8)
    alpha[:, 12:24] = 255
    alpha[10:30, :] = rand_img(20, 37, 1, 8)
    src = with_alpha(rgb, alpha)
    for dw, dh in ((90, 77), (13, 19)):
        g.case(f"lanczos_rgba_alpha_extremes_37x41_to_{dw}x{dh}", "lanczos", {"width": dw, "height": dh},
               {"image": src}, {"image": lanczos(src, dw, dh)})


BOX_RADII = [0, 1, 2, 3, 5, 15, 33, 64, 256, 512]


def gen_box_blur(g):
    images = [("l_rand_61x47", rand_img(47, 61, 1, 200)), ("rgb_rand_61x47", rand_img(47, 61, 3, 201)),
              ("rgb_smooth_600x20", smooth_img(20, 600, 3, 202)), ("l_smooth_130x517", smooth_img(517, 130, 1, 203))]
    for label, im in images:
        for r in BOX_RADII:
            g.case(f"box_blur_{label}_r{r}", "box_blur", {"radius": r}, {"image": im}, {"image": box_blur(im, r)})
    extra = [("l_1x1", rand_img(1, 1, 1, 204), [1, 5]), ("rgb_1x9", rand_img(9, 1, 3, 205), [1, 4, 64]),
             ("l_9x1", rand_img(1, 9, 1, 206), [2, 512]), ("rgb_2x3", rand_img(3, 2, 3, 207), [1, 3])]
    for label, im, radii in extra:
        for r in radii:
            g.case(f"box_blur_{label}_r{r}", "box_blur", {"radius": r}, {"image": im}, {"image": box_blur(im, r)})


def morph_masks():
    border = np.zeros((30, 45), np.uint8)
    border[0:6, 0:9] = 255
    border[20:30, 40:45] = 255
    border[12, :] = 255
    corner = np.zeros((23, 19), np.uint8)
    corner[22, 18] = 255
    corner[0, 0] = 180
    return [("binary_sparse_50x40", sparse_binary(40, 50, 300, 15)),
            ("binary_border_45x30", border),
            ("soft_disc_53x47", soft_disc(47, 53, 20, 30, 6, 17)),
            ("soft_noise_37x41", rand_img(41, 37, 1, 301)),
            ("corner_pixels_19x23", corner),
            ("l_1x1", np.array([[200]], np.uint8)),
            ("row_17x1", rand_img(1, 17, 1, 302)),
            ("inverted_disc_64x64", 255 - soft_disc(64, 64, 31, 33, 10, 20))]


def gen_morphology(g):
    for label, m in morph_masks():
        for k in (1, 2, 5, 20):
            g.case(f"dilate_{label}_k{k}", "dilate", {"iterations": k}, {"mask": m}, {"mask": dilate(m, k)})
            g.case(f"erode_{label}_k{k}", "erode", {"iterations": k}, {"mask": m}, {"mask": erode(m, k)})
    masks = dict(morph_masks())
    for label in ("binary_border_45x30", "soft_disc_53x47"):
        for k in (-20, -5, -2, -1, 0, 1, 2, 5, 20):
            kn = f"m{-k}" if k < 0 else str(k)
            g.case(f"erode_or_dilate_{label}_k{kn}", "erode_or_dilate", {"k": k}, {"mask": masks[label]},
                   {"mask": erode_or_dilate(masks[label], k)})


def gen_hwc3(g):
    y = np.arange(256, dtype=np.uint8)
    color = np.stack([np.repeat(y[:, None], 256, 1), np.repeat(255 - y[:, None], 256, 1),
                      np.repeat(((y.astype(np.int64) * 37) % 256).astype(np.uint8)[:, None], 256, 1)], axis=2)
    alpha = np.repeat(y[None, :], 256, 0)
    cases = [("l_rand_23x17", rand_img(17, 23, 1, 400)), ("rgb_rand_23x17", rand_img(17, 23, 3, 401)),
             ("rgba_rand_23x17", rand_img(17, 23, 4, 402)),
             ("rgba_all_colour_alpha_pairs_256x256", with_alpha(color, alpha))]
    for label, im in cases:
        g.case(f"hwc3_{label}", "hwc3", {}, {"image": im}, {"image": hwc3(im)})


def gen_up255(g):
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    soft = soft_disc(31, 29, 15, 14, 3, 13)
    for t in (0, 1, 127, 128, 200, 254, 255):
        g.case(f"up255_ramp_t{t}", "up255", {"threshold": t}, {"mask": ramp}, {"mask": up255(ramp, t)})
    g.case("up255_soft_disc_t127", "up255", {"threshold": 127}, {"mask": soft}, {"mask": up255(soft, 127)})


def gen_shape(g):
    rng = np.random.default_rng(500)
    spec = [(512, 512), (768, 512), (1000, 750), (896, 1152), (600, 800), (100, 300), (333, 777), (1080, 1920),
            (2000, 3000), (479, 640), (1217, 913), (176, 1168)]
    edge = [(1, 1), (64, 64), (64, 65), (960, 960), (960, 961), (961, 961), (1024, 1024), (1025, 1024),
            (3, 5000), (5000, 3), (7, 29), (16, 43), (4, 71), (4, 50), (2752, 2752), (2753, 2753), (2800, 2800)]
    rand = [(int(h), int(w)) for h, w in rng.integers(1, 4097, size=(40, 2))]
    for h, w in spec + edge + rand:
        g.case(f"shape_ceil_h{h}_w{w}", "shape_ceil", {"height": h, "width": w},
               expect={"ceil": int(get_shape_ceil(h, w))})

    def size_case(h, w, target):
        eh, ew, loops = shape_ceil_size(h, w, target)
        g.case(f"set_image_shape_ceil_size_h{h}_w{w}_t{target}", "set_image_shape_ceil_size",
               {"height": h, "width": w, "target": target}, expect={"height": eh, "width": ew, "loops": loops})

    for h, w in spec:
        size_case(h, w, 1024)
    # extreme aspect ratios: many loops, and sizes that never settle (all 256 iterations run)
    for h, w in [(4, 8), (4, 22), (4, 50), (4, 71), (4, 78), (7, 29), (10, 29), (16, 43), (19, 57), (29, 7),
                 (961, 961), (960, 960), (64, 64), (3, 3)]:
        size_case(h, w, 1024)
    seen = set()
    while len(seen) < 80:
        h, w = (int(v) for v in rng.integers(1, 4097, size=2))
        target = int(rng.choice([1024, 1024, 1024, 2048, 256, 320, 640]))
        if (h, w, target) in seen:
            continue
        try:
            shape_ceil_size(h, w, target)
        except ZeroDivisionError:  # Fooocus crashes as well (a side rounds to 0); not a golden
            continue
        seen.add((h, w, target))
        size_case(h, w, target)
    for h, w, target in [(100, 300, 256), (100, 300, 320), (512, 512, 2048), (3000, 2000, 2048), (37, 53, 64)]:
        size_case(h, w, target)


def gen_set_image_shape_ceil(g, big_unchanged, extra_1024):
    specs = [(100, 300, 320, "smooth"), (37, 53, 256, "rand"), (20, 500, 256, "smooth"), (256, 256, 256, "rand"),
             (300, 100, 320, "rand"), (13, 29, 256, "smooth")]
    for i, (h, w, target, kind) in enumerate(specs):
        im = rand_img(h, w, 3, 600 + i) if kind == "rand" else smooth_img(h, w, 3, 600 + i)
        g.case(f"set_image_shape_ceil_{w}x{h}_{kind}_t{target}", "set_image_shape_ceil", {"target": target},
               {"image": im}, {"image": set_image_shape_ceil(im, target)})
    for label, im in extra_1024:
        g.case(f"set_image_shape_ceil_{label}_{dims(im)}_t1024", "set_image_shape_ceil", {"target": 1024},
               {"image": im}, {"image": set_image_shape_ceil(im, 1024)})
    g.case(f"set_image_shape_ceil_{dims(big_unchanged)}_unchanged_t1024", "set_image_shape_ceil",
           {"target": 1024}, {"image": big_unchanged}, {"image": set_image_shape_ceil(big_unchanged, 1024)})


def gen_mask_prepare(g, fx):
    def case(name, image, mask, k=0, invert=False, advanced=False, upload=None):
        out_image, out_mask = mask_prepare(image, mask, upload, k, invert, advanced)
        inputs = {"image": image, "mask": mask}
        if advanced and upload is not None:
            inputs["upload"] = upload
        g.case(f"mask_prepare_{name}", "mask_prepare",
               {"erode_or_dilate": k, "invert": invert, "advanced_masking": advanced}, inputs,
               {"image": out_image, "mask": out_mask})

    im, m = fx["overture"]
    case("overture_plain", im, m)
    case("overture_adv_upload_is_mask", im, m, advanced=True, upload=m)
    case("overture_dilate5", im, m, k=5)
    case("overture_erode3_invert", im, m, k=-3, invert=True)
    case("overture_adv_dilate2_invert", im, m, k=2, invert=True, advanced=True, upload=m)
    im2, m2 = fx["alex"]
    case("alex_adv_erode8", im2, m2, k=-8, advanced=True, upload=m2)
    # first channel only: mask whose channels disagree; upload mean decides the union
    h, w = 45, 61
    image = smooth_img(h, w, 3, 700)
    mask = np.stack([rect_mask(h, w, (5, 20), (3, 30)), rect_mask(h, w, (25, 44), (40, 60)),
                     soft_disc(h, w, 22, 30, 4, 12)], axis=2)
    case("channels_disagree", image, mask)
    case("channels_disagree_adv", image, mask, advanced=True, upload=mask)
    # upload of another size (resized with LANCZOS to the image size before the union)
    upload = np.stack([soft_disc(30, 40, 8, 30, 3, 9)] * 3, axis=2)
    case("upload_other_size_adv_dilate1", image, mask, k=1, advanced=True, upload=upload)
    # RGBA image (composited on white) and RGBA masks: R channel raw; upload mean over 4 channels incl. alpha
    rgba_image = with_alpha(rand_img(h, w, 3, 701), soft_disc(h, w, 20, 25, 10, 30))
    mask_rgba = with_alpha(np.stack([soft_disc(h, w, 10, 10, 2, 9), rect_mask(h, w, (0, 44), (50, 60)),
                                     rect_mask(h, w, (30, 44), (0, 60))], axis=2), rand_img(h, w, 1, 702))
    case("rgba_image_rgba_mask", rgba_image, mask_rgba)
    case("rgba_image_rgba_mask_adv", rgba_image, mask_rgba, advanced=True, upload=mask_rgba)
    upload_rgba = with_alpha(np.full((23, 31, 3), 255, np.uint8), rect_mask(23, 31, (0, 11), (0, 15)))
    case("rgba_upload_other_size_adv_invert", rgba_image, mask_rgba, invert=True, advanced=True, upload=upload_rgba)
    case("empty_mask_invert", image, np.zeros((h, w, 3), np.uint8), invert=True)
    case("prime_31x37_dilate20", rand_img(37, 31, 3, 703), np.stack([sparse_binary(37, 31, 704, 5)] * 3, 2), k=20)


ALL_DIRECTIONS = ["left", "right", "top", "bottom"]


def gen_outpaint(g, fx):
    h, w = 23, 37
    image = rand_img(h, w, 3, 800)
    mask = soft_disc(h, w, 11, 18, 3, 8)
    for n in range(1, 5):
        for subset in itertools.combinations(ALL_DIRECTIONS, n):
            img2, m2 = outpaint(image, mask, list(subset))
            g.case(f"outpaint_{'_'.join(subset)}", "outpaint", {"directions": list(subset), "distances": None},
                   {"image": image, "mask": mask}, {"image": img2, "mask": m2})
    distance_cases = [
        ("all_custom", ALL_DIRECTIONS, {"left": 5, "top": 1, "right": 17, "bottom": 40}),
        ("zeros_fall_back", ALL_DIRECTIONS, {"left": 0, "top": 0, "right": 0, "bottom": 0}),
        ("mixed", ["top", "right"], {"left": 9, "top": 0, "right": 3, "bottom": 0}),
        ("unselected_ignored", ["bottom"], {"left": 50, "top": 50, "right": 50, "bottom": 2}),
        ("left_only_big", ["left"], {"left": 100, "top": 0, "right": 0, "bottom": 0}),
    ]
    for label, dirs, dist in distance_cases:
        img2, m2 = outpaint(image, mask, dirs, dist)
        g.case(f"outpaint_distances_{label}", "outpaint", {"directions": dirs, "distances": dist},
               {"image": image, "mask": mask}, {"image": img2, "mask": m2})
    small = rand_img(3, 2, 3, 801)
    small_mask = np.array([[0, 255], [0, 0], [128, 0]], np.uint8)
    img2, m2 = outpaint(small, small_mask, ALL_DIRECTIONS)  # int(0.3·2) = 0 columns: nothing added
    g.case("outpaint_tiny_2x3_all", "outpaint", {"directions": ALL_DIRECTIONS, "distances": None},
           {"image": small, "mask": small_mask}, {"image": img2, "mask": m2})
    for key, dirs in (("overture", ["left", "bottom"]), ("alex", ["top", "right"])):
        im, m = fx[key]
        img2, m2 = outpaint(im, m[:, :, 0].copy(), dirs)
        g.case(f"outpaint_{key}_{'_'.join(dirs)}", "outpaint", {"directions": dirs, "distances": None},
               {"image": im, "mask": m[:, :, 0].copy()}, {"image": img2, "mask": m2})


K_VALUES = [0, 0.3, 0.618, 1]


def kname(k):
    return {0: "0", 0.3: "0.3", 0.618: "0.618", 1: "1"}[k]


def gen_crop_box(g, fx):
    masks = [("spec_1024x1024", rect_mask(1024, 1024, (400, 499), (300, 599))),
             ("spec_800x600", rect_mask(600, 800, (10, 19), (700, 789)))]
    _, left = outpaint(np.zeros((600, 800, 3), np.uint8), np.zeros((600, 800), np.uint8), ["left"])
    masks.append(("outpaint_left_1040x600", left))
    one = np.zeros((97, 89), np.uint8)
    one[0, 0] = 255
    masks.append(("pixel_top_left_89x97", one))
    one = np.zeros((97, 89), np.uint8)
    one[96, 88] = 1  # faint value: counts (mask > 0)
    masks.append(("faint_pixel_bottom_right_89x97", one))
    one = np.zeros((31, 257), np.uint8)
    one[15, 128] = 255
    masks.append(("pixel_centre_257x31", one))
    masks.append(("full_13x17", np.full((17, 13), 255, np.uint8)))
    masks.append(("pixel_1x1", np.array([[9]], np.uint8)))
    masks.append(("border_rows_211x53", rect_mask(53, 211, (0, 52), (200, 210))))
    faint = soft_disc(101, 103, 50, 51, 5, 40)  # ramp ends at 1s far out
    masks.append(("soft_disc_103x101", faint))
    masks.append(("sparse_173x79", sparse_binary(79, 173, 900, 2)))
    masks.append(("tall_strip_7x400", rect_mask(400, 7, (100, 120), (3, 3))))
    masks.append(("overture_512", fx["overture_full"][1][:, :, 0].copy()))
    masks.append(("alex_512", fx["alex_full"][1][:, :, 0].copy()))
    for label, m in masks:
        init = initial_box(m)
        for k in K_VALUES:
            grown = grow_box(m, init, k)
            g.case(f"crop_box_{label}_k{kname(k)}", "crop_box", {"k": k}, {"mask": m},
                   expect={"initial": list(init), "grown": list(grown)})


def gen_fill_and_blend(g):
    h, w = 89, 97
    im = smooth_img(h, w, 3, 900)
    m = rect_mask(h, w, (20, 60), (30, 80))
    fills = [("rect_97x89", im, m),
             ("border_61x47", rand_img(47, 61, 3, 901), rect_mask(47, 61, (0, 46), (40, 60))),
             ("all_masked_33x21", rand_img(21, 33, 3, 902), np.full((21, 33), 255, np.uint8)),
             ("none_masked_33x21", rand_img(21, 33, 3, 902), np.zeros((21, 33), np.uint8)),
             ("sparse_holes_128x96", smooth_img(96, 128, 3, 903), sparse_binary(96, 128, 904, 300)),
             ("one_keep_pixel_17x13", rand_img(13, 17, 3, 905), 255 - rect_mask(13, 17, (6, 6), (8, 8))),
             ("pixel_1x1", np.array([[[10, 20, 30]]], np.uint8), np.array([[255]], np.uint8)),
             ("wide_700x9", smooth_img(9, 700, 3, 906), rect_mask(9, 700, (2, 6), (100, 600)))]
    for label, image, mask in fills:
        g.case(f"fill_{label}", "fill", {}, {"image": image, "mask": mask}, {"image": fill(image, mask)})
    single = np.zeros((100, 100), np.uint8)
    single[0, 0] = 255
    blends = [("rect_97x89", m), ("single_corner_100x100", single),
              ("soft_disc_53x47", soft_disc(47, 53, 20, 30, 6, 17)),
              ("border_45x30", morph_masks()[1][1]), ("empty_20x10", np.zeros((10, 20), np.uint8)),
              ("full_20x10", np.full((10, 20), 255, np.uint8)), ("pixel_1x1", np.array([[128]], np.uint8)),
              ("threshold_edges_9x1", np.array([[0, 127, 128, 255, 127, 0, 0, 0, 200]], np.uint8)),
              ("sparse_300x200", sparse_binary(200, 300, 907, 1))]
    for label, mask in blends:
        out = blend_mask(mask)
        check_blend_closed_form(mask, out)
        g.case(f"blend_mask_{label}", "blend_mask", {}, {"mask": mask}, {"mask": out})


def gen_inpaint_and_paste(g, fx):
    results = {}

    def case(name, image, mask, k, use_fill):
        box, filled, wmask, crop, blend = inpaint_prepare(image, mask, k, use_fill)
        check_blend_closed_form(mask, blend)
        g.case(f"inpaint_prepare_{name}", "inpaint_prepare", {"k": k, "use_fill": use_fill},
               {"image": image, "mask": mask},
               {"fill": filled, "working_mask": wmask, "working_crop": crop, "blend_mask": blend},
               expect={"box": list(box), "working_height": crop.shape[0], "working_width": crop.shape[1]})
        results[name] = (image, mask, box, filled, blend)

    im, m = fx["overture"]
    case("overture_k0.618_fill", im, m[:, :, 0].copy(), 0.618, True)
    # crop shape ceil exactly 1024 (no super-resolution, kept at 961×961, not a multiple of 64)
    big = smooth_img(961, 961, 3, 1000)
    big_mask = soft_disc(961, 961, 400, 700, 60, 140)
    big_mask[960, 0] = 2  # faint pixel: the initial box counts mask > 0
    case("smooth_961x961_k1_nofill_soft_mask", big, big_mask, 1, False)
    # outpaint only (empty mask), as in docs/fooocus.md's 600×800 "left" example: the box hugs the new strip
    im2 = fx["alex_160x120"][0]
    padded, pmask = outpaint(im2, np.zeros(im2.shape[:2], np.uint8), ["left"])
    case("alex_outpaint_left_k0.618_fill", padded, pmask, 0.618, True)

    # paste back: generated images of any size
    image, mask, box, filled, blend = results["overture_k0.618_fill"]
    g.case("paste_back_overture_working_size", "paste_back", {"box": list(box)},
           {"original": image, "generated": filled, "blend_mask": blend},
           {"image": paste_back(image, filled, blend, box)})
    gen = rand_img(61, 83, 3, 1003)
    g.case("paste_back_overture_small_generated", "paste_back", {"box": list(box)},
           {"original": image, "generated": gen, "blend_mask": blend},
           {"image": paste_back(image, gen, blend, box)})
    image = rand_img(89, 97, 3, 1001)
    mask = rect_mask(89, 97, (80, 88), (0, 10), value=200)
    mask[0, 96] = 3
    box, blend = grow_box(mask, initial_box(mask), 0.3), blend_mask(mask)
    gen = smooth_img(40, 33, 3, 1004)
    g.case("paste_back_rand_97x89", "paste_back", {"box": list(box)},
           {"original": image, "generated": gen, "blend_mask": blend},
           {"image": paste_back(image, gen, blend, box)})
    image = smooth_img(150, 40, 3, 1002)
    mask = rect_mask(150, 40, (140, 149), (18, 20))
    box, blend = grow_box(mask, initial_box(mask), 0), blend_mask(mask)
    gen = rand_img(320, 256, 3, 1005)
    g.case("paste_back_tall_40x150", "paste_back", {"box": list(box)},
           {"original": image, "generated": gen, "blend_mask": blend},
           {"image": paste_back(image, gen, blend, box)})
    # whole-canvas box (k = 1) with a soft blend mask
    orig = smooth_img(47, 53, 3, 1006)
    blend = blend_mask(soft_disc(47, 53, 20, 30, 6, 17))
    gen = rand_img(64, 64, 3, 1007)
    g.case("paste_back_whole_canvas_53x47", "paste_back", {"box": [0, 47, 0, 53]},
           {"original": orig, "generated": gen, "blend_mask": blend},
           {"image": paste_back(orig, gen, blend, (0, 47, 0, 53))})
    # the overture crop after the 4x stand-in: set_image_shape_ceil(…, 1024) gives its working crop (shared file)
    a, b, c, d = results["overture_k0.618_fill"][2]
    upscaled = esrgan_standin(results["overture_k0.618_fill"][0][a:b, c:d])
    return big, [("overture_crop_standin4x", upscaled)]


UPSCALE_METHODS = ["Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)"]


def method_label(method):
    return {"Upscale (1.5x)": "1.5x", "Upscale (2x)": "2x", "Upscale (Fast 2x)": "fast2x"}[method]


def gen_upscale(g):
    rng = np.random.default_rng(1100)
    sizes = [(512, 512), (480, 640), (640, 480), (100, 100), (1, 1), (7, 29), (333, 777), (1024, 1024),
             (1080, 1920), (1200, 1500), (1500, 2000), (1835, 1835), (1836, 1836), (1377, 1376), (1376, 1376),
             (480, 480), (481, 481), (640, 640), (641, 641), (720, 1280), (2000, 3000), (3, 5000)]
    sizes += [(int(h), int(w)) for h, w in rng.integers(1, 2600, size=(20, 2))]
    for method in UPSCALE_METHODS:
        for h, w in sizes:
            try:
                exp = upscale_size(method, h, w)
            except ZeroDivisionError:
                continue
            g.case(f"upscale_size_{method_label(method)}_h{h}_w{w}", "upscale_size",
                   {"method": method, "height": h, "width": w, "esrgan_scale": ESRGAN_SCALE}, expect=exp)
    pixel_cases = [  # shape ceil < 1024: set_image_shape_ceil(4x stand-in, 1024); RGBA input goes through HWC3
                   ("Upscale (Fast 2x)", with_alpha(smooth_img(37, 23, 3, 1103), rand_img(37, 23, 1, 1104))),
                   # 481x481 at 2x: ceil 1024 -> LANCZOS(4x stand-in, 962, 962)
                   ("Upscale (2x)", smooth_img(481, 481, 3, 1105))]
    for method, im in pixel_cases:
        g.case(f"upscale_{method_label(method)}_{mode_of(im)}_{dims(im)}", "upscale", {"method": method},
               {"image": im}, {"image": upscale(im, method)})


def main():
    if len(sys.argv) != 2:
        print("usage: make_goldens.py OUTDIR", file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name in os.listdir(outdir):  # stale goldens from an earlier run (only our own file kinds)
        if name.endswith(".raw") or name == "manifest.json":
            os.remove(os.path.join(outdir, name))
    t0 = time.time()
    check_spec_vectors()
    fx = {"overture_full": load_fixture("overture-creations-5sI6fQgYIuo"),
          "alex_full": load_fixture("alex-iby-G_Pk4D9rMLs"),
          "overture": load_fixture("overture-creations-5sI6fQgYIuo", (192, 192)),
          "alex": load_fixture("alex-iby-G_Pk4D9rMLs", (160, 144)),
          "alex_160x120": load_fixture("alex-iby-G_Pk4D9rMLs", (160, 120))}
    g = Goldens(outdir)
    gen_lanczos(g)
    gen_box_blur(g)
    gen_morphology(g)
    gen_hwc3(g)
    gen_up255(g)
    gen_shape(g)
    gen_mask_prepare(g, fx)
    gen_outpaint(g, fx)
    gen_crop_box(g, fx)
    gen_fill_and_blend(g)
    stage_images = gen_inpaint_and_paste(g, fx)
    gen_set_image_shape_ceil(g, *stage_images)
    gen_upscale(g)
    g.finish()
    counts = {}
    for c in g.cases:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    print(f"{len(g.cases)} cases, {len(g.by_hash)} files, {g.bytes_written / 1e6:.1f} MB, "
          f"{time.time() - t0:.1f} s -> {outdir}")
    print("  " + ", ".join(f"{op} {n}" for op, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
