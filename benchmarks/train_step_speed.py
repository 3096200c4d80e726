"""Time of one training step of the experiment's network (forward, backward, AdamW) on the CPU, in
float32 and under bfloat16 autocast, each with and without channels-last memory.

    .venv/bin/python benchmarks/train_step_speed.py [--views 32] [--threads 1] [--steps 40]
        [--backbone mobilenet --width 0.5] [--float32-only]

The cpu preset's model (trainer.experiment.PRESETS["cpu"]: 64 px crops, ResNet-18 at width 0.25,
prior head on the decoded 2.5D pose; or another backbone and width) on random crops; the loss touches every output the training
losses read (uv, zrel, the prior head's coefficients and pose). Prints one line per variant.
bfloat16 pays only on processors with bfloat16 instructions (lscpu: avx512_bf16 or amx_bf16).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from trainer.experiment import PRESETS
from trainer.model import HandNet, ModelConfig
from trainer.pose_prior import PosePrior
from trainer.precision import autocast


def step_ms(bf16: bool, channels_last: bool, views: int, steps: int, backbone: str = "resnet",
            width: float | None = None) -> float:
    p = PRESETS["cpu"]
    torch.manual_seed(0)
    model = HandNet(ModelConfig(crop=p["crop"], width=width or p["width"], backbone=backbone))
    g = np.random.default_rng(0)
    basis = np.linalg.qr(g.normal(size=(63, 15)))[0].T
    model.set_prior(PosePrior(g.normal(size=(21, 3)), basis, np.ones(15), np.full(15, 1 / 15)))
    x = torch.randn(views, 3, p["crop"], p["crop"])
    c = (p["crop"] - 1) / 2
    K = torch.tensor([[p["crop"] * 1.0, 0, c], [0, p["crop"] * 1.0, c], [0, 0, 1]]).expand(views, 3, 3).contiguous()
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        with autocast(torch.device("cpu"), bf16):
            out = model(x, K)
            loss = out["uv"].square().mean() + out["zrel"].square().mean() + out["coef"].square().mean() \
                + out["pose"].square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=32, help="crops a step (the preset's 16 pairs, both views)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--backbone", choices=("resnet", "mobilenet"), default="resnet")
    ap.add_argument("--width", type=float, default=None, help="default: the cpu preset's")
    ap.add_argument("--float32-only", action="store_true", help="only float32, contiguous")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for bf16 in (False,) if a.float32_only else (False, True):
        for cl in (False,) if a.float32_only else (False, True):
            ms = step_ms(bf16, cl, a.views, a.steps, a.backbone, a.width)
            print(f"{a.backbone} width {a.width or PRESETS['cpu']['width']}: "
                  f"{'bfloat16' if bf16 else 'float32':8s} {'channels-last' if cl else 'contiguous':13s} "
                  f"{ms:6.1f} ms a step of {a.views} views ({a.threads} thread{'s' * (a.threads > 1)})", flush=True)


if __name__ == "__main__":
    main()
