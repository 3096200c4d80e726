"""Procedural backgrounds against photographs: amplitude-spectrum slope, saturation and CIELAB
statistics of the default job's procedural backgrounds and of 256 px crops of the 8 CC0
photographs (HDRIs) bundled with Blender, plus the time to make one background.

    .venv/bin/python benchmarks/background_stats.py --count 48 --sheet docs/backgrounds.png

Photographs: each HDRI's middle band (the horizon, where the equirectangular map is least
distorted) cut into four 256 px crops, exposed so that the median luminance is 0.18, clipped and
sRGB-encoded. Procedural: drawn by the default job's procedural kind, made at 256 px by
generator.render.postprocess, sRGB-encoded (the renderer's AgX transform is left out of both).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.colour import LUMINANCE, linear_to_srgb, srgb_to_linear  # noqa: E402
from generator.conventions import rng  # noqa: E402
from generator.hdri import bpy_hdri_dir  # noqa: E402
from generator.image_stats import luma, saturation, spectral_slope  # noqa: E402
from generator.jobs import job_from_dict  # noqa: E402
from generator.render.postprocess import procedural_background  # noqa: E402

SIZE = 256


def photo_crops() -> list[np.ndarray]:
    import OpenEXR
    crops = []
    for path in sorted(bpy_hdri_dir().glob("*.exr")):
        with OpenEXR.File(str(path), separate_channels=True) as f:
            ch = f.channels()
            im = np.stack([ch[k].pixels for k in ("R", "G", "B")], -1).astype(np.float64)
        h, w = im.shape[:2]
        band = im[h // 2 - SIZE // 2:h // 2 + SIZE // 2]
        for x0 in range(0, w - SIZE + 1, SIZE):
            crop = band[:, x0:x0 + SIZE]
            y = crop @ LUMINANCE
            crops.append(linear_to_srgb(crop * 0.18 / max(float(np.median(y)), 1e-9)))
    return crops


def procedural(count: int, seed: int) -> tuple[list[np.ndarray], list[dict], float]:
    spec = job_from_dict({}).background.procedural
    images, drawn, seconds = [], [], 0.0
    for i in range(count):
        d = spec.draw(rng(seed, i, "background_stats"), None)
        t0 = time.perf_counter()
        lin = procedural_background(SIZE, SIZE, d["seed"], d["style"], d["palette"], d["blur"])
        seconds += time.perf_counter() - t0
        images.append(linear_to_srgb(lin))
        drawn.append(d)
    return images, drawn, seconds / max(count, 1)


def stats(images: list[np.ndarray]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    slope, sat_med, sat_90, chroma_of_mean, l_std, l_mean, a_std, b_std, hues = [], [], [], [], [], [], [], [], []
    for im in images:
        slope.append(spectral_slope(luma(im)))
        s = saturation(im)
        sat_med.append(float(np.median(s)))
        sat_90.append(float(np.quantile(s, 0.9)))
        lab = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(im))
        mean_ab = lab[..., 1:].reshape(-1, 2).mean(0)
        chroma_of_mean.append(float(np.hypot(*mean_ab)))
        hues.append(float(np.degrees(np.arctan2(mean_ab[1], mean_ab[0]))))
        l_mean.append(float(lab[..., 0].mean()))
        l_std.append(float(lab[..., 0].std()))
        a_std.append(float(lab[..., 1].std()))
        b_std.append(float(lab[..., 2].std()))

    def q(v):
        return [round(float(x), 3) for x in np.quantile(v, [0.1, 0.5, 0.9])]
    return {"pictures": len(images), "spectral_slope_q10_50_90": q(slope),
            "saturation_median_q10_50_90": q(sat_med), "saturation_p90_q10_50_90": q(sat_90),
            "lab_chroma_of_mean_q10_50_90": q(chroma_of_mean), "lab_L_mean_q10_50_90": q(l_mean),
            "lab_L_std_q10_50_90": q(l_std), "lab_a_std_q10_50_90": q(a_std), "lab_b_std_q10_50_90": q(b_std),
            "share_mean_hue_yellow_orange_40_120deg": round(float(np.mean([40 <= h <= 120 for h in hues])), 3),
            "share_mean_hue_blue_-150_-60deg": round(float(np.mean([-150 <= h <= -60 for h in hues])), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=48, help="procedural backgrounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of the first 24 here")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    photos = photo_crops()
    images, drawn, seconds = procedural(args.count, args.seed)
    report = {"photographs (bundled HDRI crops)": stats(photos),
              "procedural (default job)": stats(images),
              "procedural_ms_per_background_256px": round(1000 * seconds, 1)}
    for style in sorted({d["style"] for d in drawn}):
        report[f"procedural style {style}"] = stats([im for im, d in zip(images, drawn) if d["style"] == style])
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.sheet:
        from PIL import Image
        tiles = [(np.clip(im, 0, 1) * 255).astype(np.uint8) for im in images[:24]]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 6)
        rows = [np.concatenate(tiles[r:r + 6], 1) for r in range(0, len(tiles), 6)]
        Image.fromarray(np.concatenate(rows, 0)).save(args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
