"""Share of training step time spent on data (target: < 10%), with the experiment's model, batch
and default loader workers, on the CPU and, when there is one, on a CUDA device.

Writes fixture shards of realistic size (256 px PNG views, CONVENTIONS.md format), builds their crop
cache (timed: the one-off decode), then trains the `cycle-teacher+contrastive` arm of the CPU
preset (the arm that reads the most views per step: both views of the labeled and the unlabeled
pairs, plus the teacher's) with the label-free losses on from the first step, and reports:

- loader wait: time blocked in ``next(batches)`` (gathering cached crops from the memory map in
  the loader's worker) as a share of step time, after the first logging window;
- view preparation: the crop, rotation and appearance augmentation of one step's views
  (``trainer.data.views``), timed alone, as a share of step time. On the CPU with a loader worker
  the worker does it (trainer.data.ViewPrep), beside the step, so it is part of the loader wait
  and not added again; on a GPU (or with no worker) the main process does it;
- data share = loader wait plus the main process's view preparation.

    .venv/bin/python benchmarks/train_data_wait.py [--steps 40] [--workers 1] [--threads 0]

(no device option: it measures the CPU, then CUDA when torch sees a GPU)
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from trainer.experiment import ARMS, PRESETS


def measure(device: str, args, shards: Path, tmp: Path) -> dict:
    from trainer.cache import CropSet
    from trainer.data import loader, split_pairs
    from trainer.loop import TrainConfig, pick_device, train
    from trainer.spec import resolve
    from trainer.testing import write_prior_poses
    p = PRESETS["cpu"]
    # a stick-hand pose prior: sampling the generator's poses (minutes) is no part of the data wait
    prior = write_prior_poses(tmp / "prior.npz", n=200)
    cfg = TrainConfig(shards=[str(shards)], out=str(tmp / f"run-{device}"), steps=args.steps,
                      batch_size=p["batch_size"], unlabeled_batch=p["unlabeled_batch"], crop=p["crop"],
                      width=p["width"], workers=args.workers, threads=args.threads, device=device,
                      label_fraction=0.2, unsup_start=0.0, unsup_ramp=0.0, log_every=10, ckpt_every=10**9,
                      prior_file=str(prior), **{k: v for k, v in ARMS["cycle-teacher+contrastive"].items()})
    t = time.perf_counter()
    r = train(cfg, progress=False, log=None)
    wall = time.perf_counter() - t
    h = r["history"][1:] or r["history"]           # first window: worker start-up
    wait = sum(x["data_wait_share"] for x in h) / len(h)
    sps = sum(x["steps_per_s"] for x in h) / len(h)
    # the on-device view preparation of one step, alone
    dev = pick_device(device)
    crops = CropSet(resolve(str(shards)), cfg.data_config().geometry(), log=None)
    lab, unl = split_pairs(crops, 0.2)
    it = iter(loader(crops, lab, unl, cfg.batch_size, cfg.unlabeled_batch, 0, 0))
    g = np.random.default_rng(0)
    batches = [next(it) for _ in range(5)]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    t = time.perf_counter()
    prep = cfg.view_prep()
    for b in batches:
        prep.labeled(b["lab"], g, dev)
        prep.unlabeled(b["unl"], g, dev)
    sync()
    prep = (time.perf_counter() - t) / len(batches)
    prep_share = prep * sps
    in_worker = dev.type == "cpu" and args.workers > 0
    return {"device": str(dev), "steps": args.steps, "batch_pairs": f"{cfg.batch_size}+{cfg.unlabeled_batch}",
            "crop": cfg.crop, "width": cfg.width, "workers": args.workers, "threads": torch.get_num_threads(),
            "wall_s": round(wall, 1), "steps_per_s": round(sps, 2), "loader_wait_share": round(wait, 4),
            "view_prep_ms": round(1000 * prep, 1), "view_prep_share": round(prep_share, 4),
            "view_prep_in": "loader worker" if in_worker else "main process",
            "data_share": round(wait + (0.0 if in_worker else prep_share), 4)}


def main():
    from trainer.testing import write_fixture_shards
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--workers", type=int, default=PRESETS["cpu"]["workers"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["CYCLEHAND_CACHE_DIR"] = str(tmp / "cache")
        t = time.perf_counter()
        shards = write_fixture_shards(tmp / "shards", pairs=args.pairs, per_shard=64, resolution=args.resolution)
        print(f"wrote {args.pairs} pairs of {args.resolution}px PNG views in {time.perf_counter() - t:.1f}s "
              f"({sum(p.stat().st_size for p in shards.glob('*.tar')) / 2**20:.1f} MiB)")
        from trainer.cache import CropSet
        from trainer.data import DataConfig
        from trainer.spec import resolve
        t = time.perf_counter()
        crops = CropSet(resolve(str(shards)), DataConfig(crop=PRESETS["cpu"]["crop"]).geometry(), log=None)
        build = time.perf_counter() - t
        size = sum(c.images.nbytes for c in crops.shards)
        print(f"crop cache: built in {build:.1f}s ({1000 * build / len(crops):.1f} ms per pair: 2 PNG decodes "
              f"and crops), {size / 2**20:.1f} MiB uint8 ({size / len(crops) / 1024:.0f} KiB per pair)")
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for d in devices:
            m = measure(d, args, shards, tmp)
            print(json.dumps(m))
            print(f"{d}: data {100 * m['data_share']:.1f}% of step time (loader wait "
                  f"{100 * m['loader_wait_share']:.1f}%; view preparation {100 * m['view_prep_share']:.1f}% "
                  f"of a step, done in the {m['view_prep_in']}; target < 10%)")
        if "cuda" not in devices:
            print("cuda: no CUDA device here, not measured")


if __name__ == "__main__":
    main()
