"""Share of training step time spent waiting for data (target: < 10% on a 2-core CPU).

Writes fixture shards of realistic size (256 px PNG views, CONVENTIONS.md format), then trains the
default model (64 px crops, batch 32, 1 loader worker, all losses on, so the loader also makes the
rotated copy) and reports, after a warm-up window, the time blocked in `next(batches)` divided by
the whole step time. Also times the decoder alone, per pair.

    .venv/bin/python benchmarks/train_data_wait.py [--steps 60] [--workers 1] [--threads 0]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import webdataset as wds

from trainer.data import DataConfig, PairDecoder
from trainer.loop import TrainConfig, train
from trainer.spec import resolve
from trainer.testing import write_fixture_shards


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        shards = write_fixture_shards(Path(tmp) / "shards", pairs=256, per_shard=64, resolution=args.resolution)
        print(f"wrote 256 pairs of {args.resolution}px PNG views in {time.perf_counter() - t:.1f}s "
              f"({sum(p.stat().st_size for p in shards.glob('*.tar')) / 2**20:.1f} MiB)")
        dec = PairDecoder(DataConfig())
        n, t = 0, time.perf_counter()
        for s in wds.WebDataset(resolve(str(shards))[0].urls, shardshuffle=False, empty_check=False):
            dec(s)
            n += 1
            if n == 64:
                break
        per_pair = (time.perf_counter() - t) / n
        print(f"decoder alone: {1000 * per_pair:.1f} ms per pair (2 PNG decodes, 3 crops, appearance aug)")
        cfg = TrainConfig(shards=[str(shards)], out=str(Path(tmp) / "run"), steps=args.steps,
                          batch_size=args.batch_size, workers=args.workers, threads=args.threads,
                          w_cycle=1.0, w_rot=1.0, w_nce=0.1, w_prior=0.1, log_every=10, ckpt_every=10**9)
        t = time.perf_counter()
        r = train(cfg, progress=False)
        wall = time.perf_counter() - t
    h = r["history"][1:] or r["history"]           # first window: worker start-up
    share = sum(x["data_wait_share"] for x in h) / len(h)
    sps = sum(x["steps_per_s"] for x in h) / len(h)
    print(json.dumps({"steps": args.steps, "batch_size": args.batch_size, "workers": args.workers,
                      "wall_s": round(wall, 1), "steps_per_s": round(sps, 2),
                      "pairs_per_s": round(sps * args.batch_size, 1),
                      "data_wait_share_after_warmup": round(share, 4),
                      "first_window_wait_share": round(r["history"][0]["data_wait_share"], 4)}))
    print(f"data wait: {100 * share:.1f}% of step time (target < 10%)")


if __name__ == "__main__":
    main()
