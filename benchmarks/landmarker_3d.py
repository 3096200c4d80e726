"""A real-photo landmarker's 3D beside ours, on the same views: how hard is a split?

MediaPipe Hands (the realism judge, `make realism-env`) returns metric "world" landmarks, 21
joints in our order. This scores them by PA-MPJPE (trainer.metrics, the experiment's metric)
against a split's labels, beside the mean training pose (the experiment's floor) and trained runs,
on the views MediaPipe finds, on those it misses and on all: a second model's view of what the
floor and the 0.6x target mean on these renders.

    .venv/bin/python benchmarks/landmarker_3d.py --split DATA/hard --train DATA/train \\
        --run RUNS/label-transport-seed0-<hash> [--run ...] [--json OUT.json]

The split's crop cache is used for the labels and the runs' inputs ($CYCLEHAND_CACHE_DIR).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import metrics  # noqa: E402


def record_rows(records: list[dict], keys, views=("a", "b")) -> np.ndarray:
    """Row of each (pair, view) of a crop set (keys: its meta keys, "SHARD/INDEX") in the audit's
    records: (N, len(views)) indices. Raises if a view was not audited."""
    at = {(int(r["index"]), r["view"]): i for i, r in enumerate(records)}
    idx = [int(str(k).rsplit("/", 1)[-1]) for k in keys]
    missing = [(i, v) for i in idx for v in views if (i, v) not in at]
    if missing:
        raise SystemExit(f"{len(missing)} views of the split were not audited (first: pair {missing[0][0]} "
                         f"view {missing[0][1]}): audit and crop cache must come from the same shards")
    return np.array([[at[(i, v)] for v in views] for i in idx])


def landmarker_errors(records: list[dict], rows: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(detected (N, 2) bool, PA-MPJPE in mm (N, 2), NaN where not detected) of the landmarker's
    world landmarks against labels X (N, 2, 21, 3)."""
    det = np.array([[records[j]["detected"] and "world_m" in records[j] for j in r] for r in rows])
    err = np.full(det.shape, np.nan)
    if det.any():
        world = np.array([records[j]["world_m"] for j in rows[det]])
        err[det] = metrics.joint_errors_mm(world, X[det], align=True).mean(1)
    return det, err


def run_errors(run: str, split: str) -> np.ndarray:
    """PA-MPJPE (mm) of a trained run's poses (its evaluation path) on every view, (N, 2)."""
    import torch
    from trainer.cache import CropSet
    from trainer.data import DataConfig
    from trainer.evaluate import predict, shard_view_batches
    from trainer.loop import load_model
    from trainer.spec import resolve
    dev = torch.device("cpu")
    model, info = load_model(run, dev)
    crops = CropSet(resolve(split), DataConfig(crop=model.cfg.crop).geometry(), log=None)
    cols = []
    for v in ("a", "b"):                     # one view at a time: predictions in the crop set's order
        batches = shard_view_batches(crops, model.cfg.crop, dev, (v,), 256, None, model.cfg.mirror_left,
                                     upright=model if model.cfg.upright else None)
        with torch.inference_mode():
            p = predict(model, batches, float(info["extra"].get("palm_scale_m", 0.085)))
        cols.append(metrics.joint_errors_mm(p["pred3d"], p["gt3d"], align=True).mean(1))
    return np.stack(cols, 1)


def table(rows: dict[str, np.ndarray], det: np.ndarray) -> str:
    lines = [f"{'':34} {'all views':>10} {'MediaPipe found':>16} {'MediaPipe missed':>17}",
             f"{'views':34} {det.size:>10} {int(det.sum()):>16} {int((~det).sum()):>17}"]
    for name, e in rows.items():
        cell = lambda m: "-" if np.isnan(e[m]).any() or not m.any() else f"{np.mean(e[m]):.2f}"  # noqa: E731
        lines.append(f"{name:34} {cell(np.ones_like(det)):>10} {cell(det):>16} {cell(~det):>17}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True, help="render folder of the split to score (its manifest.json)")
    ap.add_argument("--train", required=True, help="render folder of the training split (the mean pose)")
    ap.add_argument("--run", action="append", default=[], help="a trained run folder (repeatable)")
    ap.add_argument("--python", default=None, help="realism environment's interpreter")
    ap.add_argument("--json", default=None, help="write the per-view figures here")
    a = ap.parse_args(argv)

    from generator.audit.cli import audit
    from trainer.cache import CropSet
    from trainer.data import DataConfig
    from trainer.spec import resolve
    geo = DataConfig().geometry()            # labels only: any crop size reads the same ones
    crops = CropSet(resolve(a.split), geo, log=None)
    X, left = crops.meta["X"], crops.meta["left"]                     # (N, 2, 21, 3), (N,)
    train = CropSet(resolve(a.train), geo, log=None)
    mean = metrics.pairs_mean_pose(train.meta["X"], train.meta["left"])
    gt = X.reshape(-1, 21, 3)
    floor = metrics.every_view(mean, np.repeat(left, 2))
    errors = {"mean training pose (floor)": metrics.joint_errors_mm(floor, gt, align=True).mean(1).reshape(-1, 2)}

    summary, records = audit(Path(a.split), a.python)
    det, errors["MediaPipe world landmarks"] = landmarker_errors(records, record_rows(records, crops.meta["keys"]), X)
    for run in a.run:
        errors[Path(run).name] = run_errors(run, a.split)
    print(f"PA-MPJPE (mm) on {a.split}: {len(X)} pairs, MediaPipe found {int(det.sum())} of {det.size} views")
    print(table(errors, det))
    if a.json:
        Path(a.json).write_text(json.dumps({"split": a.split, "train": a.train, "runs": a.run,
                                            "detected": det.tolist(),
                                            "pa_mpjpe_mm": {k: np.where(np.isnan(v), None, v.round(3)).tolist()
                                                            for k, v in errors.items()}}, indent=1))
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
