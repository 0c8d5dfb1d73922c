#!/usr/bin/env python3
"""pipeline_package.py ROOT/Package.swift OUT/Package.swift — the checkout's manifest plus the benchmark's target.

Used by bench/pipeline.sh while Package.swift has no `gantry-pipeline-bench` target: the private package next to
OUT has this manifest and symlinks to the checkout's Sources and Tests, so the bench builds against the current
Imaging and Fooocus (with whatever dependencies their targets have). OUT is left alone when unchanged, so SwiftPM
keeps its cached manifest.
"""

import sys

TARGET = '        .executableTarget(name: "gantry-pipeline-bench", dependencies: ["Fooocus", "Imaging"]),\n'
ANCHOR = "    targets: [\n"


def main(src, dst):
    text = open(src).read()
    if ANCHOR not in text:
        print(f"pipeline_package.py: no '{ANCHOR.strip()}' in {src}", file=sys.stderr)
        return 1
    new = text.replace(ANCHOR, ANCHOR + TARGET, 1)
    try:
        old = open(dst).read()
    except OSError:
        old = None
    if new != old:
        with open(dst, "w") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]) if len(sys.argv) == 3 else 2)
