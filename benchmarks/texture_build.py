"""Time `make textures`: a full build of the default set (MST 1-10 x 3 individuals, 2048 px,
2 workers) into a scratch folder, then the no-op re-run. Prints wall-clock and CPU seconds.

    .venv/bin/python benchmarks/texture_build.py [--resolution 2048] [--workers 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time


def cpu_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--individuals", type=int, default=3)
    ap.add_argument("--out", default=None, help="build here (default: a temporary folder)")
    args = ap.parse_args()
    from generator.textures.builder import build
    with tempfile.TemporaryDirectory(prefix="cyclehand-tex-") as tmp:
        out = args.out or tmp
        load0 = os.getloadavg()[0]
        w0, c0 = time.perf_counter(), cpu_seconds()
        first = build(out, resolution=args.resolution, individuals=args.individuals, workers=args.workers,
                      force=True, log=None)
        w1, c1 = time.perf_counter(), cpu_seconds()
        second = build(out, resolution=args.resolution, individuals=args.individuals, workers=args.workers,
                       log=None)
        w2, c2 = time.perf_counter(), cpu_seconds()
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"texture set: {len(first['built'])} variants x 4 maps at {args.resolution} px, "
              f"{size / 2**20:.0f} MiB, workers={args.workers}, cores={os.cpu_count()}, "
              f"load average at start {load0:.1f}")
        print(f"full build : {w1 - w0:6.1f} s wall, {c1 - c0:6.1f} s CPU")
        print(f"no-op rerun: {w2 - w1:6.1f} s wall, {c2 - c1:6.1f} s CPU, rebuilt {len(second['built'])} variants")


if __name__ == "__main__":
    main()
