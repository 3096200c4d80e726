"""Is the arm's cut ever seen? Renders a seeded batch of a job through the real CLI path and counts,
in every view's part-ID image (KEY.a.parts.png), the pixels of the arm's end region (its last
3 cm, id 24) and of its cap (id 25); also how often the arm is seen at all, how the natural
views' arm leaves the frame, and what the labels say (visible keypoints; their median share on
views within 30 deg of frontal, issue 9's figure; hand-only bbox).

    .venv/bin/python benchmarks/arm_cut.py --views 200 --resolution 128 --samples 4

Target (issue 8): zero end and cap pixels over 200 seeded pairs of the default job.
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.dataset import JSON, PARTS, iter_samples, member  # noqa: E402
from generator.jobs import load_job  # noqa: E402
from generator.parts import HAND_IDS, PART_IDS  # noqa: E402
from generator.render_cli import _preflight, run_render  # noqa: E402

FRONTAL_DEG = 30.0          # palm or back within this of the line of sight


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", default=str(ROOT / "render_jobs" / "default.toml"))
    ap.add_argument("--views", type=int, default=200, help="pairs")
    ap.add_argument("--seed", type=int, default=None, help="job seed (default: the job's)")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--samples", type=int, default=4, help="Cycles samples (the ID pass takes one)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keep", default=None, help="render into this folder and keep it")
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    job = load_job(args.job).override({"camera.resolution": args.resolution, "render.samples": args.samples,
                                       "render.workers": args.workers, "seed": args.seed})
    _preflight(job)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cyclehand-armcut-")) / "out"
    try:
        summary = run_render(job, tmp, args.views, progress=False, log=lambda *a: None)
        counts = collections.Counter()
        edges = collections.Counter()
        visible, frontal, bbox_area, attempts = [], [], [], []
        for s in iter_samples(str(tmp), members=[JSON, member("a", PARTS), member("b", PARTS)]):
            ann = s[JSON]
            for v in "ab":
                ids = s[member(v, PARTS)]
                counts["views"] += 1
                counts["end_pixels"] += int((ids == PART_IDS["forearm_end"]).sum())
                counts["cap_pixels"] += int((ids == PART_IDS["forearm_cap"]).sum())
                counts["views_with_end_or_cap"] += bool(np.isin(ids, [24, 25]).any())
                counts["views_showing_arm"] += bool((ids == PART_IDS["forearm"]).any())
                counts["views_showing_sleeve"] += bool((ids == PART_IDS["sleeve"]).any())
                counts["views_showing_accessory"] += bool((ids == PART_IDS["accessory"]).any())
                counts["views_showing_hand"] += bool(np.isin(ids, HAND_IDS).any())
                visible.append(sum(ann[v]["visible"]))
                if ann[v]["palm_deg"] <= FRONTAL_DEG:
                    frontal.append(sum(ann[v]["visible"]) / len(ann[v]["visible"]))
                if ann[v]["bbox"]:
                    x0, y0, x1, y1 = ann[v]["bbox"]
                    bbox_area.append((x1 - x0) * (y1 - y0) / args.resolution ** 2)
            attempts.append(ann["sample"]["views"]["attempt"])
            edge = ann["sample"]["views"]["arm_edge"][0]
            if edge:
                edges[edge] += 1
        result = {"job": args.job, "seed": job.seed, "pairs": args.views, "resolution": args.resolution,
                  **counts, "natural_arm_edges": dict(edges),
                  "visible_keypoints_median": float(np.median(visible)),
                  "frontal_views": len(frontal),
                  "frontal_visible_share_median": float(np.median(frontal)) if frontal else None,
                  "frontal_visible_share_p10": float(np.percentile(frontal, 10)) if frontal else None,
                  "bbox_area_fraction_median": float(np.median(bbox_area)),
                  "draw_attempts_mean": float(np.mean(attempts)),
                  "views_per_hour": summary["views_per_hour"]}
        print(json.dumps(result, indent=1))
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return 0 if counts["end_pixels"] == counts["cap_pixels"] == 0 else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
