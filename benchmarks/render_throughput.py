"""Render throughput and quality of the Blender view, per quality preset, at 256x256.

For each preset: views per hour, the ratio of pipeline time (the whole per-view step: sample ->
vertices -> BlenderView.render -> numpy images) to Cycles' own time (the bpy.ops.render.render
call: scene sync, BVH, path tracing, denoising, EXR write), and PSNR against a 1024-sample
reference (no adaptive sampling, 'high' light paths, OIDN-denoised) of the same views, over the
whole image and over the hand only (the hand-only number is the honest one: backgrounds are
noise-free in every preset).

    .venv/bin/python benchmarks/render_throughput.py --views 8 --ref-views 3 --out benchmarks/render_throughput.json

Views are the default job's (render_jobs/default.toml at 256 px): its hands, arms, rotations,
cameras, lighting and background kinds, distractors and effects, drawn by
generator.sample.draw_sample; views a and b of pairs 0, 1, 2, ... in turn. Skin maps from
textures/ (`make textures`); without them a flat skin colour.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.jobs import load_job  # noqa: E402
from generator.render import blender_view as bv  # noqa: E402
from generator.sample import SampleContext, appearance_for, build_views, draw_sample, load_textures  # noqa: E402

RES = 256
FLAT = [{"name": "flat", "mst": 5, "maps": {}, "subsurface_radius_m": [0.0036, 0.0014, 0.0008]}]


def draw_views(n: int, job_path: Path) -> tuple[list[dict], SampleContext]:
    """n views (a and b of pairs 0, 1, ...) of the job as plain data: vertices, K, kinds."""
    job = load_job(job_path).override({"camera.resolution": RES})
    has_maps = (ROOT / "textures" / "manifest.json").is_file()
    textures = load_textures(ROOT / "textures") if has_maps else FLAT
    ctx = SampleContext.for_job(job, textures)
    by_name = {v["name"]: v for v in textures}
    views = []
    for index in range((n + 1) // 2):
        s = draw_sample(job, index, ctx)
        va, vb, _, _ = build_views(s, ctx)
        app = appearance_for(s, by_name) if has_maps else {"texture": "flat", "color": [0.45, 0.25, 0.18]}
        for name, v in (("a", va), ("b", vb)):
            views.append({"sample": s, "view": name, "vertices": v.astype(np.float32), "appearance": app})
    return views[:n], ctx


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = (d[mask] if mask is not None else d).astype(np.float64) ** 2
    mse = float(mse.mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run_preset(view_obj, ctx, views, reference=False, first=0):
    results = []
    t_start = time.perf_counter()
    side = None
    for i, v in enumerate(views, start=first):
        t0, c0 = time.perf_counter(), time.process_time()
        s = v["sample"]
        if s.side != side:
            batch = ctx.posed(s.pose, s.shape, s.side)
            view_obj.set_topology(batch.faces, batch.uvs, batch.parts)
            side = s.side
        # the preset's samples and denoiser (the job's options name the default preset's)
        opts = {**s.options, "samples": 1024 if reference else None, "denoise": True if reference else None}
        out = view_obj.render(v["vertices"], np.asarray(s.K), (RES, RES), s.lighting, s.background,
                              v["appearance"], opts, distractors=s.distractors)
        wall = time.perf_counter() - t0
        results.append({"rgb": out["rgb"], "mask": out["mask"], "wall": wall,
                        "cpu": time.process_time() - c0,
                        "render": out["render_seconds"]})
        print(f"  view {i + 1}/{first + len(views)} (pair {s.index}{v['view']}, {s.lighting['kind']} light, "
              f"{s.background['kind']} background, {len(s.distractors)} distractors): {wall:.2f} s "
              f"(Cycles {out['render_seconds']:.2f} s)", file=sys.stderr, flush=True)
    return results, time.perf_counter() - t_start


def make_view(preset: str, threads: int | None, reference: bool = False):
    v = bv.BlenderView(device="cpu", preset=preset, resolution=(RES, RES), threads=threads)
    if reference:
        c = v.scene.cycles
        v.samples = 1024
        c.use_adaptive_sampling = False
    return v


def reference(method, ref_views, keys, ctx, threads, cache):
    """1024-spp renders of ref_views with the skin's subsurface method ``method`` (reused from the
    .npz cache when its keys match)."""
    ref, seconds = [], []
    if cache and cache.is_file():
        z = np.load(cache)
        if "keys" in z and list(z["keys"]) == keys[:len(z["keys"])]:
            n = min(len(z["rgb"]), len(ref_views))
            ref = [{"rgb": r, "mask": m} for r, m in zip(z["rgb"][:n], z["mask"][:n])]
            seconds = list(z["seconds"][:n])
            print(f"  reusing {n} reference views from {cache}", file=sys.stderr)
    if len(ref) < len(ref_views):
        print(f"reference ({method} skin): {len(ref_views) - len(ref)} views at 1024 spp", file=sys.stderr)
        v = make_view("high", threads, reference=True)
        v.skin.subsurface_method = method
        new, _ = run_preset(v, ctx, ref_views[len(ref):], reference=True, first=len(ref))
        v.close()
        ref += new
        seconds += [r["wall"] for r in new]
        if cache:
            np.savez_compressed(cache, keys=keys[:len(ref)], rgb=np.stack([r["rgb"] for r in ref]),
                                mask=np.stack([r["mask"] for r in ref]), seconds=np.array(seconds))
    return ref, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=8, help="views timed per preset")
    ap.add_argument("--ref-views", type=int, default=3, help="views with a 1024-spp reference for PSNR")
    ap.add_argument("--presets", default="draft,default,high")
    ap.add_argument("--job", type=Path, default=ROOT / "render_jobs" / "default.toml")
    ap.add_argument("--threads", type=int, default=None, help="Cycles threads (default: all cores)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--ref-cache", type=Path, default=None,
                    help="keep the reference renders here (.npz, one file per subsurface method) and reuse "
                         "them when seed and views match")
    args = ap.parse_args()

    views, ctx = draw_views(max(args.views, args.ref_views), args.job)
    # a cached reference is reused only for the same view under the same exposure (the meter scales it)
    keys = [f"{v['sample'].seed}{v['view']}-{v['sample'].options.get('exposure', 'fixed')}"
            f"{float(v['sample'].options.get('exposure_ev', 0.0)):+.4f}" for v in views]
    report = {"resolution": [RES, RES], "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", "load_average_start": os.getloadavg(),
              "job": str(args.job.relative_to(ROOT) if args.job.is_relative_to(ROOT) else args.job),
              "views": [{"pair": v["sample"].index, "view": v["view"], "lighting": v["sample"].lighting["kind"],
                         "background": v["sample"].background["kind"], "distractors": len(v["sample"].distractors),
                         "texture": v["appearance"]["texture"]} for v in views],
              "presets": {}}

    # references first (same views, same seeds), one per skin subsurface method the presets use:
    # PSNR measures the convergence of the preset's own scene
    presets = args.presets.split(",")
    methods = sorted({bv.PRESETS[p]["subsurface"] for p in presets})
    ref_views = views[:args.ref_views]
    refs = {}
    report["reference"] = {"samples": 1024, "adaptive": False, "light_paths": "high", "denoise": True,
                           "views": len(ref_views), "seconds_per_view": {}}
    for method in methods:
        cache = args.ref_cache.with_name(f"{args.ref_cache.stem}-{method.lower()}.npz") if args.ref_cache else None
        refs[method], seconds = reference(method, ref_views, keys, ctx, args.threads, cache)
        report["reference"]["seconds_per_view"][method] = float(np.mean(seconds))

    for preset in presets:
        ref = refs[bv.PRESETS[preset]["subsurface"]]
        print(f"preset {preset}: {args.views} views", file=sys.stderr)
        v = make_view(preset, args.threads)
        res, total = run_preset(v, ctx, views[:max(args.views, args.ref_views)])
        timed = res[:args.views]
        wall = sum(r["wall"] for r in timed)
        cycles = sum(r["render"] for r in timed)
        cpu = sum(r["cpu"] for r in timed)
        p_full = [psnr(r["rgb"], q["rgb"]) for r, q in zip(res, ref)]
        p_hand = [psnr(r["rgb"], q["rgb"], (r["mask"] > 0) | (q["mask"] > 0)) for r, q in zip(res, ref)]
        report["presets"][preset] = {
            "settings": {k: v_ for k, v_ in bv.PRESETS[preset].items() if k != "resolution"},
            "views": len(timed),
            "seconds_per_view": wall / len(timed),
            "views_per_hour": 3600.0 * len(timed) / wall,
            "cycles_seconds_per_view": cycles / len(timed),
            # CPU-seconds of this process (all its threads) per view, and the throughput they imply
            # on an otherwise idle machine with os.cpu_count() cores (the shared machine is busy)
            "cpu_seconds_per_view": cpu / len(timed),
            "views_per_hour_idle_estimate": 3600.0 * len(timed) / (cpu / (os.cpu_count() or 1)),
            "pipeline_to_cycles_ratio": wall / cycles,
            "psnr_db_full_image": float(np.mean(p_full)),
            "psnr_db_hand_only": float(np.mean(p_hand)),
            "psnr_db_full_per_view": [round(x, 2) for x in p_full],
            "psnr_db_hand_per_view": [round(x, 2) for x in p_hand],
        }
        v.close()
        print(json.dumps({preset: report["presets"][preset]}, indent=1), file=sys.stderr)
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
