"""What the skin's subsurface method and sample count cost and give: Cycles' time per view and
hand-only PSNR against a converged reference of the same method, on the default job's views.

One Blender view renders every variant of a view back to back (same scene, so the times compare
even on a shared machine); references are rendered without adaptive sampling and with `high`
light paths at --ref-samples. Variants are "samples:method" (Cycles' Principled BSDF methods
BURLEY, RANDOM_WALK_SKIN, RANDOM_WALK).

    .venv/bin/python benchmarks/subsurface_cost.py --views 4 --ref-samples 512 \\
        --variants 16:RANDOM_WALK_SKIN,16:BURLEY,12:RANDOM_WALK_SKIN,12:BURLEY,10:BURLEY
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from render_throughput import ROOT, RES, draw_views, make_view, psnr  # benchmarks/ is on sys.path


def render(view, v, samples, method, reference=False):
    s = v["sample"]
    view.skin.subsurface_method = method
    c = view.scene.cycles
    view._apply_preset()
    c.use_adaptive_sampling = not reference
    if reference:
        c.max_bounces, c.diffuse_bounces, c.glossy_bounces, c.transmission_bounces = 12, 6, 6, 8
    opts = {**s.options, "samples": samples, "denoise": True}
    return view.render(v["vertices"], np.asarray(s.K), (RES, RES), s.lighting, s.background,
                       v["appearance"], opts, distractors=s.distractors)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--ref-samples", type=int, default=512)
    ap.add_argument("--variants", default="16:RANDOM_WALK_SKIN,16:BURLEY,12:BURLEY")
    ap.add_argument("--job", default=str(ROOT / "render_jobs" / "default.toml"))
    args = ap.parse_args(argv)
    variants = [(int(k.split(":")[0]), k.split(":")[1]) for k in args.variants.split(",")]
    views, ctx = draw_views(args.views, args.job)
    view = make_view("default", None)
    rows = {f"{n}:{m}": [] for n, m in variants}
    side = None
    for i, v in enumerate(views):
        s = v["sample"]
        if s.side != side:
            b = ctx.posed(s.pose, s.shape, s.side)
            view.set_topology(b.faces, b.uvs, b.parts)
            side = s.side
        refs = {m: render(view, v, args.ref_samples, m, reference=True) for m in sorted({m for _, m in variants})}
        for n, m in variants:
            out = render(view, v, n, m)
            mask = (out["mask"] > 0) | (refs[m]["mask"] > 0)
            rows[f"{n}:{m}"].append((out["render_seconds"], psnr(out["rgb"], refs[m]["rgb"], mask)))
        print(f"view {i + 1}/{len(views)}: " + ", ".join(f"{k} {r[-1][0]:.2f} s {r[-1][1]:.1f} dB"
                                                       for k, r in rows.items()), file=sys.stderr, flush=True)
    view.close()
    result = {}
    for k, r in rows.items():
        a = np.array(r)
        result[k] = {"cycles_seconds_per_view": round(float(a[:, 0].mean()), 3),
                     "psnr_db_hand_only": round(float(a[:, 1].mean()), 2),
                     "psnr_db_hand_min": round(float(a[:, 1].min()), 2)}
    print(json.dumps({"views": len(views), "ref_samples": args.ref_samples, "variants": result}, indent=1))
    return 0


if __name__ == "__main__":
    t = time.perf_counter()
    rc = main()
    print(f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    sys.exit(rc)
