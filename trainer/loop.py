"""The training loop: cyclic pairs (+ optional unlabeled photos) -> weighted losses -> AdamW.

A run directory holds checkpoint.safetensors (model + optimizer + step + config), TensorBoard
event files, and metrics.json. Starting a run in a directory that has a checkpoint continues that
run from its step (the same schedule, the same log); `steps` is the run's total length.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from generator.dataset import SkipBadSamples
from trainer import checkpoint, losses
from trainer.data import DataConfig, UnlabeledImages, image_tensor, loader, pair_dataset
from trainer.model import HandNet, ModelConfig
from trainer.spec import resolve

LOSSES = ("sup3d", "sup2d", "cycle", "rot", "nce", "prior")


@dataclasses.dataclass
class TrainConfig:
    shards: list[str]
    out: str
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    workers: int = 1
    threads: int = 0                  # torch CPU threads; 0 = all cores
    device: str = "auto"
    amp: bool = True                  # mixed precision on CUDA (ignored on CPU)
    crop: int = 64
    # loss weights; 0 switches a loss off
    w_sup3d: float = 1.0
    w_sup2d: float = 1.0
    w_cycle: float = 0.0
    w_rot: float = 0.0
    w_nce: float = 0.0
    w_prior: float = 0.0
    temperature: float = 0.1
    labels: str = "all"               # all | a | none
    label_fraction: float = 1.0
    rotate_deg: float = 180.0
    augment: bool = True              # crop jitter, in-plane rotation, appearance changes
    unlabeled: str | None = None
    unlabeled_batch: int = 16
    log_every: int = 10
    ckpt_every: int = 200
    verify_sha256: bool = True

    def weights(self) -> dict[str, float]:
        return {k: getattr(self, f"w_{k}") for k in LOSSES}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name}: CUDA is not available in this torch build/machine")
    return torch.device(name)


def lr_at(cfg: TrainConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, cfg.steps))))


def compute_losses(model, batch, ubatch, cfg: TrainConfig, device) -> dict[str, torch.Tensor]:
    w = cfg.weights()
    use_r = (w["rot"] > 0 or w["nce"] > 0) and "img_r" in batch
    imgs = [batch["img_a"], batch["img_b"]] + ([batch["img_r"]] if use_r else [])
    if ubatch is not None:
        imgs += [ubatch["img_u1"], ubatch["img_u2"]]
    sizes = [len(x) for x in imgs]
    out = model(image_tensor(torch.cat(imgs), device))
    p3, p2, z = (out[k].float().split(sizes) for k in ("kp3d", "kp2d", "z"))
    g = {k: v.to(device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}
    zero = torch.zeros((), device=device)
    L = {k: zero for k in LOSSES}
    lab = torch.cat([g["lab_a"], g["lab_b"]])
    if w["sup3d"] > 0:
        L["sup3d"] = losses.supervised_3d(torch.cat(p3[:2]), torch.cat([g["kp3d_a"], g["kp3d_b"]]), lab)
    if w["sup2d"] > 0:
        L["sup2d"] = losses.supervised_2d(torch.cat(p2[:2]), torch.cat([g["kp2d_a"], g["kp2d_b"]]),
                                          torch.cat([g["vis_a"], g["vis_b"]]), lab)
    if w["cycle"] > 0:
        L["cycle"] = losses.cycle(p3[0], p3[1], g["R_ab"])
    iu = 3 if use_r else 2
    if w["rot"] > 0:
        terms = [losses.cycle(p3[0], p3[2], g["R_ar"])] if use_r else []
        if ubatch is not None:
            terms.append(losses.cycle(p3[iu], p3[iu + 1], ubatch["R_u"].to(device)))
        L["rot"] = sum(terms) / len(terms)
    if w["nce"] > 0:
        t = cfg.temperature
        terms = [losses.info_nce(z[0], z[1], t)] + ([losses.info_nce(z[0], z[2], t)] if use_r else [])
        if ubatch is not None:
            terms.append(losses.info_nce(z[iu], z[iu + 1], t))
        L["nce"] = sum(terms) / len(terms)
    if w["prior"] > 0:
        left = torch.cat([g["left"]] * len(p3[:iu]))
        L["prior"] = losses.anatomical_prior(torch.cat(p3[:iu]), left)
    L["total"] = sum(w[k] * L[k] for k in LOSSES if w[k] > 0)
    return L


def build_model(crop: int) -> HandNet:
    return HandNet(ModelConfig(crop=crop))


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    """Train (or continue) the run in cfg.out; returns the metrics written to RUN/metrics.json."""
    if cfg.labels not in ("all", "a", "none"):
        raise ValueError(f"--labels must be all, a or none, got {cfg.labels!r}")
    if not 0.0 <= cfg.label_fraction <= 1.0:
        raise ValueError(f"--label-fraction must be in [0, 1], got {cfg.label_fraction}")
    if sum(cfg.weights().values()) <= 0:
        raise ValueError("every loss weight is 0: nothing to train")
    sets = resolve(cfg.shards, cfg.verify_sha256)
    run = Path(cfg.out)
    run.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    ckpt_path = run / checkpoint.CHECKPOINT
    start, history, seconds_before = 0, [], 0.0
    if ckpt_path.exists():
        msd, osd, info, _ = checkpoint.load(ckpt_path)
        crop = int(info["config"].get("crop", cfg.crop))
        if crop != cfg.crop:
            print(f"resuming {run}: using the checkpoint's crop size {crop} (not {cfg.crop})")
            cfg.crop = crop
        model = build_model(cfg.crop).to(device)
        model.load_state_dict(msd)
        start, history = info["step"], info["extra"].get("history", [])
        seconds_before = float(info["extra"].get("train_seconds", 0.0))   # earlier parts of the run
    else:
        model, osd = build_model(cfg.crop).to(device), {}
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if osd:
        opt.load_state_dict(osd)
    if start >= cfg.steps:
        print(f"{run}: already at step {start} >= --steps {cfg.steps}; nothing to do")

    dcfg = DataConfig(crop=cfg.crop, rotate_deg=cfg.rotate_deg, augment=cfg.augment, labels=cfg.labels,
                      label_fraction=cfg.label_fraction, rot_copy=cfg.w_rot > 0 or cfg.w_nce > 0)
    # A resumed run draws a fresh augmentation stream (seeded by its start step).
    data_seed = cfg.seed * 1_000_003 + start
    bad_log = run / "bad_samples.jsonl"
    bad_log.unlink(missing_ok=True)
    batches = iter(loader(pair_dataset(sets, dcfg, seed=data_seed, train=True, bad=SkipBadSamples(log=bad_log)),
                          cfg.batch_size, cfg.workers))
    ubatches = None
    if cfg.unlabeled:
        uds = UnlabeledImages(cfg.unlabeled, dcfg, seed=data_seed)
        ubatches = iter(loader(uds, cfg.unlabeled_batch, min(1, cfg.workers)))

    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    from torch.utils.tensorboard import SummaryWriter
    tb = SummaryWriter(str(run / "tb"), purge_step=start if start else None)
    sums, n_avg, wait, busy = {}, 0, 0.0, 0.0
    t_last = time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress,
               desc=f"train {run.name}", dynamic_ncols=True)
    model.train()
    last = {}
    t_run = time.perf_counter()
    for step in bar:
        t0 = time.perf_counter()
        batch = next(batches)
        ubatch = next(ubatches) if ubatches is not None else None
        t1 = time.perf_counter()
        for gr in opt.param_groups:
            gr["lr"] = lr_at(cfg, step)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            L = compute_losses(model, batch, ubatch, cfg, device)
        opt.zero_grad(set_to_none=True)
        scaler.scale(L["total"]).backward()
        scaler.step(opt)
        scaler.update()
        t2 = time.perf_counter()
        wait, busy = wait + (t1 - t0), busy + (t2 - t0)
        for k, v in L.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        n_avg += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            last = {k: v / n_avg for k, v in sums.items()}
            last["data_wait_share"] = wait / max(busy, 1e-9)
            last["steps_per_s"] = n_avg / max(time.perf_counter() - t_last, 1e-9)
            last["lr"] = lr_at(cfg, step)
            for k, v in last.items():
                tb.add_scalar(f"train/{k}", v, step + 1)
            history.append({"step": step + 1, **{k: round(v, 5) for k, v in last.items()}})
            bar.set_postfix(loss=f"{last['total']:.3f}", wait=f"{100 * last['data_wait_share']:.0f}%")
            sums, n_avg, wait, busy, t_last = {}, 0, 0.0, 0.0, time.perf_counter()
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            checkpoint.save(ckpt_path, model, opt, step + 1, dataclasses.asdict(cfg),
                            {"history": history, "train_seconds": seconds_before + time.perf_counter() - t_run})
    tb.close()
    final = max(start, cfg.steps)
    result = {"run": str(run), "step": final, "config": dataclasses.asdict(cfg),
              "shards": [dataclasses.asdict(s) | {"urls": len(s.urls)} for s in sets],
              "bad_samples": _count_lines(bad_log),
              "device": str(device), "train": last or (history[-1] if history else {}), "history": history,
              # wall time of the training steps over all parts of the run (a finished run adds nothing)
              "train_seconds": seconds_before + time.perf_counter() - t_run if start < cfg.steps else seconds_before}
    (run / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def _count_lines(path: Path) -> int:
    """Bad samples skipped by the loader processes (one JSON line each); reported, not fatal."""
    n = sum(1 for _ in open(path)) if path.is_file() else 0
    if n:
        print(f"warning: skipped {n} bad sample(s); each is named in {path}")
    return n


def load_model(path, device="cpu") -> tuple[HandNet, dict]:
    msd, _, info, _ = checkpoint.load(path)
    model = build_model(int(info["config"].get("crop", 64)))
    model.load_state_dict(msd)
    return model.to(device).eval(), info
