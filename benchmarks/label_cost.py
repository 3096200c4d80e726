"""What the labels cost at render time: Cycles' own render time of the same default-job views with
the part-ID layer on and off, and with the arm to the elbow against the old 8 cm stub; plus the
annotation (flesh entry ray cast + visibility) per view. The variants are interleaved per view so
that a busy machine slows them alike; the figures are medians of per-view ratios.

    .venv/bin/python benchmarks/label_cost.py --views 8 --resolution 256
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.annotate import flesh_entry, hand_mask, view_annotation  # noqa: E402
from generator.jobs import load_job  # noqa: E402
from generator.parts import HandPartIds  # noqa: E402
from generator.sample import (SampleContext, appearance_for, build_views, draw_sample, load_textures,  # noqa: E402
                              pose_hand)

STUB_FOREARM_M = 0.08                # the forearm before the arm went to the elbow


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", default=str(ROOT / "render_jobs" / "default.toml"))
    ap.add_argument("--views", type=int, default=8, help="pairs (view a of each is rendered)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    from generator.render import blender_view, parts_pass

    job = load_job(args.job).override({"camera.resolution": args.resolution})
    stub_job = job.override({"hand.forearm_length": STUB_FOREARM_M})
    textures = load_textures(job.appearance.texture_dir)
    by_name = {v["name"]: v for v in textures}
    ctx = {"arm": SampleContext.for_job(job, textures), "stub": SampleContext.for_job(stub_job, textures)}
    ids = {k: HandPartIds.of(c.hand) for k, c in ctx.items()}
    view = blender_view.BlenderView(device="cpu", preset=job.render.preset)
    layer = view.scene.view_layers[parts_pass.LAYER]
    read = parts_pass.read

    def read_or_blank(ch):           # the parts layer switched off: no channels to read
        if f"{parts_pass.LAYER}.Combined.R" in ch:
            return read(ch)
        shape = ch["Depth.Z"].shape
        return np.zeros(shape, np.uint8), np.full(shape, np.inf, np.float32)

    parts_pass.read = read_or_blank
    times = {"arm+parts": [], "arm": [], "stub": []}
    annotate_s = []
    try:
        for i in range(args.views):
            s = draw_sample(job, i, ctx["arm"])           # the stub hand takes the same pose and camera
            for name in ("arm+parts", "arm", "stub"):
                c = ctx["stub" if name == "stub" else "arm"]
                b = pose_hand(s, c)
                va, _, ka, _ = build_views(s, c, b)
                view.set_topology(b.faces, b.uvs, b.parts, ids["stub" if name == "stub" else "arm"].face)
                layer.use = name == "arm+parts"
                out = view.render(va.astype(np.float32), np.asarray(s.K), tuple(s.resolution), s.lighting,
                                  s.background, appearance_for(s, by_name), s.options, distractors=s.distractors)
                times[name].append(float(out["render_seconds"]))
                if name == "arm+parts":
                    t = time.perf_counter()
                    view_annotation(ka, s.K, s.resolution, out["parts"], out["parts_depth"],
                                    hand_mask(out["alpha"], out["parts"]), flesh_entry(va, b.faces, ka))
                    annotate_s.append(time.perf_counter() - t)
    finally:
        parts_pass.read = read
        view.close()
    t = {k: np.asarray(v) for k, v in times.items()}
    result = {"views": args.views, "resolution": args.resolution, "preset": job.render.preset,
              "render_s_median": {k: float(np.median(v)) for k, v in t.items()},
              "parts_layer_cost_median": float(np.median(t["arm+parts"] / t["arm"]) - 1),
              "arm_vs_stub_cost_median": float(np.median(t["arm"] / t["stub"]) - 1),
              "annotate_s_median": float(np.median(annotate_s))}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
