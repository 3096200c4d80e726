"""Render throughput and quality of the Blender view, per quality preset, at 256x256.

For each preset: views per hour, the ratio of pipeline time (the whole per-view step: pose ->
vertices -> BlenderView.render -> numpy images) to Cycles' own time (the bpy.ops.render.render
call: scene sync, BVH, path tracing, denoising, EXR write), and PSNR against a 1024-sample
reference (no adaptive sampling, 'high' light paths, OIDN-denoised) of the same views, over the
whole image and over the hand only (the background is noise-free in every preset, so the
whole-image PSNR flatters; the hand-only number is the honest one).

    .venv/bin/python benchmarks/render_throughput.py --views 8 --ref-views 3 --out benchmarks/render_throughput.json

Views are drawn here (self-contained, seeded): anny right/left hands with random poses, a random
rotation, the bundled CC0 HDRIs at random rotation as light and background, and the first texture
variants of textures/manifest.json (flat skin colour when `make textures` has not run).
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
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.render import blender_view as bv  # noqa: E402
from generator import conventions  # noqa: E402
from generator.hand import load_hand_model  # noqa: E402

RES = 256


def texture_variants() -> list[dict]:
    manifest = ROOT / "textures" / "manifest.json"
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text())
    out = []
    for v in data["variants"]:
        out.append({"texture": v["name"], "skin_tone": v.get("mst"),
                    "maps": {k: str(manifest.parent / p) for k, p in v["maps"].items()},
                    "subsurface_radius_m": v["subsurface_radius_m"]})
    return out


def random_poses(hand, n: int, seed: int) -> np.ndarray:
    """(n, 20, 3) poses from the project's sampler (a simple limit-clipped draw before it existed)."""
    try:
        from generator.hand.poses import sample_poses
    except ImportError:
        from generator.hand.limits import clip_to_limits
        rng = conventions.rng(seed, 0, "bench_pose")
        return clip_to_limits(rng.normal(0.0, 20.0, (n, 20, 3)) + [25.0, 0.0, 0.0]).astype(np.float32)
    return sample_poses(hand, n, seed).poses


def draw_views(hand, n: int, seed: int) -> list[dict]:
    """n views as plain data: side, pose, shape, rotation, lighting, appearance."""
    poses = random_poses(hand, n, seed)
    hdris = sorted((Path(bv.bpy.utils.system_resource("DATAFILES")) / "studiolights" / "world").glob("*.exr"))
    textures = texture_variants()
    views = []
    for i in range(n):
        rng = conventions.rng(seed, i, "bench")
        app = textures[(i * 11) % len(textures)] if textures else {   # spread over skin tones
            "texture": "flat", "color": [0.45, 0.25, 0.18], "skin_tone": 5}
        views.append({
            "side": ("right", "left")[i % 2],
            "pose": poses[i],
            "rng_seed": int(rng.integers(2**31)),
            "rotation": Rotation.random(random_state=int(rng.integers(2**31))).as_matrix(),
            "lighting": {"kind": "hdri", "path": str(hdris[i % len(hdris)]),
                         "rotation": float(rng.uniform(0, 2 * np.pi)), "strength": 1.0},
            "appearance": app,
        })
    return views


def build_vertices(hand, view) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posed hand in the camera frame, framed to fill ~80% of a RES x RES image."""
    rng = np.random.default_rng(view["rng_seed"])
    batch = hand.forward(view["pose"][None], hand.sample_shape(rng), view["side"])
    v = batch.vertices[0].astype(np.float64) @ view["rotation"].T
    f = 420.0
    K = conventions.intrinsics(f, RES, RES)
    extent = np.ptp(v[:, :2], axis=0).max()
    z = f * extent / (0.8 * RES) + 0.02
    v = v - (v.min(0) + v.max(0)) / 2 + np.array([0.0, 0.0, z])
    return v.astype(np.float32), K, batch


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = (d[mask] if mask is not None else d).astype(np.float64) ** 2
    mse = float(mse.mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run_preset(view_obj, hand, views, samples=None, first=0):
    results = []
    t_start = time.perf_counter()
    for i, view in enumerate(views, start=first):
        t0, c0 = time.perf_counter(), time.process_time()
        verts, K, _ = build_vertices(hand, view)
        opts = {"seed": i, "denoise": True}
        if samples:
            opts["samples"] = samples
        out = view_obj.render(verts, K, (RES, RES), view["lighting"], {"kind": "hdri"},
                              view["appearance"], opts)
        wall = time.perf_counter() - t0
        results.append({"rgb": out["rgb"], "mask": out["mask"], "wall": wall,
                        "cpu": time.process_time() - c0,
                        "render": out["render_seconds"]})
        print(f"  view {i + 1}/{first + len(views)}: {wall:.2f} s (Cycles {out['render_seconds']:.2f} s)",
              file=sys.stderr, flush=True)
    return results, time.perf_counter() - t_start


def make_view(preset: str, threads: int | None, reference: bool = False):
    v = bv.BlenderView(device="cpu", preset=preset, resolution=(RES, RES), threads=threads)
    if reference:
        c = v.scene.cycles
        v.samples = 1024
        c.use_adaptive_sampling = False
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=8, help="views timed per preset")
    ap.add_argument("--ref-views", type=int, default=3, help="views with a 1024-spp reference for PSNR")
    ap.add_argument("--presets", default="draft,default,high")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="Cycles threads (default: all cores)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--ref-cache", type=Path, default=None,
                    help="keep the reference renders here (.npz) and reuse them when seed and views match")
    args = ap.parse_args()

    hand = load_hand_model("anny", forearm_length=0.08)
    views = draw_views(hand, max(args.views, args.ref_views), args.seed)
    report = {"resolution": [RES, RES], "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", "load_average_start": os.getloadavg(),
              "textures": views[0]["appearance"].get("texture"), "presets": {}}

    # reference first (same views, same seeds); one BlenderView per process, so rebuild per preset
    ref_views = views[:args.ref_views]
    print(f"reference: {len(ref_views)} views at 1024 spp", file=sys.stderr)
    _, K, batch = build_vertices(hand, views[0])
    ref, seconds = [], []
    if args.ref_cache and args.ref_cache.is_file():
        z = np.load(args.ref_cache)
        tex = [v_["appearance"]["texture"] for v_ in ref_views]
        if int(z["seed"]) == args.seed and list(z.get("textures", [])) == tex[:len(z.get("textures", []))]:
            n = min(len(z["rgb"]), len(ref_views))
            ref = [{"rgb": r, "mask": m} for r, m in zip(z["rgb"][:n], z["mask"][:n])]
            seconds = list(z["seconds"][:n])
            print(f"  reusing {n} reference views from {args.ref_cache}", file=sys.stderr)
    if len(ref) < len(ref_views):
        v = make_view("high", args.threads, reference=True)
        v.set_topology(batch.faces, batch.uvs, batch.parts)
        new, _ = run_preset(v, hand, ref_views[len(ref):], first=len(ref))
        v.close()
        ref += new
        seconds += [r["wall"] for r in new]
        if args.ref_cache:
            np.savez_compressed(args.ref_cache, seed=args.seed, rgb=np.stack([r["rgb"] for r in ref]),
                                mask=np.stack([r["mask"] for r in ref]), seconds=np.array(seconds),
                                textures=[v_["appearance"]["texture"] for v_ in ref_views[:len(ref)]])
    ref_time = float(np.sum(seconds))
    report["reference"] = {"samples": 1024, "adaptive": False, "light_paths": "high", "denoise": True,
                           "views": len(ref_views), "seconds_per_view": ref_time / len(ref_views)}

    for preset in args.presets.split(","):
        print(f"preset {preset}: {args.views} views", file=sys.stderr)
        v = make_view(preset, args.threads)
        v.set_topology(batch.faces, batch.uvs, batch.parts)
        res, total = run_preset(v, hand, views[:max(args.views, args.ref_views)])
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
