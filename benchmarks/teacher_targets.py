"""How good are the EMA teacher's targets, and would an ensemble make them better? Scores the
view-a poses that trained runs' teachers predict on their own train pairs against the labels the
runs never used (the unlabeled pairs; the labeled ones beside them), as the teacher loss uses
them: the prior head's pose on the crop turned upright by the teacher's first pass. Then two
ensembles, each scored the same way:
- over runs: the mean of the runs' camera-frame poses (runs of other seeds, say);
- over turns (per run): the mean over crops turned by extra in-plane angles around the upright
  one, each prediction turned back to the camera frame;
and how far the turns' spread, or the heatmaps' peak mass, says which targets are wrong (their
correlation with the error; the error of the more and the less confident half).

    CYCLEHAND_CACHE_DIR=... .venv/bin/python benchmarks/teacher_targets.py --shards DATA/train RUN [RUN ...]

An error that runs of other seeds share (an ensemble over runs no better than one run) is bias,
which only more labels move; one that they do not share is variance, which an ensemble of
teachers would remove.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainer import metrics  # noqa: E402
from trainer.losses import rotate  # noqa: E402
from trainer.cache import CropSet  # noqa: E402
from trainer.data import DataConfig, eval_batches, first_pass_thetas, label_keep, views  # noqa: E402
from trainer.loop import load_model  # noqa: E402
from trainer.spec import resolve  # noqa: E402


def camera_poses(model, part, dcfg, turns_rad) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, N, 21, 3) the model's view-a poses (palm-scale units, root-relative) in the camera
    frame, from the crop turned upright by its own first pass plus each of ``turns_rad``; and
    (N, 21) its heatmaps' peak mass on the upright crop (the model's ``conf``)."""
    plain = views(part, "a", dcfg, None, "cpu")
    up = first_pass_thetas(model, plain, "a")["a"]
    out, conf = [], None
    for t in turns_rad:
        V = views(part, "a", dcfg, None, "cpu", thetas={"a": up + t})
        o = model(V["img_a"], V["K_a"], V["left"])
        out.append(rotate(V["Rz_a"].double().transpose(1, 2), o["pose"].double()))  # Rz^T: crop -> camera
        conf = o["conf"] if conf is None else conf
    return torch.stack(out), conf


def pa_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) mean per-joint error (mm) after similarity alignment (the scale of pred is free)."""
    return metrics.joint_errors_mm(pred, gt, align=True).mean(1)


def confidence(conf: np.ndarray, pred: np.ndarray, gt: np.ndarray, floor: np.ndarray) -> dict:
    """Would the heatmaps' peak mass tell the wrong targets? Its correlation with the error per
    pair (mean over joints) and per joint (within each joint over pairs, then averaged), and the
    error of the more and the less confident half of the pairs, beside the mean pose's on each
    half (``floor`` (N, 21, 3)): whether the confident half are only the ordinary poses."""
    ej = metrics.joint_errors_mm(pred, gt, align=True)            # (N, 21)
    c, e, ef = conf.mean(1), ej.mean(1), pa_errors(floor, gt)
    high = c >= np.median(c)
    per_joint = np.nanmean([np.corrcoef(conf[:, j], ej[:, j])[0, 1] for j in range(ej.shape[1])])
    mm = lambda x: round(float(x), 3)  # noqa: E731
    return {"pair_corr": mm(np.corrcoef(c, e)[0, 1]), "joint_corr": mm(per_joint),
            "confident_half": mm(e[high].mean()), "other_half": mm(e[~high].mean()),
            "mean_pose_confident_half": mm(ef[high].mean()), "mean_pose_other_half": mm(ef[~high].mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories (or checkpoints) trained on --shards")
    ap.add_argument("--shards", required=True, help="the runs' train shards (SPEC)")
    ap.add_argument("--weights", choices=["teacher", "student"], default="teacher")
    ap.add_argument("--turns", default="-40,-20,20,40", help="extra in-plane turns (deg) of the ensemble over turns")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the figures here as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [load_model(r, "cpu", args.weights) for r in args.runs]
    fracs = {info["config"]["label_fraction"] for _, info in models}
    crops_ = {m.cfg.crop for m, _ in models}
    if len(fracs) != 1 or len(crops_) != 1:
        ap.error(f"the runs must share their label fraction and crop (got {sorted(fracs)}, {sorted(crops_)})")
    frac, crop = fracs.pop(), crops_.pop()
    turns = np.radians([0.0] + [float(t) for t in args.turns.split(",") if t.strip()])
    crops = CropSet(resolve(args.shards), DataConfig(crop=crop).geometry(), log=None)
    dcfgs = [DataConfig(crop=crop, augment=False, mirror_left=m.cfg.mirror_left) for m, _ in models]
    P, C = [[] for _ in models], [[] for _ in models]
    gt, keep, left = [], [], []
    with torch.inference_mode():
        for part in eval_batches(crops, 128):
            for i, ((m, _), dcfg) in enumerate(zip(models, dcfgs)):
                poses, conf = camera_poses(m, part, dcfg, turns)
                P[i].append(poses.numpy())
                C[i].append(conf.double().numpy())
            X = part["X"][:, 0].double().numpy()
            gt.append(X - X[:, :1])
            keep += [label_keep(k, frac) for k in part["keys"]]
            left.append(part["left"].numpy())
    gt, keep, left = np.concatenate(gt), np.array(keep), np.concatenate(left).astype(bool)
    floor = metrics.every_view(metrics.mean_pose(gt, left), left)   # the mean view-a pose, for every pair
    P = [np.concatenate(p, axis=1) for p in P]                    # per run (T, N, 21, 3)
    C = [np.concatenate(c) for c in C]                            # per run (N, 21)
    split = {"unlabeled": ~keep, "labeled": keep}
    score = lambda e: {k: round(float(e[m].mean()), 3) for k, m in split.items()}  # noqa: E731   e: per pair
    res = {"pairs": {k: int(m.sum()) for k, m in split.items()}, "weights": args.weights,
           "turns_deg": [round(float(np.degrees(t)), 1) for t in turns], "runs": []}
    for r, p, c in zip(args.runs, P, C):
        e = pa_errors(p[0], gt)
        spread = np.linalg.norm(p - p.mean(0), axis=-1).mean((0, 2))
        corr = (round(float(np.corrcoef(spread[~keep], e[~keep])[0, 1]), 3)
                if len(turns) > 1 else None)                               # one turn: no spread
        res["runs"].append({"run": r, "one": score(e), "over_turns": score(pa_errors(p.mean(0), gt)),
                            "spread_error_corr": corr,
                            "confidence": confidence(c[~keep], p[0][~keep], gt[~keep], floor[~keep])})
    if len(P) > 1:
        res["over_runs"] = score(pa_errors(np.mean([p[0] for p in P], 0), gt))
    for r in res["runs"]:
        print(f"{r['run']}: one {r['one']}, over turns {r['over_turns']}, "
              f"corr(turns' spread, error) {r['spread_error_corr']}, unlabeled by confidence {r['confidence']}")
    if "over_runs" in res:
        print(f"over {len(P)} runs: {res['over_runs']}")
    print(f"PA-MPJPE mm of view a, {args.weights} weights; pairs {res['pairs']}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
