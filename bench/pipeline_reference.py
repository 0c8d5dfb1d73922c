#!/usr/bin/env python3
"""Python side of bench/pipeline.sh: inputs, reference timings and the report of the imaging/pipeline benchmark.

  pipeline_reference.py inputs DIR SIZES               write the inputs (GLD1 .raw files) for SIZES (e.g. 1024,2048)
  pipeline_reference.py bench DIR SIZES MIN MAX BUDGET OUT.json
                                                       time the reference ops on DIR's inputs, write the whole-chain
                                                       outputs py_chain_*.raw into DIR and the timings to OUT.json
  pipeline_reference.py report DIR SWIFT.json PYTHON.json OUT.json key=value...
                                                       compare the two sides, print the table, write OUT.json

The reference ops are Tests/reference/make_goldens.py's (the goldens' Python implementation of the Fooocus stages
on the pinned Pillow / OpenCV / NumPy), imported, not copied. Timing protocol, the same on both sides: one warm-up
call, then calls until MAX calls, or until at least MIN calls and BUDGET seconds; the median is reported.
"""

import json
import os
import platform
import statistics
import struct
import sys
import time
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "reference"))
import make_goldens as mg  # noqa: E402

FIXTURE = "overture-creations-5sI6fQgYIuo"   # 512×512 photo, its mask covers ~13 %
FIELD = 0.618                                 # inpaint_respective_field (Fooocus default)


# --- GLD1 files (the goldens' format) --------------------------------------------------------------------------

def write_raw(path, arr):
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    with open(path, "wb") as f:
        f.write(b"GLD1" + struct.pack("<III", w, h, c))
        f.write(arr.tobytes())


def read_raw(path):
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:4] == b"GLD1", path
    w, h, c = struct.unpack("<III", blob[4:16])
    a = np.frombuffer(blob, dtype=np.uint8, offset=16)
    return a.reshape((h, w) if c == 1 else (h, w, c)).copy()


def crc(arr):
    return zlib.crc32(memoryview(np.ascontiguousarray(arr)).cast("B")) & 0xFFFFFFFF


# --- inputs -----------------------------------------------------------------------------------------------------

def synthetic_mask(n):
    """An off-centre disc covering ~15 % of the canvas (samples > 127), with a soft edge ramping from 255 at
    0.20·n to 0 at 0.23·n (soft values > 0 count for the crop box, as with real brush masks)."""
    return mg.soft_disc(n, n, n * 45 // 100, n * 55 // 100, n * 20 // 100, n * 23 // 100)


def make_inputs(d, sizes):
    for n in sizes:
        image = mg.smooth_img(n, n, 3, 4242)
        noise = mg.rand_img(n, n, 3, 4243, 0, 24)                       # texture, so the content is not flat
        image = (image.astype(np.uint16) * 7 // 8 + noise).astype(np.uint8)
        mask = synthetic_mask(n)
        alpha = mg.soft_disc(n, n, n // 2, n // 2, n // 4, n // 2)
        write_raw(f"{d}/syn_{n}_rgb.raw", image)
        write_raw(f"{d}/syn_{n}_rgba.raw", mg.with_alpha(image, alpha))
        write_raw(f"{d}/syn_{n}_mask.raw", mask)
        write_raw(f"{d}/syn_{n}_mask3.raw", np.stack([mask] * 3, axis=2))
        fx_image, fx_mask = mg.load_fixture(FIXTURE, (n, n))           # LANCZOS 512² → n², mask as 3 channels
        write_raw(f"{d}/fx_{n}_rgb.raw", fx_image)
        write_raw(f"{d}/fx_{n}_mask3.raw", fx_mask)
        print(f"inputs {n}²: synthetic mask {(mask > 127).mean() * 100:.1f} % masked, "
              f"fixture mask {(fx_mask[:, :, 0] > 127).mean() * 100:.1f} % masked", file=sys.stderr)


# --- the whole chain --------------------------------------------------------------------------------------------

def chain(image, mask3):
    """Mask prep → crop box (k = 0.618) → 4× stand-in when small → shape ceil 1024 → working mask → fill → blend
    mask; then paste-back of the working crop itself (as the "generated" image) with the colour-correction blend."""
    img, m = mg.mask_prepare(image, mask3, None, 0, False, False)
    box, filled, wmask, crop, blend = mg.inpaint_prepare(img, m, FIELD, True)
    out = mg.paste_back(img, crop, blend, box)
    return out, {"box": list(box), "fill": filled, "working_mask": wmask, "working_crop": crop, "blend_mask": blend}


CHAIN_PARTS = ["result", "fill", "working_mask", "working_crop", "blend_mask"]


def ops_for(d, n):
    """(name, label, input, callable) in table order; the Swift side has the same names."""
    syn = read_raw(f"{d}/syn_{n}_rgb.raw")
    rgba = read_raw(f"{d}/syn_{n}_rgba.raw")
    mask = read_raw(f"{d}/syn_{n}_mask.raw")
    mask3 = read_raw(f"{d}/syn_{n}_mask3.raw")
    fx, fx_mask3 = read_raw(f"{d}/fx_{n}_rgb.raw"), read_raw(f"{d}/fx_{n}_mask3.raw")
    return [
        ("lanczos_half", "synthetic", lambda: mg.lanczos(syn, n // 2, n // 2)),
        ("lanczos_double", "synthetic", lambda: mg.lanczos(syn, n * 2, n * 2)),
        ("boxblur_r3", "synthetic", lambda: mg.box_blur(syn, 3)),
        ("boxblur_r512", "synthetic", lambda: mg.box_blur(syn, 512)),
        ("dilate_k5", "synthetic", lambda: mg.dilate(mask, 5)),
        ("erode_k5", "synthetic", lambda: mg.erode(mask, 5)),
        ("hwc3_rgba", "synthetic", lambda: mg.hwc3(rgba)),
        ("fill", "synthetic", lambda: mg.fill(syn, mask)),
        ("blend_mask", "synthetic", lambda: mg.blend_mask(mask)),
        ("chain", "fixture", lambda: chain(fx, fx_mask3)[0]),
        ("chain", "synthetic", lambda: chain(syn, mask3)[0]),
    ], {"fixture": (fx, fx_mask3), "synthetic": (syn, mask3)}


def measure(fn, min_calls, max_calls, budget):
    last = fn()                                                         # warm-up
    samples = []
    start = time.perf_counter()
    while len(samples) < max_calls and not (len(samples) >= min_calls and time.perf_counter() - start >= budget):
        t0 = time.perf_counter()
        last = fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return last, samples


def bench(d, sizes, min_calls, max_calls, budget, out_path):
    records, chains = [], []
    for n in sizes:
        ops, chain_inputs = ops_for(d, n)
        for name, source, fn in ops:
            last, samples = measure(fn, min_calls, max_calls, budget)
            records.append({"op": name, "size": n, "input": source, "median_ms": statistics.median(samples),
                            "calls": len(samples), "samples_ms": samples, "crc32": crc(last)})
            print(f"python {name:<15} {source:<9} {n:>5}  {statistics.median(samples):10.2f} ms  "
                  f"({len(samples)} calls)", file=sys.stderr)
        for source, (image, mask3) in chain_inputs.items():
            out, parts = chain(image, mask3)
            parts["result"] = out
            for part in CHAIN_PARTS:
                write_raw(f"{d}/py_chain_{source}_{n}_{part}.raw", parts[part])
            chains.append({"size": n, "input": source, "box": parts["box"],
                           "working_size": list(parts["working_crop"].shape[:2])})
    import cv2
    import PIL
    meta = {"python": platform.python_version(), "pillow": PIL.__version__, "opencv": cv2.__version__,
            "numpy": np.__version__, "cv2_threads": cv2.getNumThreads()}
    with open(out_path, "w") as f:
        json.dump({"side": "python", "meta": meta, "records": records, "chains": chains}, f, indent=1)


# --- report -----------------------------------------------------------------------------------------------------

LABELS = {
    "lanczos_half": "LANCZOS resize to half",
    "lanczos_double": "LANCZOS resize to double",
    "boxblur_r3": "BoxBlur r=3",
    "boxblur_r512": "BoxBlur r=512",
    "dilate_k5": "dilate k=5 (mask)",
    "erode_k5": "erode k=5 (mask)",
    "hwc3_rgba": "HWC3 on RGBA",
    "fill": "fill, 60 passes (vs Pillow loop)",
    "blend_mask": "blend mask (vs 32× cv2 loop)",
    "chain": "whole inpaint chain",
}
TARGETS = {"chain": (5.0, "≥ 5×"), "fill": (10.0, "≥ 10×"), "lanczos_half": (1.0, "≥ 1×"),
           "lanczos_double": (1.0, "≥ 1×")}


def report(d, swift_path, python_path, out_path, meta_args):
    sw, py = json.load(open(swift_path)), json.load(open(python_path))
    key = lambda r: (r["op"], r["size"], r["input"])  # noqa: E731
    swift_by = {key(r): r for r in sw["records"]}
    rows, missed = [], 0
    header = f"{'op':<34} {'input':<9} {'size':>9} {'Swift ms':>10} {'n':>3} {'Python ms':>10} {'n':>3} " \
             f"{'Py/Swift':>9}  {'target':<9} {'same':<4}"
    print(header)
    print("-" * len(header))
    for p in py["records"]:
        s = swift_by.get(key(p))
        if s is None:
            continue
        ratio = p["median_ms"] / s["median_ms"] if s["median_ms"] > 0 else float("inf")
        label = LABELS[p["op"]]
        n = p["size"]
        if p["op"] == "lanczos_half":
            label += f" (→{n // 2}²)"
        elif p["op"] == "lanczos_double":
            label += f" (→{n * 2}²)"
        target = TARGETS.get(p["op"])
        verdict = ""
        if target:
            ok = ratio >= target[0]
            missed += not ok
            verdict = f"{target[1]} {'ok' if ok else 'MISS'}"
        same = "yes" if p["crc32"] == s["crc32"] else "NO"
        print(f"{label:<34} {p['input']:<9} {f'{n}²':>9} {s['median_ms']:10.2f} {s['calls']:3d} "
              f"{p['median_ms']:10.2f} {p['calls']:3d} {ratio:8.1f}×  {verdict:<9} {same:<4}")
        rows.append({"op": p["op"], "input": p["input"], "size": n, "swift_median_ms": s["median_ms"],
                     "python_median_ms": p["median_ms"], "ratio_python_over_swift": ratio,
                     "target": target[1] if target else None, "target_met": (ratio >= target[0]) if target else None,
                     "same_output_crc32": p["crc32"] == s["crc32"]})
    print()
    identity = []
    swift_chains = {(c["size"], c["input"]): c for c in sw["chains"]}
    for c in py["chains"]:
        n, source = c["size"], c["input"]
        sc = swift_chains.get((n, source))
        diffs = []
        if sc is None:
            diffs.append("missing on the Swift side")
        else:
            if sc["box"] != c["box"]:
                diffs.append(f"box {sc['box']} vs {c['box']}")
            for part in CHAIN_PARTS:
                a = open(f"{d}/py_chain_{source}_{n}_{part}.raw", "rb").read()
                b = open(f"{d}/swift_chain_{source}_{n}_{part}.raw", "rb").read()
                if a != b:
                    if len(a) != len(b):
                        diffs.append(f"{part}: sizes differ")
                    else:
                        x, y = np.frombuffer(a, np.uint8)[16:], np.frombuffer(b, np.uint8)[16:]
                        diffs.append(f"{part}: {int((x != y).sum())} bytes differ")
        ok = not diffs
        wh, ww = c["working_size"]
        print(f"whole chain byte-identity, {source} {n}²: {'OK' if ok else 'MISMATCH'} "
              f"(box {tuple(c['box'])}, working {ww}×{wh}; result, fill, working mask/crop, blend mask compared)"
              + ("" if ok else ": " + "; ".join(diffs)))
        identity.append({"size": n, "input": source, "identical": ok, "differences": diffs, "box": c["box"],
                         "working_size": c["working_size"]})
    print()
    print("Targets: whole chain ≥ 5× faster than Python; fill ≥ 10× faster than Pillow's loop; "
          "LANCZOS at least as fast as Pillow (Py/Swift ≥ 1×).")
    meta = dict(a.split("=", 1) for a in meta_args)
    print(f"Swift: {sw['meta'].get('threads')} threads (Imaging and Fooocus split work over all cores); "
          f"Pillow single-threaded; OpenCV {py['meta']['opencv']} threads={py['meta']['cv2_threads']}. "
          f"Machine: {meta.get('cores', '?')} cores, load {meta.get('loadavg_start', '?')} at start.")
    result = {"meta": meta, "swift_meta": sw["meta"], "python_meta": py["meta"], "rows": rows,
              "chain_identity": identity, "swift": sw["records"], "python": py["records"]}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    all_identical = all(i["identical"] for i in identity) and all(r["same_output_crc32"] for r in rows)
    return 0 if all_identical else 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "inputs" and len(argv) == 4:
        make_inputs(argv[2], [int(s) for s in argv[3].split(",")])
    elif cmd == "bench" and len(argv) == 8:
        bench(argv[2], [int(s) for s in argv[3].split(",")], int(argv[4]), int(argv[5]), float(argv[6]), argv[7])
    elif cmd == "report" and len(argv) >= 6:
        return report(argv[2], argv[3], argv[4], argv[5], argv[6:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
