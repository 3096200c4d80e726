"""Does training and evaluation work on a device, with and without mixed precision? One short
check for a lent GPU (docs/TRAINING.md, "On a lent GPU"), runnable anywhere.

    python benchmarks/cuda_check.py [--device cuda] [--steps 300] [--out DIR]

On fixture shards (trainer/testing.py: drawn stick hands, exact labels; 128 px, 256 pairs) it
trains the experiment's `cycle-teacher+contrastive` arm (every view the step reads, the teacher,
PeCLR) with the cpu preset's network twice, with `--amp` and with `--no-amp`, then evaluates both
on the device. Prints one JSON line per run: the device, whether autocast was on, steps/s, the
first and last logged training loss, whether every logged value was finite, and PA-MPJPE / 2D
error against the fixture's own mean-pose floor. Exits 1 if a loss was not finite or did not
fall. On the CPU `--amp` is ignored (trainer.loop.amp_enabled), so both runs are float32 there.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from trainer.experiment import ARMS, PRESETS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    a = ap.parse_args()
    tmp = Path(a.out or tempfile.mkdtemp(prefix="cyclehand-cuda-check-"))
    os.environ.setdefault("CYCLEHAND_CACHE_DIR", str(tmp / "cache"))
    from trainer.cli import run_eval
    from trainer.loop import TrainConfig, amp_enabled, pick_device, train
    from trainer.testing import write_fixture_shards, write_prior_poses
    from trainer.cache import CropSet
    from trainer.data import DataConfig
    from trainer.metrics import pairs_mean_pose
    from trainer.spec import resolve
    shards = write_fixture_shards(tmp / "shards", pairs=a.pairs, per_shard=64, resolution=128)
    prior = write_prior_poses(tmp / "prior.npz", n=200)
    meta = CropSet(resolve(str(shards)), DataConfig(crop=PRESETS["cpu"]["crop"]).geometry(), log=None).meta
    mean = pairs_mean_pose(meta["X"], meta["left"])
    p, ok = PRESETS["cpu"], True
    for amp in (True, False):
        cfg = TrainConfig(shards=[str(shards)], out=str(tmp / f"run-amp{int(amp)}"), steps=a.steps,
                          batch_size=p["batch_size"], unlabeled_batch=p["unlabeled_batch"], crop=p["crop"],
                          width=p["width"], lr=p["lr"], w_pose=p["w_pose"], label_fraction=0.5, device=a.device,
                          amp=amp, workers=1, log_every=10, prior_file=str(prior),
                          **ARMS["cycle-teacher+contrastive"])
        t = time.perf_counter()
        h = train(cfg, progress=False, log=None)["history"]
        seconds = time.perf_counter() - t
        ev = run_eval(cfg.out, [str(shards)], device=a.device, echo=False, name="eval", mean_pose=mean)
        finite = all(math.isfinite(v) for row in h for v in row.values() if isinstance(v, float))
        fell = h[-1]["uv"] < h[0]["uv"]
        ok &= finite and fell
        print(json.dumps({"device": str(pick_device(a.device)), "autocast": amp_enabled(cfg, pick_device(a.device)),
                          "steps": a.steps, "steps_per_s": round(a.steps / seconds, 2),
                          "loss_first": h[0]["total"], "loss_last": h[-1]["total"], "uv_first": h[0]["uv"],
                          "uv_last": h[-1]["uv"], "all_finite": finite, "pa_mpjpe_mm": round(ev["pa_mpjpe_mm"], 2),
                          "floor_pa_mpjpe_mm": round(ev["mean_pose_floor"]["pa_mpjpe_mm"], 2),
                          "err_2d_crop": round(ev["err_2d_crop"], 3)}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
