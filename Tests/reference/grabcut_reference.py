#!/usr/bin/env python3
"""Gantry's generate_mask GrabCut against OpenCV's cv2.grabCut (bench/generate_mask_quality.sh drives it).

For every fixture photo it asks Gantry for an isnet-general-use mask (`gantry run gantry/fooocus/generate-mask`,
which answers with GrabCut from a centred box) and runs OpenCV's GrabCut with the same box rule (5 % margin on each
side, at least one pixel, half-up rounding) and the same 5 iterations, twice:

- "opencv full": on the photo at its own size (what a user of OpenCV would run);
- "opencv working": on the same working copy Gantry uses (longest side <= 320, Pillow LANCZOS), its 0/255 labels
  LANCZOS-resized back and thresholded at 127, as Gantry does - the same algorithm at the same resolution.

It reports the IoU of Gantry's mask with each, the IoU between the two OpenCV runs (what the resolution alone
changes), the foreground share, and timings (Gantry's own `segment` phase and process wall time; OpenCV's
grabCut call, best of `--repeats`). Writes OUTDIR/generate-mask-quality.json and a contact sheet
OUTDIR/generate-mask-sheet.png: photo with the box, Gantry, OpenCV full, and where they disagree.

Usage: grabcut_reference.py --gantry BINARY --out OUTDIR FIXTURE_DIR...
"""
import argparse
import base64
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from PIL import Image, ImageDraw

MARGIN = 0.05
WORKING_SIDE = 320
ITERATIONS = 5
TILE = 256


def half_up(x):
    return int(math.floor(x + 0.5))


def box(width, height):
    mx, my = max(1, half_up(width * MARGIN)), max(1, half_up(height * MARGIN))
    return mx, my, max(0, width - 2 * mx), max(0, height - 2 * my)


def working_size(width, height):
    longest = max(width, height)
    if longest <= WORKING_SIDE:
        return width, height
    scale = WORKING_SIDE / longest
    return max(1, half_up(width * scale)), max(1, half_up(height * scale))


def photos(dirs):
    found = {}
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in (".png", ".jpg", ".jpeg", ".webp") and not stem.endswith("_mask") and stem not in found:
                found[stem] = os.path.join(d, name)
    return found


def opencv_grabcut(rgb, repeats):
    """Foreground (bool array) and the best time in seconds of cv2.grabCut on an RGB array."""
    h, w = rgb.shape[:2]
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    best, result = math.inf, None
    for _ in range(repeats):
        cv2.setRNGSeed(0)
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        start = time.perf_counter()
        cv2.grabCut(bgr, mask, box(w, h), bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_RECT)
        best = min(best, time.perf_counter() - start)
        result = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return result, best


def opencv_working(rgb, repeats):
    """OpenCV's GrabCut on Gantry's working copy, labels scaled back like Gantry's."""
    h, w = rgb.shape[:2]
    ww, wh = working_size(w, h)
    start = time.perf_counter()
    small = rgb if (ww, wh) == (w, h) else np.array(Image.fromarray(rgb).resize((ww, wh), Image.LANCZOS))
    resize_s = time.perf_counter() - start
    fg, seconds = opencv_grabcut(small, repeats)
    if (ww, wh) == (w, h):
        return fg, seconds + resize_s
    labels = Image.fromarray(np.where(fg, 255, 0).astype(np.uint8)).resize((w, h), Image.LANCZOS)
    return np.array(labels) > 127, seconds + resize_s


def gantry_mask(binary, path, repeats):
    """Gantry's mask (bool array), its best `segment` seconds, best process wall seconds, and the method."""
    with open(path, "rb") as f:
        data = f.read()
    kind = "png" if data[:4] == b"\x89PNG" else "jpeg" if data[:3] == b"\xff\xd8\xff" else "webp"
    request = {"image_url": f"data:image/{kind};base64,{base64.b64encode(data).decode()}", "mask_model": "isnet-general-use",
               "sync_mode": True}
    best_segment, best_wall, masks, method = math.inf, math.inf, [], None
    with tempfile.TemporaryDirectory() as tmp:
        request_path = os.path.join(tmp, "request.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        for _ in range(repeats):
            start = time.perf_counter()
            done = subprocess.run([binary, "run", "gantry/fooocus/generate-mask", "--input", request_path, "--out", tmp],
                                  capture_output=True, check=True)
            best_wall = min(best_wall, time.perf_counter() - start)
            output = json.loads(done.stdout)
            best_segment = min(best_segment, output["timings"]["segment"])
            method = output["method"]
            png = base64.b64decode(output["image"]["url"].split(",", 1)[1])
            im = Image.open(io.BytesIO(png))
            if im.mode != "L":
                raise SystemExit(f"{path}: Gantry's mask is mode {im.mode}, expected L")
            masks.append(np.array(im) > 127)
    if any((m != masks[0]).any() for m in masks[1:]):
        raise SystemExit(f"{path}: Gantry's mask differs between runs (not deterministic)")
    return masks[0], best_segment, best_wall, method


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def tile(rgb, text, mask=None, rect=None):
    im = Image.fromarray(rgb)
    if mask is not None:
        tint = np.array(im).astype(np.float32)
        tint[mask] = tint[mask] * 0.45 + np.array([255, 40, 40]) * 0.55
        tint[~mask] *= 0.35
        im = Image.fromarray(tint.astype(np.uint8))
    scale = TILE / max(im.size)
    im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.LANCZOS)
    canvas = Image.new("RGB", (TILE, TILE + 18), (255, 255, 255))
    canvas.paste(im, (0, 18))
    draw = ImageDraw.Draw(canvas)
    if rect is not None:
        x, y, w, h = (v * scale for v in rect)
        draw.rectangle([x, 18 + y, x + w - 1, 18 + y + h - 1], outline=(255, 220, 0), width=2)
    draw.text((4, 3), text, fill=(0, 0, 0))
    return canvas


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gantry", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cv2.setNumThreads(1)
    rows, tiles = [], []
    for name, path in photos(args.dirs).items():
        rgb = np.array(Image.open(path).convert("RGB"))
        h, w = rgb.shape[:2]
        g, g_segment, g_wall, method = gantry_mask(args.gantry, path, args.repeats)
        full, full_s = opencv_grabcut(rgb, args.repeats)
        work, work_s = opencv_working(rgb, args.repeats)
        row = {"name": name, "size": [w, h], "box": list(box(w, h)), "gantry_method": method,
               "iou_gantry_vs_opencv_full": iou(g, full), "iou_gantry_vs_opencv_working": iou(g, work),
               "iou_opencv_working_vs_full": iou(work, full),
               "foreground_share": {"gantry": float(g.mean()), "opencv_full": float(full.mean()), "opencv_working": float(work.mean())},
               "seconds": {"gantry_segment": g_segment, "gantry_process": g_wall, "opencv_full": full_s, "opencv_working": work_s}}
        rows.append(row)
        diff = np.zeros((h, w, 3), np.uint8)
        diff[g & ~full] = (255, 60, 60)
        diff[full & ~g] = (60, 120, 255)
        tiles.append([tile(rgb, f"{name[:28]} {w}x{h}", rect=box(w, h)),
                      tile(rgb, f"Gantry GrabCut ({g_segment * 1000:.0f} ms)", mask=g),
                      tile(rgb, f"OpenCV grabCut full ({full_s * 1000:.0f} ms)", mask=full),
                      tile(diff, f"IoU {row['iou_gantry_vs_opencv_full']:.3f}: red G only, blue CV only")])
        print(f"{name:34s} IoU vs OpenCV full {row['iou_gantry_vs_opencv_full']:.3f}  vs working "
              f"{row['iou_gantry_vs_opencv_working']:.3f}  (OpenCV working vs full {row['iou_opencv_working_vs_full']:.3f})  "
              f"Gantry {g_segment * 1000:6.0f} ms  OpenCV full {full_s * 1000:6.0f} ms  working {work_s * 1000:6.0f} ms")
    if not rows:
        raise SystemExit("no fixture photos found in " + ", ".join(args.dirs))
    mean = {key: float(np.mean([r[key] for r in rows]))
            for key in ("iou_gantry_vs_opencv_full", "iou_gantry_vs_opencv_working", "iou_opencv_working_vs_full")}
    mean_seconds = {key: float(np.mean([r["seconds"][key] for r in rows])) for key in rows[0]["seconds"]}
    report = {"margin": MARGIN, "working_side": WORKING_SIDE, "iterations": ITERATIONS, "opencv": cv2.__version__,
              "rows": rows, "mean": mean, "mean_seconds": mean_seconds}
    with open(os.path.join(args.out, "generate-mask-quality.json"), "w") as f:
        json.dump(report, f, indent=2)
    sheet = Image.new("RGB", (4 * TILE, len(tiles) * (TILE + 18)), (255, 255, 255))
    for r, row_tiles in enumerate(tiles):
        for c, t in enumerate(row_tiles):
            sheet.paste(t, (c * TILE, r * (TILE + 18)))
    sheet.save(os.path.join(args.out, "generate-mask-sheet.png"))
    print(f"mean IoU vs OpenCV full {mean['iou_gantry_vs_opencv_full']:.3f}, vs OpenCV working "
          f"{mean['iou_gantry_vs_opencv_working']:.3f} (OpenCV working vs full {mean['iou_opencv_working_vs_full']:.3f})")
    print("mean seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in mean_seconds.items()))
    print(f"report: {args.out}/generate-mask-quality.json, sheet: {args.out}/generate-mask-sheet.png")


if __name__ == "__main__":
    sys.exit(main())
