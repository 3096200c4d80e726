"""What the prior fit (trainer/prior_fit.py) can make of noisy 2.5D: on a split's own labels, add
Gaussian noise to (u, v) and zrel, then compare PA-MPJPE of decoding (trainer/pose25d.py) with the
fit, against the mean-pose floor. No network involved: this bounds what good 2D buys.

``--visible-only`` gives the fit only the keypoints each view shows (the annotation's ``visible``:
in frame and unoccluded; the wrist, the root, always): what perfect 2.5D of the visible joints, and
nothing about the hidden ones, would make of the hard views. Its start turns the mean hand onto
the visible joints alone.

    python benchmarks/prior_fit.py out/experiment/data/hard [--crop 32] [--prior-poses 200] [--visible-only]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from trainer import metrics, pose25d
from trainer.cache import CropSet, view_annotation
from trainer.data import DataConfig
from trainer.evaluate import shard_view_batches
from trainer.pose_prior import kabsch, sampled_prior
from trainer.prior_fit import FitConfig, fit
from trainer.spec import resolve


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", help="a render-job directory (its labels are used)")
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--prior-poses", type=int, default=200)
    ap.add_argument("--uv-px", default="0,2,4,7", help="2D noise levels, px of the crop")
    ap.add_argument("--zrel", default="0.1,0.3,0.65", help="relative-depth noise levels, palm-scale units")
    ap.add_argument("--visible-only", action="store_true", help="fit only the keypoints each view shows")
    a = ap.parse_args()
    torch.manual_seed(0)
    prior = sampled_prior(a.prior_poses, 0, 15)
    mean, basis, std = (torch.as_tensor(x, dtype=torch.float64) for x in (prior.mean, prior.basis, prior.std))
    sets = resolve(a.shards)
    crops = CropSet(sets, DataConfig(crop=a.crop).geometry(), log=None)
    visible = view_annotation(sets, crops, "visible") if a.visible_only else None
    unit = (a.crop - 1) / 2                            # px per crop unit
    res, floor, t0 = {}, [], time.perf_counter()
    for i, b in enumerate(shard_view_batches(crops, a.crop, "cpu", batch_size=64)):
        w = None
        if visible is not None:                           # batches: views a, then b, of 64 pairs
            pairs = slice(64 * (i // 2), 64 * (i // 2) + len(b["uv"]))
            w = torch.as_tensor(visible[pairs, i % 2], dtype=torch.float64)
            w[:, 0] = 1.0                                  # the root every pose is relative to
        K, X, uv = b["K"].double(), b["X"].double(), b["uv"].double()
        left = torch.as_tensor(np.asarray(b["left"], bool))
        _, zrel, s = pose25d.encode(X + torch.tensor([0, 0, 0.5], dtype=torch.float64), K, a.crop)  # X is root-relative
        mm = lambda P: metrics.joint_errors_mm(P.numpy() * s.numpy()[:, None, None], X.numpy(), align=True).mean(1)  # noqa: E731
        mean_hands = metrics.every_view(prior.mean, b["left"])
        floor.append(metrics.joint_errors_mm(mean_hands, X.numpy(), align=True).mean(1))
        for px in (float(v) for v in a.uv_px.split(",")):
            for zn in (float(v) for v in a.zrel.split(",")):
                n_uv = uv + torch.randn_like(uv) * px / unit
                n_z = zrel + torch.randn_like(zrel) * zn
                dec = pose25d.decode(n_uv, n_z, K, a.crop)
                init = dec
                if w is not None:                            # hidden joints: the mean hand turned onto the visible
                    S = torch.as_tensor(np.array(mean_hands))
                    m = w[..., None]
                    S = S @ kabsch(S * m, dec * m)
                    init = torch.where(m > 0, dec, S)
                P, _ = fit(n_uv, n_z, K, left, mean, basis, std, init, conf=w, conf_z=w, size=a.crop,
                           cfg=FitConfig(sigma_uv=max(px, 1.0) / unit, sigma_z=zn))
                res.setdefault((px, zn), []).append((mm(dec), mm(P)))
    n = sum(len(f) for f in floor)
    print(f"{a.shards}: {n} views, crop {a.crop} px, prior of {a.prior_poses} sampled poses; "
          f"prior mean as a constant: {np.concatenate(floor).mean():.1f} mm PA-MPJPE ({time.perf_counter() - t0:.0f} s)")
    if visible is not None:
        print(f"fitting visible keypoints only: {visible[..., 1:].mean():.2f} of keypoints 1-20 visible")
    print(f"{'uv noise (px)':>14}{'zrel noise':>12}{'decoded (mm)':>14}{'fitted (mm)':>13}")
    for (px, zn), v in res.items():
        d = np.concatenate([x[0] for x in v]).mean()
        f = np.concatenate([x[1] for x in v]).mean()
        print(f"{px:>14g}{zn:>12g}{d:>14.1f}{f:>13.1f}")


if __name__ == "__main__":
    main()
