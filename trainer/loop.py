"""The training loop: labeled and unlabeled cyclic pairs from the crop cache -> 2.5D network ->
supervised and label-free losses -> AdamW.

Each step draws ``batch_size`` pairs with labels (views per ``labels``) and, when a label-free loss
is on, ``unlabeled_batch`` pairs without. The label-free losses start after a supervised warm-up
(``unsup_start``, a fraction of the run) and ramp linearly to full weight over ``unsup_ramp``.

A run directory holds checkpoint.safetensors (model, EMA teacher, optimizer, step, config),
TensorBoard event files and metrics.json. Starting a run in a directory that has a checkpoint
continues it, but only with the same options and the same shard bytes: anything else is refused
with the differing options named (a continued run must be the run its name says).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from trainer import checkpoint, losses, pose_prior, precision
from trainer.cache import PARTS_UNKNOWN, CropSet
from trainer.data import (LABEL_MODES, PART_CLASSES, DataConfig, ViewPrep, first_pass_thetas, loader, split_pairs,
                          teacher_view, views)
from trainer.model import HandNet, ModelConfig
from trainer.pose25d import palm_scale
from trainer.pose_prior import PosePrior
from trainer.spec import resolve
from trainer.teacher import EMATeacher, most_confident

LOSSES = ("uv", "heatmap", "depth", "parts", "pose", "pose25d", "coef", "teacher", "teacher_a", "cycle", "nce",
          "prior")
LABEL_FREE = ("teacher", "teacher_a", "cycle", "nce")
# Options that do not change what a run learns (where it runs and how it reports): free to differ
# when a run is continued, and left out of the config hash.
# (The shards' bytes, not their paths, are what a run learns from: config_hash and the
# continuation check take them from data_id.)
RUN_ONLY = ("shards", "unlabeled_shards", "out", "workers", "threads", "device", "log_every", "ckpt_every", "verify_sha256")
# Options added after runs were named by their config hash, at the value that does what those runs
# did: left out of the hash there, so earlier runs keep their names (and can be continued).
LATER_OPTIONS = {"stem_stride": 4, "teacher_target": "pose", "w_parts": 0.0, "mirror_left": False, "upright": False,
                 "upright_share": 0.75, "backbone": "resnet", "teacher_upright": False,
                 "teacher_clean": False, "w_teacher_a": 0.0, "teacher_keep": 1.0}
TEACHER_TARGETS = ("shape", "pose")
COLLAPSE_RATIO = 0.6        # warn when predicted bones average less than this share of the labels'
OFF_PRIOR_Z = 1.5           # ... or the prior head's coefficients exceed this RMS in the prior's std
                            # (the sampled poses themselves: 1; the naive cycle blew them up to 2.1)


def degenerate(row: dict) -> dict[str, float]:
    """The monitors of a logged window that say the poses degenerate: bones shrinking below
    COLLAPSE_RATIO of the labels' length, or (needing no labels) the prior head's coefficients
    leaving the prior, RMS above OFF_PRIOR_Z of its std."""
    out = {k: row[k] for k in ("bone_ratio_lab", "bone_ratio_unl") if row.get(k, 1.0) < COLLAPSE_RATIO}
    out.update({k: row[k] for k in ("prior_z_lab", "prior_z_unl") if row.get(k, 0.0) > OFF_PRIOR_Z})
    return out


@dataclasses.dataclass
class TrainConfig:
    shards: list[str]
    out: str
    unlabeled_shards: list[str] = dataclasses.field(default_factory=list)   # more pairs for the
                                      # label-free losses only: their labels are never trained on
    steps: int = 2000
    batch_size: int = 32              # labeled pairs per step
    unlabeled_batch: int = 32         # unlabeled pairs per step (label-free losses)
    lr: float = 5e-3
    weight_decay: float = 1e-4
    warmup: int = 100                 # learning-rate warm-up steps (then cosine decay)
    seed: int = 0
    workers: int = 1
    threads: int = 0                  # torch CPU threads; 0 = torch's default
    device: str = "auto"
    amp: bool = True                  # mixed precision on CUDA (ignored on CPU)
    crop: int = 64
    width: float = 0.5                # backbone width, 1.0 = ResNet-18 (or MobileNetV2)
    backbone: str = "resnet"          # resnet: ResNet-18; mobilenet: MobileNetV2 (trainer/model.py)
    stem_stride: int = 4              # 4: ResNet's stem; 2 or 1: one 3x3 conv (trainer/model.py)
    pose_head: str = "prior"          # prior: R (mean + PCA) from trainer/pose_prior.py; 25d: decoded 2.5D
    prior_components: int = 15        # PCA components of the prior head
    prior_poses: int = 200            # label-free poses the prior is fitted to (pose sampler, no rendering)
    prior_seed: int = 0
    prior_file: str = ""              # instead: an .npz with keypoints (N, 21, 3) to fit the prior to
    labels: str = "transport"         # a | transport | both (trainer/data.py)
    label_fraction: float = 1.0
    w_uv: float = 1.0
    w_heatmap: float = 1.0
    w_depth: float = 1.0
    w_parts: float = 0.0              # part segmentation of the labeled views (their part-ID pass)
    w_pose: float = 1.0               # the output pose (prior head's, or the decoded 2.5D with head 25d)
    w_pose25d: float = 0.0            # the decoded 2.5D pose beside the prior head's
    w_coef: float = 1.0               # the prior head's PCA coefficients (rotation-free shape)
    w_teacher: float = 0.0
    teacher_target: str = "shape"     # prior head: shape = coefficients + rotated 2.5D (losses.teacher_shape);
                                      # pose = the head's output pose (runs before 2026-12-06)
    w_teacher_a: float = 0.0          # the teacher's clean view a as the target of the student's augmented
                                      # view a of unlabeled pairs (self-training; needs teacher_clean)
    w_cycle: float = 0.0              # the naive symmetric cycle loss (ablation)
    w_nce: float = 0.0
    w_prior: float = 0.0
    temperature: float = 0.1
    ema_decay: float = 0.99
    unsup_start: float = 0.3          # label-free losses start after this fraction of the steps
    unsup_ramp: float = 0.2           # and reach full weight this fraction later
    rotate_deg: float = 45.0
    augment: bool = True
    mirror_left: bool = True          # left hands' crops mirrored to right hands (trainer/data.py)
    upright: bool = True              # labeled views' crops turned upright; two-pass evaluation (trainer/data.py)
    upright_share: float = 0.75       # ... this share of them (the rest, and unlabeled views, keep the +-45 deg turn)
    teacher_upright: bool = False     # unlabeled views turned upright by the teacher's first pass (teacher_upright_views)
    teacher_clean: bool = False       # the teacher sees view a un-augmented (teacher_view); the student's b keeps it
    teacher_keep: float = 1.0         # share of a step's unlabeled pairs whose teacher targets are used, the
                                      # teacher's most confident first (teacher.most_confident)
    log_every: int = 10
    ckpt_every: int = 200
    verify_sha256: bool = True

    def weights(self) -> dict[str, float]:
        return {k: getattr(self, f"w_{k}") for k in LOSSES}

    def uses_unlabeled(self) -> bool:
        return any(getattr(self, f"w_{k}") > 0 for k in LABEL_FREE)

    def data_config(self) -> DataConfig:
        return DataConfig(crop=self.crop, augment=self.augment, rotate_deg=self.rotate_deg,
                          mirror_left=self.mirror_left, upright=self.upright, upright_share=self.upright_share)

    def view_prep(self) -> ViewPrep:
        """The views a step prepares: the labeled pairs' (view a, or both with labels ``both`` or
        ``transport``) and the unlabeled pairs' both views."""
        return ViewPrep(self.data_config(), "a" if self.labels == "a" else "ab", self.labels == "transport",
                        parts=self.w_parts > 0, unlabeled_in_worker=not self.turns_unlabeled(),
                        teacher_clean=self.teacher_clean and self.w_teacher > 0)

    def turns_unlabeled(self) -> bool:
        """Whether the teacher turns the unlabeled views upright (``teacher_upright``; only where a
        teacher runs and the labeled views are turned too)."""
        return self.teacher_upright and self.w_teacher > 0 and trains_upright(self)

    def learned(self) -> dict:
        """The options that decide what the run learns."""
        out = {k: v for k, v in dataclasses.asdict(self).items()
               if k not in RUN_ONLY and not (k in LATER_OPTIONS and v == LATER_OPTIONS[k])}
        if not self.upright:
            out.pop("upright_share", None)                      # no crop is turned upright: moot
        if not self.turns_unlabeled():
            out.pop("teacher_upright", None)                    # no teacher, or no upright crops: moot
        if self.w_teacher <= 0:
            out.pop("teacher_clean", None)                      # no teacher: moot
            out.pop("teacher_keep", None)
        return out


def config_hash(cfg: TrainConfig, data: list | None = None) -> str:
    """Short hash of the options that decide what a run learns (and of its data, when given)."""
    blob = json.dumps({"config": cfg.learned(), "data": data}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def data_id(sha256: list[str], unlabeled_only) -> list[str]:
    """What a run trained on, for its hash and continuation check: its shards' sha256, those of
    ``--unlabeled-shards`` marked (the same bytes are another run there: their labels unused).
    Without such shards it is the plain list, so earlier runs keep their names."""
    return [f"unlabeled {h}" if u else h for h, u in zip(sha256, unlabeled_only)]


def _flag(k: str) -> str:
    return "--" + k.replace("_", "-")


def check_continuation(run: Path, saved: dict, cfg: TrainConfig, saved_data, data) -> None:
    """Refuse to continue a run with other options or other shard bytes."""
    now = cfg.learned()
    # an option a saved config lacks had its LATER_OPTIONS value then (runs from before it existed)
    was = {k: saved.get(k, LATER_OPTIONS.get(k, now[k])) for k in now}
    diff = [f"{_flag(k)} {was[k]!r} -> {now[k]!r}" for k in now if was[k] != now[k]]
    if saved_data is not None and saved_data != data:
        diff.append("the shards' bytes (sha256) differ from those it trained on")
    if diff:
        raise ValueError(f"{run} holds a run trained with other options; not continuing it ("
                         + "; ".join(diff) + "). Use another --out, or the run's own options.")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name}: CUDA is not available in this torch build/machine")
    return torch.device(name)


def lr_at(cfg: TrainConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup))
    return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, cfg.steps))))


def unsup_ramp(cfg: TrainConfig, step: int) -> float:
    """Weight multiplier of the label-free losses: 0 during warm-up, then a linear ramp to 1."""
    start, ramp = cfg.unsup_start * cfg.steps, cfg.unsup_ramp * cfg.steps
    if step < start:
        return 0.0
    return 1.0 if ramp <= 0 else min(1.0, (step - start + 1) / ramp)


def _getter(cfg: TrainConfig | dict):
    return cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)


def trains_upright(cfg: TrainConfig | dict) -> bool:
    """Whether a run's training turned crops upright (its model is then evaluated in two passes);
    ``cfg`` a TrainConfig or a checkpoint's config dict (runs from before the option: False)."""
    get = _getter(cfg)
    return bool(get("upright", False)) and bool(get("augment", True)) and float(get("upright_share", 0.75)) > 0


def build_model(cfg: TrainConfig | dict, prior: PosePrior | None = None) -> HandNet:
    """The network of a config (a checkpoint's config dict too: runs saved before the prior head
    existed have no ``pose_head`` and are 2.5D). The prior head's arrays come from ``prior`` or, when
    loading a checkpoint, from its state dict."""
    get = _getter(cfg)
    model = HandNet(ModelConfig(crop=int(get("crop", 64)), width=float(get("width", 0.5)),
                                backbone=get("backbone", "resnet"),
                                pose_head=get("pose_head", "25d"), prior_components=int(get("prior_components", 15)),
                                stem_stride=int(get("stem_stride", 4)),
                                part_classes=PART_CLASSES if float(get("w_parts", 0.0)) > 0 else 0,
                                mirror_left=bool(get("mirror_left", False)),
                                upright=trains_upright(cfg)))
    return model.set_prior(prior) if prior is not None and model.cfg.pose_head == "prior" else model


def load_prior(cfg: TrainConfig, log=print) -> PosePrior | None:
    if cfg.pose_head != "prior":
        return None
    if cfg.prior_file:
        return pose_prior.fit(np.load(cfg.prior_file)["keypoints"], cfg.prior_components)
    return pose_prior.sampled_prior(cfg.prior_poses, cfg.prior_seed, cfg.prior_components, log=log)


def teacher_upright_views(teacher, part: dict, dcfg, g, device, clean: bool = False) -> dict:
    """Both views of unlabeled pairs turned upright as evaluation turns a view: the teacher's first
    pass on the plain crop gives the hand's axis (trainer.data.upright_angle), the crop is turned by
    it, +-``upright_jitter`` as labeled upright crops are, with the pair's other augmentation. The
    teacher then predicts view a in the mode it is best at, and the student learns view b in the
    mode evaluation uses; ``R`` follows the turns. Needs no label. ``clean``: also the teacher's
    view a without jitter (trainer.data.teacher_view, ``teacher_clean``)."""
    plain = views(part, "ab", dataclasses.replace(dcfg, augment=False), None, device)
    th = first_pass_thetas(teacher, plain, "ab")
    jit = {v: t + torch.as_tensor(g.uniform(-1, 1, len(t)) * np.radians(dcfg.upright_jitter), dtype=t.dtype,
                                  device=t.device) for v, t in th.items()}
    U = views(part, "ab", dcfg, g, device, thetas=jit)
    if clean:
        U.update(teacher_view(part, U, dcfg, device, th["a"]))
    return U


def compute_losses(model, teacher, batch, cfg: TrainConfig, step: int, g, device) -> tuple[dict, dict]:
    """Weighted losses of one step, and monitor values (bone ratios)."""
    prep, w = cfg.view_prep(), cfg.weights()
    lab_views = prep.lab_views
    # views the loader's worker prepared (CPU training, trainer.data.ViewPrep), else here
    V = batch.get("lab_views") or prep.labeled(batch["lab"], g, device)
    ramp = unsup_ramp(cfg, step) if cfg.uses_unlabeled() else 0.0
    imgs = [V[f"img_{v}"] for v in lab_views]
    Ks = [V[f"K_{v}"] for v in lab_views]
    lefts = [V["left"] for v in lab_views]
    U, unl_views = None, ""
    if ramp > 0 and batch["unl"] is not None:
        if cfg.turns_unlabeled():
            U = teacher_upright_views(teacher, batch["unl"], prep.data, g, device, clean=cfg.teacher_clean)
        else:
            U = batch.get("unl_views") or prep.unlabeled(batch["unl"], g, device)
        unl_views = "ab" if (w["cycle"] > 0 or w["nce"] > 0 or w["teacher_a"] > 0) else "b"
        imgs += [U[f"img_{v}"] for v in unl_views]
        Ks += [U[f"K_{v}"] for v in unl_views]
        lefts += [U["left"] for v in unl_views]
    sizes = [len(x) for x in imgs]
    out = model(torch.cat(imgs), torch.cat(Ks), torch.cat(lefts))
    pose, uv, zrel, z, logp = (out[k].float().split(sizes) for k in ("pose", "uv", "zrel", "z", "log_prob"))
    n_lab = len(lab_views)
    zero = torch.zeros((), device=device)
    L = {k: zero for k in LOSSES}
    cat = torch.cat
    lab_pose = cat(pose[:n_lab])
    target = cat([V[f"X_{v}"] / V[f"scale_{v}"][:, None, None] for v in lab_views])
    L["uv"] = losses.uv_loss(cat(uv[:n_lab]), cat([V[f"uv_{v}"] for v in lab_views]),
                             cat([V[f"vis_{v}"] for v in lab_views]))
    if w["heatmap"] > 0:
        grid = model.grid.float()
        L["heatmap"] = losses.heatmap_loss(cat(logp[:n_lab]), cat([V[f"uv_{v}"] for v in lab_views]),
                                           cat([V[f"vis_{v}"] for v in lab_views]), grid, float(grid[1] - grid[0]))
    if w["parts"] > 0:
        L["parts"] = losses.parts_loss(cat(out["parts"].split(sizes)[:n_lab]),
                                       cat([V[f"parts_{v}"] for v in lab_views]), PARTS_UNKNOWN)
    L["depth"] = losses.depth_loss(cat(zrel[:n_lab]), cat([V[f"zrel_{v}"] for v in lab_views]))
    L["pose"] = losses.pose_loss(lab_pose, target)
    if w["pose25d"] > 0:
        L["pose25d"] = losses.pose_loss(cat(out["pose25d"].float().split(sizes)[:n_lab]), target)
    if w["coef"] > 0 and "coef" in out:
        # the labels' shape in the prior's frame: rotation-free, the same for both views of a pair
        prior_mean = model.prior_mean.double()
        canon = pose_prior.rotate_onto(pose_prior.as_right(target.double(), cat(lefts[:n_lab])), prior_mean)
        coef_t = ((canon - prior_mean).flatten(1) @ model.prior_basis.double().T).float()
        L["coef"] = losses.coef_loss(cat(out["coef"].float().split(sizes)[:n_lab]), coef_t)
    mon = {"bone_ratio_lab": losses.bone_ratio(lab_pose.detach(), target)}
    if "coef" in out:
        cz = (out["coef"].detach().float() / model.prior_std.clamp_min(1e-9)).split(sizes)
        mon["prior_z_lab"] = float(cat(cz[:n_lab]).pow(2).mean().sqrt())
    if U is not None:
        un = dict(zip(unl_views, pose[n_lab:]))
        mon["bone_ratio_unl"] = losses.bone_ratio(un["b"].detach(), target)
        if "coef" in out:
            mon["prior_z_unl"] = float(cat(cz[n_lab:]).pow(2).mean().sqrt())
        if w["teacher"] > 0:
            img_t, K_t, R_t = (U["img_t"], U["K_t"], U["R_t"]) if cfg.teacher_clean else (U["img_a"], U["K_a"], U["R"])
            t = teacher(img_t, K_t, U["left"])
            keep = most_confident(t["conf"], cfg.teacher_keep)
            mon["teacher_conf"] = float(t["conf"].float().mean())
            t_pose = t["pose"][keep].float()                # the kept targets, chosen once for both views
            targets = {"teacher": ("b", R_t[keep])}
            if w["teacher_a"] > 0:                  # _validate: only with teacher_clean, the teacher's own input
                targets["teacher_a"] = ("a", U["R_ta"][keep])
            shape = cfg.teacher_target == "shape" and "coef" in out
            if shape:
                p25, coef = (dict(zip(unl_views, out[k].float().split(sizes)[n_lab:])) for k in ("pose25d", "coef"))
            for name, (v, R) in targets.items():
                if shape:
                    L[name] = losses.teacher_shape(p25[v][keep], coef[v][keep], t_pose, t["coef"][keep].float(), R)
                else:
                    L[name] = losses.teacher(un[v][keep], t_pose, R)
        if w["cycle"] > 0:
            L["cycle"] = losses.cycle_naive(un["a"], un["b"], U["R"])
        if w["nce"] > 0:
            za, zb, Rs = [], [], []
            if n_lab == 2:
                za.append(z[0]), zb.append(z[1]), Rs.append(V["R"])
            zu = dict(zip(unl_views, z[n_lab:]))
            za.append(zu["a"]), zb.append(zu["b"]), Rs.append(U["R"])
            L["nce"] = losses.peclr(cat(za), cat(zb), cat(Rs), cfg.temperature)
    if w["prior"] > 0:
        L["prior"] = losses.anatomical_prior(cat(pose), torch.zeros(sum(sizes), device=device))
    L["total"] = sum(w[k] * L[k] * (ramp if k in LABEL_FREE else 1.0) for k in LOSSES if w[k] > 0)
    mon["ramp"] = ramp
    return L, mon


def _validate(cfg: TrainConfig):
    if cfg.labels not in LABEL_MODES:
        raise ValueError(f"--labels must be one of {', '.join(LABEL_MODES)}, got {cfg.labels!r}")
    if not 0.0 <= cfg.upright_share <= 1.0:
        raise ValueError(f"--upright-share must be in [0, 1], got {cfg.upright_share}")
    if not 0.0 < cfg.label_fraction <= 1.0:
        raise ValueError(f"--label-fraction must be in (0, 1], got {cfg.label_fraction}")
    if sum(cfg.weights().values()) <= 0:
        raise ValueError("every loss weight is 0: nothing to train")
    if cfg.unlabeled_shards and not cfg.uses_unlabeled():
        raise ValueError("--unlabeled-shards feeds only the label-free losses: give --w-teacher, --w-cycle "
                         "or --w-nce, or leave it out")
    if cfg.uses_unlabeled() and cfg.label_fraction >= 1.0 and not cfg.unlabeled_shards:
        raise ValueError("label-free losses (--w-teacher/--w-cycle/--w-nce) need unlabeled pairs: "
                         "use --label-fraction below 1 or give --unlabeled-shards")
    if not 0.0 < cfg.teacher_keep <= 1.0:
        raise ValueError(f"--teacher-keep must be in (0, 1], got {cfg.teacher_keep}")
    if cfg.teacher_keep < 1.0 and cfg.w_teacher <= 0:
        raise ValueError("--teacher-keep chooses the EMA teacher's targets: it needs --w-teacher")
    if cfg.w_teacher_a > 0 and not (cfg.w_teacher > 0 and cfg.teacher_clean):
        raise ValueError("--w-teacher-a needs --w-teacher and --teacher-clean: its target is the EMA teacher's "
                         "prediction on the clean view a, which the student's view a must differ from")
    if cfg.teacher_target not in TEACHER_TARGETS:
        raise ValueError(f"--teacher-target must be one of {', '.join(TEACHER_TARGETS)}, got {cfg.teacher_target!r}")
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError("--steps and --batch-size must be at least 1")


def amp_enabled(cfg: TrainConfig, device: torch.device) -> bool:
    """Mixed precision (float16 autocast and a grad scaler) on CUDA only: on the CPU bfloat16 is
    faster only where the processor has bfloat16 instructions, and the CPU figures of
    docs/RESULTS.md are float32. (Tests switch it on for the CPU to run the autocast path there.)"""
    return cfg.amp and device.type == "cuda"


def train(cfg: TrainConfig, progress: bool = True, log=print) -> dict:
    """Train (or continue) the run in cfg.out; returns the metrics written to RUN/metrics.json."""
    _validate(cfg)
    sets = resolve(cfg.shards, cfg.verify_sha256)
    unl_sets = resolve(cfg.unlabeled_shards, cfg.verify_sha256, "--unlabeled-shards") if cfg.unlabeled_shards else []
    dcfg = cfg.data_config()
    crops = CropSet(sets + unl_sets, dcfg.geometry(), log=log)
    data = data_id(crops.sha256, crops.shard_spec >= len(sets))
    run = Path(cfg.out)
    run.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, load_prior(cfg, log)).to(device)
    teacher = EMATeacher(model, cfg.ema_decay) if cfg.w_teacher > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    ckpt_path = run / checkpoint.CHECKPOINT
    start, history, seconds_before = 0, [], 0.0
    if ckpt_path.exists():
        msd, osd, info, _ = checkpoint.load(ckpt_path)
        check_continuation(run, info["config"], cfg, info["extra"].get("data_sha256"), data)
        model.load_state_dict(msd)
        if osd:
            opt.load_state_dict(osd)
        if teacher is not None and info["teacher"]:
            teacher.load_state_dict(info["teacher"])
        start, history = info["step"], info["extra"].get("history", [])
        seconds_before = float(info["extra"].get("train_seconds", 0.0))
    if start >= cfg.steps and log:
        log(f"{run}: already at step {start} >= --steps {cfg.steps}; nothing to do")

    labeled, unlabeled = split_pairs(crops, cfg.label_fraction, labeled_specs=len(sets))
    # the metric size of an average hand, from the labels the run may use (decoded poses are in
    # units of the palm scale; eval multiplies by this)
    scale_m = float(palm_scale(torch.as_tensor(crops.meta["X"][labeled, 0])).mean())
    data_seed = cfg.seed * 1_000_003 + start       # a continued run draws a fresh stream
    # On the CPU the worker also crops and augments (it runs beside the step on another core);
    # on a GPU that is cheap on the device and the worker only gathers the cached crops.
    prep = cfg.view_prep() if device.type == "cpu" and cfg.workers > 0 else None
    batches = iter(loader(crops, labeled, unlabeled if cfg.uses_unlabeled() else None, cfg.batch_size,
                          cfg.unlabeled_batch, data_seed, cfg.workers, pin=device.type == "cuda", prep=prep,
                          parts=cfg.w_parts > 0))
    g = np.random.default_rng([cfg.seed, start, 7])

    use_amp = amp_enabled(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and device.type == "cuda")   # float16 needs one
    from torch.utils.tensorboard import SummaryWriter
    tb = SummaryWriter(str(run / "tb"), purge_step=start if start else None)
    sums, n_avg, wait, busy = {}, 0, 0.0, 0.0
    t_last = time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress,
               desc=f"train {run.name}", dynamic_ncols=True)
    model.train()
    last, warned = {}, False
    t_run = time.perf_counter()
    seconds_recorded = seconds_before
    extra = lambda: {"history": history, "train_seconds": seconds_before + time.perf_counter() - t_run,  # noqa: E731
                     "data_sha256": data, "palm_scale_m": scale_m,
                     "config_hash": config_hash(cfg, data)}
    for step in bar:
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        for gr in opt.param_groups:
            gr["lr"] = lr_at(cfg, step)
        with precision.autocast(device, use_amp):
            L, mon = compute_losses(model, teacher, batch, cfg, step, g, device)
        opt.zero_grad(set_to_none=True)
        scaler.scale(L["total"]).backward()
        scaler.step(opt)
        scaler.update()
        if teacher is not None:
            teacher.update(model)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        wait, busy = wait + (t1 - t0), busy + (t2 - t0)
        for k, v in {**{k: float(v.detach()) for k, v in L.items()}, **mon}.items():
            sums[k] = sums.get(k, 0.0) + v
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
            low = degenerate(last)
            if low and not warned:
                msg = (f"{run.name} step {step + 1}: the poses degenerate ("
                       + ", ".join(f"{k} {v:.2f}" for k, v in low.items())
                       + f"; bone ratios below {COLLAPSE_RATIO} of the labels' or prior coefficients "
                       f"above {OFF_PRIOR_Z} of the prior's std)")
                warnings.warn(msg, stacklevel=1)
                if log:                                 # log=None: quiet (the warning is still raised)
                    log("WARNING " + msg)
                warned = True
            sums, n_avg, wait, busy, t_last = {}, 0, 0.0, 0.0, time.perf_counter()
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            saved = extra()
            checkpoint.save(ckpt_path, model, opt, step + 1, dataclasses.asdict(cfg), saved,
                            teacher.state_dict() if teacher is not None else None)
            seconds_recorded = saved["train_seconds"]
    tb.close()
    final = max(start, cfg.steps)
    result = {"run": str(run), "step": final, "config": dataclasses.asdict(cfg),
              "config_hash": config_hash(cfg, data),
              "shards": [dataclasses.asdict(s) | {"urls": len(s.urls)} for s in sets],
              "unlabeled_shards": [dataclasses.asdict(s) | {"urls": len(s.urls)} for s in unl_sets],
              "pairs": {"labeled": int(len(labeled)), "unlabeled": int(len(unlabeled))},
              # samples the crop cache could not read (each named in its shard cache's info.json)
              "bad_samples": sum(len(c.skipped()) for c in crops.shards),
              "device": str(device), "train": last or (history[-1] if history else {}), "history": history,
              "palm_scale_m": scale_m,
              # wall time of the training steps over all parts of the run, as the last checkpoint
              # recorded it (so a finished run asked again reports the same figure)
              "train_seconds": seconds_recorded}
    (run / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def load_model(path, device="cpu", which: str = "student") -> tuple[HandNet, dict]:
    """A trained network (its own weights, "student", or its EMA "teacher") and its info."""
    if which not in ("student", "teacher"):
        raise ValueError(f"which weights: 'student' or 'teacher', got {which!r}")
    msd, _, info, _ = checkpoint.load(path)
    if which == "teacher" and not info["teacher"]:
        raise ValueError(f"{path}: the run has no EMA teacher (it trained without --w-teacher)")
    model = build_model(info["config"])
    model.load_state_dict(info["teacher"] if which == "teacher" else msd)
    return model.to(device).eval(), info
