"""Does the picture behind the hand move the realism audit? Alters only the background pixels
(part id 0 of the part-ID pass) of a render folder's easy views and runs the landmarker again.

    .venv/bin/python benchmarks/background_probe.py SHARD_DIR --variants orig,blur1,blur2,flat,contrast2

Variants: `orig` (unchanged), `blurS` (the background alone blurred by a Gaussian of S px,
normalised so the hand does not bleed into it), `flat` (the background's mean colour),
`contrastK` (the background's contrast about its mean times K). Prints, per variant, the easy
views detected and PCK@0.2 where detected (generator.audit.metrics, the audit's measures). A
probe on finished 8-bit images: it says whether a kind of background change is worth rendering,
not what a render with it would give.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from generator.audit import metrics
from generator.audit.cli import iter_views, realism_python, run_landmarker
from generator.parts import PART_IDS


def altered(rgb: np.ndarray, parts: np.ndarray, variant: str) -> np.ndarray:
    bg = parts == PART_IDS["background"]
    f = rgb.astype(np.float32)
    if variant == "orig" or not bg.any():
        return rgb
    if variant.startswith("blur"):
        sigma = float(variant[4:])
        weight = ndimage.gaussian_filter(bg.astype(np.float32), sigma)
        blurred = np.stack([ndimage.gaussian_filter(f[..., c] * bg, sigma) for c in range(3)], -1)
        out = np.where(bg[..., None], blurred / np.maximum(weight, 1e-3)[..., None], f)
    elif variant == "flat":
        out = np.where(bg[..., None], f[bg].mean(0), f)
    elif variant.startswith("contrast"):
        mean = f[bg].mean(0)
        out = np.where(bg[..., None], mean + float(variant[8:]) * (f - mean), f)
    else:
        raise SystemExit(f"unknown variant {variant!r} (orig, blurS, flat, contrastK)")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", type=Path)
    ap.add_argument("--variants", default="orig,blur1,blur2,flat")
    ap.add_argument("--python", default=None, help="the realism environment's interpreter")
    a = ap.parse_args(argv)
    python = realism_python(a.python)
    views = list(iter_views(a.shards, easy_only=True, parts=True))
    if not views:
        raise SystemExit(f"{a.shards}: no easy views with a part-ID pass")
    for variant in a.variants.split(","):
        with tempfile.TemporaryDirectory(prefix="cyclehand-bgprobe-") as tmp:
            paths = []
            for i, (_, _, rgb, parts) in enumerate(views):
                p = Path(tmp) / f"{i:06d}.png"
                Image.fromarray(altered(rgb, parts, variant)).save(p, compress_level=1)
                paths.append(str(p))
            results = run_landmarker(paths, python, Path(tmp))
        recs = [metrics.view_record(ann, v, r) for (ann, v, _, _), r in zip(views, results)]
        found = [r for r in recs if r["detected"]]
        pck = np.mean([r["pck"] for r in found]) if found else float("nan")
        print(f"{variant:>12}: easy views detected {len(found)}/{len(recs)}, PCK@0.2 where detected {pck:.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
