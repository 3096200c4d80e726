"""`make experiment`: do label-free losses on rotated pairs beat the honest baseline on hard
views, at a fixed label budget?

1. Data: renders (or resumes: the render command resumes) three splits with `cyclehand-gen render`:
   train (render_jobs/train.toml: view a easy, view b hard, linked by R_ab), test (test.toml) and
   hard (hard_views.toml), both lit by HDRIs and worn by skins train never sees. Or takes them
   ready-made: `--shards-from DIR` with DIR/{train,test,hard}.
2. Label budget: labels of view a of only `--label-fraction` of the train pairs (fixed by key hash).
3. Arms (ARMS below), each for every seed, with identical data, steps and budget; then each is
   evaluated on both views of test and hard, beside the mean-training-pose floor.
4. Writes docs/RESULTS.md (the part above its ANALYSIS marker; the analysis below it is kept) and
   docs/results.json.

Runs are trained `--jobs` at a time (the cpu preset: 2, one a core), each in its own process.
Runs live in OUT/runs/<arm>-seed<k>-<config hash>: the hash covers every option that changes what
a run learns and the train shards' sha256, so a re-run with other options or other data trains
new runs instead of reusing old ones, and a re-run with the same ones resumes (finished runs and
evaluations are kept).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import click
import numpy as np

from generator.dataset import read_manifest
from generator.dataset.manifest import manifest_path
from trainer.cli import run_eval
from trainer.model import BACKBONES
from trainer.spec import SpecError, resolve_one, split_weight
from trainer.loop import (COLLAPSE_RATIO, OFF_PRIOR_Z, TrainConfig, config_hash, data_id, degenerate, load_prior,
                          train, trains_upright)

SPLITS = {"train": "render_jobs/train.toml", "test": "render_jobs/test.toml", "hard": "render_jobs/hard_views.toml"}
ARMS = {
    "supervised": {"labels": "a"},                                    # labeled easy views only
    "label-transport": {"labels": "transport"},                       # + R_ab y_a as b's label
    "cycle-naive": {"labels": "transport", "w_cycle": 1.0},           # + symmetric cycle loss
    "cycle-teacher": {"labels": "transport", "w_teacher": 1.0},       # + EMA-teacher rotation loss
    "cycle-teacher+contrastive": {"labels": "transport", "w_teacher": 1.0, "w_nce": 0.1},
    "all-labels": {"labels": "both", "label_fraction": 1.0},          # every view labeled
}
BASELINE, CLAIM_ARMS = "label-transport", ("cycle-teacher", "cycle-teacher+contrastive")
CLAIM_GAIN = 0.15
ANALYSIS_MARKER = "<!-- analysis: written by hand; `make experiment` keeps everything below this line -->"
PRESETS = {
    # about an hour on this 2-core CPU (docs/RESULTS.md says what was measured): train renders of
    # 128 px, 4 samples (0.19 s a view on the quiet machine: Cycles' per-view overhead dominates, so
    # 128 px costs little more than 64), test and hard of 128 px, 16 samples; 64 px crops (fingers a
    # few pixels wide: at 32 px the 2D error on hard views was 0.41 crop units, at 64 px 0.37 after
    # 1,000 steps and 0.34 after 2,000), 16+16 pairs a step, 2,000 steps at lr 2e-3; no camera-frame
    # pose loss (the prior head's shape is learned through its coefficients, its rotation comes
    # from the 2.5D pose)
    "cpu": dict(train_pairs=1536, test_pairs=48, hard_pairs=48, resolution=128, samples=4, eval_resolution=128,
                eval_samples=16, steps=2000, batch_size=16, unlabeled_batch=16, crop=64, width=0.25, threads=1,
                workers=1, lr=2e-3, w_pose=0.0, jobs=2),
    # a GPU scale-up: more data, a full-width ResNet-18, longer runs
    "gpu": dict(train_pairs=10000, test_pairs=500, hard_pairs=500, resolution=256, samples=16, steps=8000,
                batch_size=64, unlabeled_batch=64, crop=128, width=1.0, threads=0, workers=4),
}


def render_split(name: str, job: str, out: Path, views: int, resolution: int, samples: int,
                 workers: int, device: str, textures: Path) -> Path:
    cmd = [str(Path(sys.executable).parent / "cyclehand-gen"), "render", "--job", job, "--views", str(views),
           "--out", str(out), "--resolution", str(resolution), "--samples", str(samples),
           "--workers", str(workers), "--device", device, "--textures", str(textures), "--no-progress"]
    print("$", shlex.join(cmd), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"{name}: rendered/resumed {views} pairs in {time.perf_counter() - t:.0f}s", flush=True)
    return out


def _split_hashes(d: Path) -> list[str]:
    """The sha256 of a split's shards (a render directory's manifest, or a pack's shard identities)."""
    from trainer.pack import is_pack, shard_ids
    return shard_ids(d) if is_pack(d) else [s.sha256 for s in read_manifest(d).shards]


def _stats(v: list[float]) -> tuple[float, float]:
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def _fmt(v: list[float], digits: int = 1) -> str:
    m, s = _stats(v)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if len(v) > 1 else f"{m:.{digits}f}"


def claim(results: dict, split: str = "hard") -> list[dict]:
    """The seed's claim per label-free arm: at least CLAIM_GAIN lower PA-MPJPE than the baseline,
    with the gap larger than twice the larger of the two arms' std over seeds."""
    arms = results["splits"][split]
    if BASELINE not in arms:
        return []
    bm, bs = _stats(arms[BASELINE]["pa_mpjpe_mm"])
    out = []
    for arm in CLAIM_ARMS:
        if arm not in arms:
            continue
        m, s = _stats(arms[arm]["pa_mpjpe_mm"])
        gap = bm - m
        out.append({"arm": arm, "baseline_mm": bm, "arm_mm": m, "gain": gap / bm, "gap_mm": gap,
                    "twice_larger_std_mm": 2 * max(bs, s), "seeds": len(arms[arm]["pa_mpjpe_mm"]),
                    "reached": gap / bm >= CLAIM_GAIN and gap > 2 * max(bs, s)})
    return out


def write_results(md: Path, js: Path, results: dict, rows: list[dict], info: dict) -> None:
    js.parent.mkdir(parents=True, exist_ok=True)
    js.write_text(json.dumps(results, indent=1) + "\n")
    floor = results["mean_pose_pa_mpjpe_mm"]
    lines = ["# Results: label-free losses on rotated pairs vs the honest baseline, at a fixed label budget", "",
             f"Produced by `{results['command']}` on {info['date']} ({info['machine']}); "
             f"machine-readable: [results.json](results.json).", "",
             f"Data: {info['data']}. Train pairs: view a easy (palm or back within 45 deg of the line of "
             "sight, every keypoint in frame), view b hard (edge-on palm or fingers along the line of "
             "sight) and linked to a by R_ab. Test and hard are lit by HDRIs and worn by skins train "
             f"never sees. Label budget: view a of {100 * info['label_fraction']:.0f}% of the train pairs "
             f"({info['labeled']} pairs); the label-free losses use the other {info['unlabeled']}. Every arm: "
             f"{info['steps']} steps, {info['batch_size']} labeled (+ {info['unlabeled_batch']} unlabeled) "
             f"pairs per step, {info['crop']} px crops, {info['backbone']} at width {info['width']:g}, {info['head']}, in-plane "
             f"rotation augmentation +-{info['rotate_deg']:g} deg{info['mirror']}, seeds {info['seeds']}. Errors in mm, "
             "mean ± std over seeds, on both views of every pair; PA-AUC: area under 3D PCK 0-50 mm after "
             "Procrustes alignment.", "",
             "| arm | hard PA-MPJPE | hard MPJPE | hard PA-AUC | hard vs label-transport | test PA-MPJPE "
             "| test MPJPE | test PA-AUC | train time |", "|---|---|---|---|---|---|---|---|---|"]
    H, T = results["splits"]["hard"], results["splits"]["test"]
    base = statistics.mean(H[BASELINE]["pa_mpjpe_mm"]) if BASELINE in H else None
    for arm in H:
        rel = f"{100 * (statistics.mean(H[arm]['pa_mpjpe_mm']) - base) / base:+.1f}%" if base else "-"
        secs = [r["train_s"] for r in rows if r["arm"] == arm]
        lines.append(f"| {arm} | {_fmt(H[arm]['pa_mpjpe_mm'])} | {_fmt(H[arm]['mpjpe_mm'])} "
                     f"| {_fmt(H[arm]['pa_auc'], 3)} | {rel} | {_fmt(T[arm]['pa_mpjpe_mm'])} "
                     f"| {_fmt(T[arm]['mpjpe_mm'])} | {_fmt(T[arm]['pa_auc'], 3)} "
                     f"| {statistics.mean(secs) / 60:.1f} min |")
    lines.append(f"| mean training pose (floor) | {floor['hard']:.1f} | - | - | - | {floor['test']:.1f} | - | - | - |")
    lines += ["", f"Target: `supervised` and `label-transport` at most 0.6x the floor on hard views "
              f"({0.6 * floor['hard']:.1f} mm):"]
    for arm in ("supervised", BASELINE):
        if arm in H:
            m = statistics.mean(H[arm]["pa_mpjpe_mm"])
            lines.append(f"- {arm}: {m:.1f} mm = {m / floor['hard']:.2f}x the floor "
                         f"({'reached' if m <= 0.6 * floor['hard'] else 'not reached'}).")
    lines += ["", f"The seed's claim: a label-free arm at least {CLAIM_GAIN:.0%} lower hard-view PA-MPJPE "
              f"than `{BASELINE}`, with the gap larger than twice the larger std over seeds:"]
    for c in claim(results):
        lines.append(f"- {c['arm']}: {c['arm_mm']:.1f} vs {c['baseline_mm']:.1f} mm, {100 * abs(c['gain']):.1f}% "
                     f"{'lower' if c['gain'] >= 0 else 'higher'} (gap {c['gap_mm']:.2f} mm, 2x larger std {c['twice_larger_std_mm']:.2f} mm, "
                     f"{c['seeds']} seeds): **{'reached' if c['reached'] else 'not reached'}**.")
    warn = sorted({f"{r['arm']} seed {r['seed']}" for r in rows if r.get("collapse_warning")})
    lines += ["", f"Collapse monitor (mean predicted bone length below {COLLAPSE_RATIO}x the labels', or the "
              f"prior head's coefficients above {OFF_PRIOR_Z} of the prior's std (RMS), in a logged window): " + (", ".join(warn) if warn else "no warning in any run") + ".",
              "", f"Per-run metrics (easy/hard views, palm-angle bins, PCK curves, the floor): "
              f"`{info['out']}/runs/<arm>-seed<k>-<hash>/eval_{{test,hard}}.json`; training histories in "
              "their `metrics.json`.", ""]
    old = md.read_text() if md.is_file() else ""
    kept = old[old.index(ANALYSIS_MARKER):] if ANALYSIS_MARKER in old else ANALYSIS_MARKER + "\n"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(lines) + "\n" + kept)


def _floor(data: dict[str, Path], crop: int) -> tuple[np.ndarray, dict]:
    """The mean training pose (all train views' labels) and its PA-MPJPE on test and hard."""
    from trainer.cache import CropSet
    from trainer.data import DataConfig
    from trainer.metrics import every_view, joint_errors_mm, pairs_mean_pose
    from trainer.spec import resolve
    geo = DataConfig(crop=crop).geometry()
    tr = CropSet(resolve(str(data["train"])), geo, log=None)
    mean = pairs_mean_pose(tr.meta["X"], tr.meta["left"])
    floor = {}
    for split in ("test", "hard"):
        c = CropSet(resolve(str(data[split])), geo, log=None)
        gt = c.meta["X"].reshape(-1, 21, 3)
        floor[split] = float(joint_errors_mm(every_view(mean, np.repeat(c.meta["left"], 2)), gt, align=True).mean())
    return mean, floor


def _train_and_eval(cfg: TrainConfig, splits: dict[str, str], mean, device: str, progress: bool):
    """Train (or finish, or reuse) one run and evaluate it on each split: (metrics, {split: eval})."""
    m = train(cfg, progress=progress)
    evs = {s: run_eval(cfg.out, [d], out_dir=cfg.out, name=f"eval_{s}", device=device, mean_pose=mean, echo=False)
           for s, d in splits.items()}
    return m, evs


def _report(arm: str, seed: int, result, floor: dict) -> None:
    m, evs = result
    print(f"   hard PA-MPJPE {evs['hard']['pa_mpjpe_mm']:.1f} mm, test {evs['test']['pa_mpjpe_mm']:.1f} mm "
          f"(floor {floor['hard']:.1f} / {floor['test']:.1f}), {m['train_seconds'] / 60:.1f} min", flush=True)


def _head(cfg: TrainConfig) -> str:
    if cfg.pose_head != "prior":
        return "pose decoded from 2.5D"
    src = f"`{cfg.prior_file}`" if cfg.prior_file else f"{cfg.prior_poses} poses of the generator's pose sampler"
    return (f"pose from the prior head (mean + {cfg.prior_components} principal components of {src}, "
            "turned onto the decoded 2.5D pose)")


def _command() -> str:
    args = shlex.join(sys.argv[1:])
    if os.environ.get("MAKELEVEL"):
        return f"make experiment EXPERIMENT_ARGS={shlex.quote(args)}" if args else "make experiment"
    return "python -m trainer.experiment " + args


def _opt(name, **kw):
    return click.option(name, default=None, show_default=False, **kw)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--preset", type=click.Choice(list(PRESETS)), default="cpu", show_default=True,
              help="cpu: about an hour on 2 cores; gpu: the scale-up. Options below override it.")
@click.option("--out", default="out/experiment", show_default=True, type=click.Path(file_okay=False))
@click.option("--results", default="docs/RESULTS.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--results-json", default="docs/results.json", show_default=True, type=click.Path(dir_okay=False))
@click.option("--shards-from", type=click.Path(exists=True, file_okay=False),
              help="Use DIR/train, DIR/test, DIR/hard (render-job directories or crop packs) instead of rendering.")
@_opt("--train-pairs", type=int)
@_opt("--test-pairs", type=int)
@_opt("--hard-pairs", type=int)
@_opt("--resolution", type=int, help="Render resolution of train (px).")
@_opt("--samples", type=int, help="Cycles samples per pixel of train.")
@_opt("--eval-resolution", type=int, help="Render resolution of test and hard (px).")
@_opt("--eval-samples", type=int, help="Cycles samples per pixel of test and hard.")
@click.option("--render-workers", default=2, show_default=True)
@click.option("--textures", type=click.Path(file_okay=False),
              help="Texture set for the renders (default: build a 256 px set in OUT/textures).")
@click.option("--device", default="auto", show_default=True)
@_opt("--steps", type=int)
@_opt("--batch-size", type=int, help="Labeled pairs per step.")
@_opt("--unlabeled-batch", type=int)
@_opt("--crop", type=int)
@_opt("--width", type=float, help="Backbone width (1.0 = ResNet-18 or MobileNetV2).")
@_opt("--backbone", type=click.Choice(list(BACKBONES)), help="resnet (the presets') or mobilenet.")
@click.option("--label-fraction", default=0.2, show_default=True)
@click.option("--rotate-deg", default=45.0, show_default=True, help="In-plane rotation augmentation (+-deg).")
@click.option("--mirror-left/--no-mirror-left", default=True, show_default=True,
              help="Mirror left hands' crops to right hands (docs/TRAINING.md).")
@click.option("--upright/--no-upright", default=True, show_default=True,
              help="Labeled views' crops turned upright, two-pass evaluation (docs/TRAINING.md).")
@click.option("--upright-share", default=0.75, show_default=True,
              help="With --upright, the share of labeled views turned upright.")
@click.option("--teacher-upright/--no-teacher-upright", default=False, show_default=True,
              help="Teacher arms: unlabeled views turned upright by the teacher's first pass (docs/TRAINING.md).")
@click.option("--ema-decay", default=TrainConfig.ema_decay, show_default=True, help="Teacher arms: the EMA teacher's decay.")
@click.option("--teacher-clean/--no-teacher-clean", default=False, show_default=True,
              help="Teacher arms: the teacher sees the unlabeled view a without jitter (docs/TRAINING.md).")
@click.option("--w-teacher-a", default=0.0, show_default=True,
              help="Teacher arms, with --teacher-clean: the teacher's clean view a also teaches the student's "
                   "augmented view a of unlabeled pairs, at this weight (docs/TRAINING.md).")
@click.option("--teacher-keep", default=1.0, show_default=True,
              help="Teacher arms: the teacher's targets on only this share of each step's unlabeled pairs, its "
                   "most confident (docs/TRAINING.md).")
@click.option("--unlabeled-shards", multiple=True, metavar="DIR[:W]",
              help="Label-free arms: more train pairs (a render directory or crop pack, repeatable) for their "
                   "label-free losses only; the label budget stays --shards-from's (docs/TRAINING.md).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
@click.option("--arms", default=",".join(ARMS), show_default=True, help="Comma-separated, from the arms above.")
@click.option("--prior-file", type=click.Path(exists=True, dir_okay=False),
              help="Fit the pose prior to this .npz (keypoints (N, 21, 3)) instead of sampling poses.")
@_opt("--workers", type=int, help="Loader processes per training run.")
@_opt("--threads", type=int, help="torch threads per run (1 when other jobs share a 2-core machine).")
@_opt("--jobs", type=int, help="Runs trained at once, each in its own process (cpu preset: 2, one a core).")
def experiment(preset, out, results, results_json, shards_from, render_workers, textures, device,
               label_fraction, rotate_deg, mirror_left, upright, upright_share, teacher_upright, ema_decay, teacher_clean,
               w_teacher_a, teacher_keep, unlabeled_shards, seeds, arms, prior_file, **over):
    """Render (or reuse) the splits, train every arm for every seed, evaluate, write the results."""
    p = {**PRESETS[preset], **{k: v for k, v in over.items() if v is not None}}
    out = Path(out)
    t0 = time.perf_counter()
    # options checked before any split is rendered, which can take an hour
    if w_teacher_a > 0 and not teacher_clean:
        raise click.ClickException("--w-teacher-a needs --teacher-clean (its target is the teacher's clean view a)")
    if not 0.0 < teacher_keep <= 1.0:
        raise click.ClickException(f"--teacher-keep must be in (0, 1], got {teacher_keep}")
    arm_names = [a.strip() for a in arms.split(",")]
    unknown = [a for a in arm_names if a not in ARMS]
    if unknown:
        raise click.ClickException(f"--arms: unknown {', '.join(unknown)} (choose from {', '.join(ARMS)})")
    seed_list = [int(s) for s in seeds.split(",")]
    try:
        more_sha = [h for spec in unlabeled_shards
                    for h in _split_hashes(Path(split_weight(spec, "--unlabeled-shards")[0]))]
    except SpecError as e:                          # it names the option itself
        raise click.ClickException(str(e)) from None
    except (OSError, ValueError) as e:
        raise click.ClickException(f"--unlabeled-shards: {e}") from None
    if shards_from:
        data = {s: Path(shards_from) / s for s in SPLITS}
        from trainer.pack import PACK_FILE, is_pack
        for s, d in data.items():
            if not (manifest_path(d).is_file() or is_pack(d)):
                raise click.ClickException(f"--shards-from {shards_from}: {d} is neither a render directory "
                                           f"({manifest_path(d).name}) nor a pack ({PACK_FILE})")
    else:
        n = {"train": p["train_pairs"], "test": p["test_pairs"], "hard": p["hard_pairs"]}
        if not textures:
            from generator.textures.builder import build
            textures = out / "textures"
            print(f"building the 256 px texture set in {textures}", flush=True)
            build(textures, resolution=256, workers=1, log=None)
        # test and hard may be rendered finer than train (eval_resolution / eval_samples)
        res = {s: (p["resolution"], p["samples"]) if s == "train" else
               (p.get("eval_resolution", p["resolution"]), p.get("eval_samples", p["samples"])) for s in SPLITS}
        data = {s: render_split(s, job, out / "data" / s, n[s], *res[s], render_workers, device, Path(textures))
                for s, job in SPLITS.items()}
    try:
        mean, floor = _floor(data, p["crop"])
    except ValueError as e:                         # e.g. packs made for another --crop
        raise click.ClickException(str(e)) from None
    train_sha = _split_hashes(data["train"])
    summary = {"splits": {"hard": {}, "test": {}}, "mean_pose_pa_mpjpe_mm": floor, "command": _command()}
    tasks = []
    for arm in arm_names:
        for seed in seed_list:
            opts = dict(steps=p["steps"], batch_size=p["batch_size"], unlabeled_batch=p["unlabeled_batch"],
                        crop=p["crop"], width=p["width"], backbone=p.get("backbone", "resnet"), seed=seed,
                        workers=p["workers"], threads=p["threads"],
                        device=device, label_fraction=label_fraction, rotate_deg=rotate_deg,
                        mirror_left=mirror_left, upright=upright, upright_share=upright_share,
                        teacher_upright=teacher_upright, teacher_clean=teacher_clean,
                        **{k: p[k] for k in ("lr", "w_pose") if k in p},
                        **({"prior_file": prior_file} if prior_file else {}))
            if ARMS[arm].get("w_teacher"):
                # only where a teacher runs: the other arms keep their names
                opts.update(ema_decay=ema_decay, w_teacher_a=w_teacher_a, teacher_keep=teacher_keep)
            cfg = TrainConfig(shards=[str(data["train"])], out="", **{**opts, **ARMS[arm]})
            sha = train_sha
            if unlabeled_shards and cfg.uses_unlabeled():     # the other arms would not read them
                cfg.unlabeled_shards = list(unlabeled_shards)
                sha = data_id(train_sha + more_sha, [False] * len(train_sha) + [True] * len(more_sha))
            cfg.out = str(out / "runs" / f"{arm}-seed{seed}-{config_hash(cfg, sha)}")
            tasks.append((arm, seed, cfg))
    jobs = max(1, min(p.get("jobs", 1), len(tasks)))
    if jobs > 1 and not prior_file:
        load_prior(tasks[0][2], log=print)          # sample (and cache) the pose prior once, not per process
    splits = {s: str(data[s]) for s in ("test", "hard")}
    done = {}
    if jobs == 1:
        for arm, seed, cfg in tasks:
            print(f"== {arm} seed {seed}: {cfg.out}", flush=True)
            done[(arm, seed)] = _train_and_eval(cfg, splits, mean, device, sys.stderr.isatty())
            _report(arm, seed, done[(arm, seed)], floor)
    else:
        # runs in parallel processes (spawned: torch and its thread pools start clean in each)
        print(f"training {len(tasks)} runs, {jobs} at a time", flush=True)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            futures = {ex.submit(_train_and_eval, cfg, splits, mean, device, False): (arm, seed, cfg)
                       for arm, seed, cfg in tasks}
            try:
                for f in as_completed(futures):
                    arm, seed, cfg = futures[f]
                    done[(arm, seed)] = f.result()
                    print(f"== {arm} seed {seed}: {cfg.out}", flush=True)
                    _report(arm, seed, done[(arm, seed)], floor)
            except BaseException:
                # a failed run stops the experiment: the runs under way finish (a re-run reuses
                # them), the ones not started are dropped
                ex.shutdown(wait=False, cancel_futures=True)
                raise
    rows, counts = [], {}
    for arm, seed, cfg in tasks:                         # the table's order, whatever finished first
        m, evs = done[(arm, seed)]
        counts = m["pairs"] if arm == BASELINE or not counts else counts
        row = {"arm": arm, "seed": seed, "train_s": m["train_seconds"],
               "collapse_warning": any(degenerate(h) for h in m["history"])}
        for split in ("test", "hard"):
            ev = evs[split]
            arms_out = summary["splits"][split].setdefault(arm, {"pa_mpjpe_mm": [], "mpjpe_mm": [], "pa_auc": []})
            arms_out["pa_mpjpe_mm"].append(round(ev["pa_mpjpe_mm"], 3))
            arms_out["mpjpe_mm"].append(round(ev["mpjpe_mm"], 3))
            arms_out["pa_auc"].append(round(ev["pa_auc_3d"], 4))
            row[split] = ev["pa_mpjpe_mm"]
        rows.append(row)
    try:
        split_sizes = {s: resolve_one(str(d), verify_sha256=False).samples for s, d in data.items()}
    except SpecError as e:
        raise click.ClickException(str(e)) from None
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} CPU cores, device {device}",
            "data": ", ".join(f"{s} {split_sizes[s]} pairs (`{d}`)" for s, d in data.items()),
            "label_fraction": label_fraction, "labeled": counts.get("labeled"), "unlabeled": counts.get("unlabeled"),
            "steps": p["steps"], "batch_size": p["batch_size"], "unlabeled_batch": p["unlabeled_batch"],
            "crop": p["crop"], "width": p["width"], "backbone": BACKBONES[cfg.backbone], "seeds": seeds,
            "head": _head(cfg), "rotate_deg": rotate_deg, "out": str(out),
            "mirror": (", left hands' crops mirrored to right hands" if cfg.mirror_left else "")
            + (f", {cfg.upright_share:.0%} of the labeled views' crops turned upright and evaluation in two passes"
               " (plain crop -> hand axis -> upright crop)" if trains_upright(cfg) else "")
            + (", the teacher arms' unlabeled views turned upright by the teacher's first pass"
               if teacher_upright and trains_upright(cfg) else "")
            + (f", EMA teacher decay {ema_decay}" if ema_decay != TrainConfig.ema_decay else "")
            + (", the teacher seeing the unlabeled view a without jitter" if teacher_clean else "")
            + (f", its view a the target of the student's augmented view a at weight {w_teacher_a}"
               if w_teacher_a > 0 else "")
            + (f", its targets on the {teacher_keep:.0%} of each step's unlabeled pairs it is most confident on"
               if teacher_keep < 1 else "")
            + (f", the label-free arms' unlabeled pairs also from {', '.join(unlabeled_shards)}"
               if unlabeled_shards else "")}
    write_results(Path(results), Path(results_json), summary, rows, info)
    print(Path(results).read_text().split(ANALYSIS_MARKER)[0])
    print(f"experiment finished in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    experiment()
