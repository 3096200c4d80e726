"""Soak test of one render worker: resident memory over a few hundred tiny real Cycles views.

Runs the worker's own loop (generator.render_worker.Session: real BlenderView, anny hand, texture
set, HDRIs, annotation, PNG encoding, shard writing) in this process on render_jobs/smoke.toml
and samples the process's resident set size (psutil) after every pair. Target (issue 11): after
the first 50 views, resident memory grows by less than 10% over the next 300 views.

    .venv/bin/python benchmarks/render_soak.py --views 350 --warmup 50 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator import dataset as D  # noqa: E402
from generator.jobs import load_job  # noqa: E402
from generator.render_worker import Session  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=350, help="views to render (2 per pair)")
    ap.add_argument("--warmup", type=int, default=50, help="views before the baseline is taken")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--textures", default=str(REPO / "textures"))
    ap.add_argument("--json", default=None, help="write the figures and the RSS series here")
    a = ap.parse_args()
    job = load_job(REPO / "render_jobs" / "smoke.toml").override(
        {"camera.resolution": a.resolution, "render.samples": a.samples, "render.device": "cpu",
         "appearance.texture_dir": a.textures, "render.shard_size": 1})
    proc = psutil.Process()
    series = []                      # (views done, seconds, RSS MiB)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        session = Session({"job": job.to_dict(), "source": job.source, "out": out, "fingerprint": "soak"})
        views = 0

        def emit(**ev):
            nonlocal views
            if ev.get("event") == "pair":
                views += 2
                series.append((views, round(time.perf_counter() - t0, 2), proc.memory_info().rss / 2**20))

        for spec in D.plan_shards(a.views // 2, 1):
            session.render_shards([spec], emit)
            for f in Path(out).glob("shard-*.tar"):   # keep the disk flat; only memory matters
                f.unlink()
        session.close()
    base = next(r for v, _, r in series if v >= a.warmup)
    last = series[-1][2]
    peak = max(r for v, _, r in series if v >= a.warmup)
    result = {"views": series[-1][0], "warmup_views": a.warmup, "rss_mib_at_warmup": round(base, 1),
              "rss_mib_last": round(last, 1), "rss_mib_peak_after_warmup": round(peak, 1),
              "growth_pct_after_warmup": round(100 * (last - base) / base, 2),
              "peak_growth_pct_after_warmup": round(100 * (peak - base) / base, 2),
              "seconds": round(series[-1][1], 1), "resolution": a.resolution, "samples": a.samples,
              "target": "growth < 10% over the views after warmup"}
    print(json.dumps(result))
    for v, t, r in series[:: max(1, len(series) // 12)] + [series[-1]]:
        print(f"  views {v:4d}  {t:7.1f} s  RSS {r:7.1f} MiB")
    if a.json:
        Path(a.json).write_text(json.dumps(result | {"series": series}, indent=1))
    return 0 if result["peak_growth_pct_after_warmup"] < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
