#!/usr/bin/env python3
"""Quality bench of Gantry's reference engine (bench/engine_quality.sh drives it).

For every fixture pair (image + *_mask.png) it writes a contact sheet bench/out/engine-<name>.png with the
columns input (hole tinted), mask, OpenCV Telea, OpenCV contrib xphoto shift-map (or n/a), and Gantry's
reference engine run through the real pipeline (gantry-engine-bench). For every fixture image it also cuts a
synthetic blob hole (~12 % of the area) over its most textured region, where the truth is known, and reports per
method the PSNR inside the hole and a texture ratio: var(Laplacian) inside the hole over var(Laplacian) in a
ring around it (1.0 = the same texture energy as the surroundings; the truth's own ratio is given too).

Usage: engine_quality.py BENCH_BINARY OUTDIR FIXTURE_DIR...
"""
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from PIL import Image, ImageDraw

HAS_SHIFTMAP = hasattr(cv2, "xphoto") and hasattr(cv2.xphoto, "inpaint")
SEED = 1
CACHE = ".cache"


def load_rgb(path):
    im = Image.open(path)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.array(im)


def load_mask(path):
    # As MaskPreparation reads it: the first channel.
    im = Image.open(path)
    a = np.array(im)
    if a.ndim == 3:
        a = a[:, :, 0]
    return a.astype(np.uint8)


def downscale(img, mask):
    h, w = mask.shape
    s = max(h, w)
    if s <= 1024:
        return img, mask
    nw, nh = round(w * 1024 / s), round(h * 1024 / s)
    return (np.array(Image.fromarray(img).resize((nw, nh), Image.LANCZOS)),
            np.array(Image.fromarray(mask).resize((nw, nh), Image.LANCZOS)))


def telea(img, hole):
    return cv2.cvtColor(cv2.inpaint(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), hole.astype(np.uint8) * 255, 5,
                                    cv2.INPAINT_TELEA), cv2.COLOR_BGR2RGB)


def cached(kind, fn):
    """OpenCV's results depend only on their inputs; shift-map takes minutes, so they are kept under OUTDIR/.cache."""
    def wrapper(img, hole):
        key = hashlib.sha1(img.tobytes() + np.packbits(hole).tobytes() + str(img.shape).encode()).hexdigest()
        path = os.path.join(CACHE, f"{kind}-{key}.npy")
        if os.path.exists(path):
            return np.load(path, allow_pickle=False)
        out = fn(img, hole)
        if out is not None:
            os.makedirs(CACHE, exist_ok=True)
            np.save(path, out)
        return out
    return wrapper


def shiftmap(img, hole):
    if not HAS_SHIFTMAP:
        return None
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    valid = np.where(hole, 0, 255).astype(np.uint8)  # xphoto: non-zero = known
    out = np.zeros_like(lab)
    cv2.xphoto.inpaint(lab, valid, out, cv2.xphoto.INPAINT_SHIFTMAP)
    return cv2.cvtColor(out, cv2.COLOR_Lab2RGB)


def gantry(binary, img, mask, engine="reference", repeats=1):
    with tempfile.TemporaryDirectory() as d:
        ip, mp, op = (os.path.join(d, n) for n in ("i.png", "m.png", "o.png"))
        Image.fromarray(img).save(ip)
        Image.fromarray(mask).save(mp)
        r = subprocess.run([binary, ip, mp, op, str(SEED), "0.618", str(repeats), engine],
                           check=True, capture_output=True, text=True)
        return load_rgb(op), json.loads(r.stdout)


def gray(a):
    return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)


def psnr(a, b, region):
    d = a[region].astype(np.float64) - b[region].astype(np.float64)
    mse = (d * d).mean()
    return float("inf") if mse == 0 else 10 * math.log10(255 * 255 / mse)


def texture_ratio(result, hole, ring):
    lap = cv2.Laplacian(gray(result), cv2.CV_64F, ksize=3)
    inner = hole.copy()
    inner = cv2.erode(inner.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # skip the seam itself
    return float(lap[inner].var() / max(lap[ring].var(), 1e-9))


def blob_hole(img, avoid, fraction=0.12, seed=0):
    """A blob of about `fraction` of the area centred on the most textured window away from the borders and
    clear of `avoid` (the fixture's own mask: the object, whose pixels no method could recover)."""
    h, w = img.shape[:2]
    radius = math.sqrt(fraction * h * w / math.pi)
    energy = np.abs(cv2.Laplacian(gray(img), cv2.CV_64F, ksize=3))
    k = int(radius) | 1
    local = cv2.boxFilter(energy, -1, (k, k))
    margin = int(radius * 1.25) + 8
    local[:margin, :] = -1
    local[-margin:, :] = -1
    local[:, :margin] = -1
    local[:, -margin:] = -1
    # Least overlap with the object first, then the most texture.
    side = int(2.5 * radius) | 1
    overlap = cv2.boxFilter(avoid.astype(np.float64), -1, (side, side))
    inside = local >= 0
    best = overlap[inside].min()
    local[overlap > best + 0.02] = -1
    cy, cx = np.unravel_index(np.argmax(local), local.shape)
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * math.pi, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    theta = np.arctan2(yy - cy, xx - cx)
    rad = radius * (1 + 0.12 * np.sin(2 * theta + phases[0]) + 0.08 * np.sin(3 * theta + phases[1])
                    + 0.05 * np.sin(5 * theta + phases[2]))
    hole = np.hypot(yy - cy, xx - cx) <= rad
    return hole


def label_tile(tile, text, size):
    t = Image.fromarray(tile).convert("RGB")
    if t.size != size:
        t = t.resize(size, Image.LANCZOS)
    canvas = Image.new("RGB", (size[0], size[1] + 22), (255, 255, 255))
    canvas.paste(t, (0, 22))
    ImageDraw.Draw(canvas).text((6, 5), text, fill=(0, 0, 0))
    return canvas


def na_tile(size, text):
    t = Image.new("RGB", size, (235, 235, 235))
    ImageDraw.Draw(t).text((size[0] // 2 - 60, size[1] // 2), text, fill=(90, 90, 90))
    return np.array(t)


def tinted(img, hole):
    out = img.astype(np.float64).copy()
    out[hole] = out[hole] * 0.5 + np.array([255, 0, 0]) * 0.5
    return out.astype(np.uint8)


def sheet(path, columns):
    h, w = columns[0][1].shape[:2]
    tiles = [label_tile(a, t, (w, h)) for t, a in columns]
    s = Image.new("RGB", (sum(t.size[0] for t in tiles) + 4 * (len(tiles) - 1), tiles[0].size[1]), (255, 255, 255))
    x = 0
    for t in tiles:
        s.paste(t, (x, 0))
        x += t.size[0] + 4
    s.save(path)


def pairs(dirs):
    seen = {}
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith("_mask.png"):
                name = f[: -len("_mask.png")]
                img = os.path.join(d, name + ".png")
                if os.path.exists(img) and name not in seen:
                    seen[name] = (img, os.path.join(d, f))
    return seen


def main():
    global CACHE, telea, shiftmap
    binary, outdir, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    CACHE = os.path.join(outdir, ".cache")
    telea, shiftmap = cached("telea", telea), cached("shiftmap", shiftmap)
    os.makedirs(outdir, exist_ok=True)
    rows, times = [], []
    for name, (ip, mp) in pairs(dirs).items():
        img, mask = downscale(load_rgb(ip), load_mask(mp))
        hole = mask > 127
        # 1. The fixture's own mask (object removal; no ground truth).
        g, info = gantry(binary, img, mask, repeats=3)
        times.append((name, info))
        sm = shiftmap(img, hole)
        sheet(os.path.join(outdir, f"engine-{name}.png"), [
            ("input", tinted(img, hole)), ("mask", np.stack([mask] * 3, -1)), ("OpenCV Telea r=5", telea(img, hole)),
            ("xphoto shift-map", sm if sm is not None else na_tile(img.shape[1::-1], "n/a (no opencv-contrib)")),
            (f"Gantry reference ({info['engine_ms']:.0f} ms)", g)])

        # 2. A synthetic hole over known content: PSNR and texture against the truth.
        shole = blob_hole(img, hole)
        smask = np.where(shole, 255, 0).astype(np.uint8)
        cut = img.copy()
        cut[shole] = 127  # nothing under the hole can leak into any method
        ring = cv2.dilate(smask, np.ones((31, 31), np.uint8)).astype(bool) & ~cv2.dilate(
            smask, np.ones((3, 3), np.uint8)).astype(bool)
        g2, info2 = gantry(binary, cut, smask, repeats=3)
        fill, _ = gantry(binary, cut, smask, engine="fill")
        results = [("Fooocus fill", fill), ("OpenCV Telea", telea(cut, shole)), ("xphoto shift-map", shiftmap(cut, shole)),
                   ("Gantry reference", g2)]
        row = {"name": name, "hole_pct": 100 * shole.mean(), "truth_texture": texture_ratio(img, shole, ring),
               "engine_ms": info2["engine_ms"], "methods": {}}
        for label, r in results:
            if r is None:
                row["methods"][label] = None
                continue
            row["methods"][label] = {"psnr": psnr(r, img, shole), "texture": texture_ratio(r, shole, ring)}
        rows.append(row)
        sm2 = results[2][1]
        sheet(os.path.join(outdir, f"engine-{name}-synthetic.png"), [
            ("input (synthetic hole)", tinted(cut, shole)), ("mask", np.stack([smask] * 3, -1)),
            ("OpenCV Telea r=5", results[1][1]),
            ("xphoto shift-map", sm2 if sm2 is not None else na_tile(img.shape[1::-1], "n/a (no opencv-contrib)")),
            (f"Gantry reference ({info2['engine_ms']:.0f} ms)", g2), ("ground truth", img)])

    # 3. The timing case: a 1024² image with a centred disc of 15 % of the area.
    first = next(iter(pairs(dirs).values()))
    big = np.array(Image.fromarray(load_rgb(first[0])).resize((1024, 1024), Image.LANCZOS))
    yy, xx = np.mgrid[0:1024, 0:1024]
    disc = np.where(np.hypot(yy - 512, xx - 512) <= math.sqrt(0.15 * 1024 * 1024 / math.pi), 255, 0).astype(np.uint8)
    _, big_info = gantry(binary, big, disc, repeats=5)

    methods = ["Fooocus fill", "OpenCV Telea", "xphoto shift-map", "Gantry reference"]
    print("\nSynthetic holes (PSNR dB inside the hole / texture ratio, 1.0 = surroundings):")
    print(f"{'fixture':34s} {'hole%':>5s} {'truth':>5s} " + " ".join(f"{m:>22s}" for m in methods) + f" {'engine ms':>9s}")
    for r in rows:
        cells = []
        for m in methods:
            v = r["methods"][m]
            cells.append(f"{'n/a':>22s}" if v is None else f"{v['psnr']:13.2f} / {v['texture']:5.2f}")
        print(f"{r['name'][:34]:34s} {r['hole_pct']:5.1f} {r['truth_texture']:5.2f} " + " ".join(cells)
              + f" {r['engine_ms']:9.0f}")
    means = {}
    for m in methods:
        vals = [r["methods"][m] for r in rows if r["methods"][m] is not None]
        if vals:
            means[m] = (sum(v["psnr"] for v in vals) / len(vals), sum(v["texture"] for v in vals) / len(vals))
    print(f"{'mean':34s} {'':5s} {sum(r['truth_texture'] for r in rows) / len(rows):5.2f} "
          + " ".join(f"{means[m][0]:13.2f} / {means[m][1]:5.2f}" if m in means else f"{'n/a':>22s}" for m in methods))
    print("\nEngine time on the fixtures' own masks (median of 3; box, working size):")
    for name, info in times:
        print(f"  {name[:34]:34s} engine {info['engine_ms']:6.0f} ms  (total pipeline {info['total_ms']:6.0f} ms, "
              f"box {info['box']}, generated {info['generated']})")
    print(f"\n1024x1024, 15 % disc (median of 5): engine {big_info['engine_ms']:.0f} ms; prepare "
          f"{big_info['prepare_ms']:.0f} ms, finish {big_info['finish_ms']:.0f} ms, PNG encode "
          f"{big_info['encode_ms']:.0f} ms; generated {big_info['generated']}")
    with open(os.path.join(outdir, "engine-quality.json"), "w") as f:
        json.dump({"synthetic": rows, "fixtures": dict(times), "timing_1024": big_info,
                   "shiftmap": HAS_SHIFTMAP}, f, indent=1)
    print(f"\nContact sheets: {outdir}/engine-*.png")


if __name__ == "__main__":
    main()
