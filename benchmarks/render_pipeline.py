"""End-to-end cost of `cyclehand-gen render` against Cycles' own render time, per preset.

Runs the real CLI path (parent + worker process + BlenderView + shards) on the given job into a
fresh folder and reports, per preset: views per hour (wall clock, worker start-up included), the
ratio of wall time to Cycles' own render time (bpy.ops.render.render), and the same ratio inside
the worker's per-pair loop (sampling, posing, annotating, PNG encoding, plus BlenderView's
read-back and compositing) - the number the start-up does not dilute.

    .venv/bin/python benchmarks/render_pipeline.py --views 6 --presets draft default
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.jobs import load_job  # noqa: E402
from generator.render_cli import _preflight, run_render  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", default=str(ROOT / "render_jobs" / "default.toml"))
    ap.add_argument("--views", type=int, default=6, help="pairs per preset")
    ap.add_argument("--presets", nargs="+", default=["draft", "default"])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--textures", default=None, help="texture set folder (default: the job's)")
    ap.add_argument("--workers", type=int, default=None, help="render worker processes (default: the job's)")
    ap.add_argument("--out", default=None, help="write the results here as JSON")
    args = ap.parse_args(argv)
    rows = {}
    for preset in args.presets:
        job = load_job(args.job).override({"render.preset": preset, "camera.resolution": args.resolution,
                                           "render.shard_size": args.views,
                                           "appearance.texture_dir": args.textures,
                                           **({"render.workers": args.workers} if args.workers else {})})
        _preflight(job)
        tmp = Path(tempfile.mkdtemp(prefix=f"cyclehand-bench-{preset}-"))
        try:
            s = run_render(job, tmp / "out", args.views, progress=False, log=lambda *a: None)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows[preset] = {k: s[k] for k in ("views", "wall_seconds", "views_per_hour", "render_seconds",
                                          "pipeline_over_render", "pair_loop_over_render", "devices")}
        print(preset, json.dumps(rows[preset]), flush=True)
    result = {"job": args.job, "pairs_per_preset": args.views, "resolution": args.resolution, "workers": job.render.workers,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "presets": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
