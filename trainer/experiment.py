"""`make experiment`: does the cycle loss help on hard views, at a fixed label budget?

1. Data: renders (or reuses: the render command resumes) three splits with `cyclehand-gen render`:
   train (render_jobs/train.toml), test (test.toml: HDRIs and skin variants train never sees) and
   hard (hard_views.toml: edge-on palms, fingers along the optical axis, also unseen skins/HDRIs
   where the job says so). Or takes them ready-made: `--shards-from DIR` with DIR/{train,test,hard}.
2. Label budget: labels of only `--label-fraction` of the train pairs (fixed by key hash) are
   used; the other pairs are the unlabeled rotated set the label-free losses learn from.
3. Trains three models with identical data, steps and budget: supervised only; + cycle (pair
   rotation cycle and in-plane rotation cycle); + cycle + contrastive (InfoNCE), for each seed.
4. Evaluates each on test and hard, and writes a table to docs/RESULTS.md with the command.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from generator.dataset import DatasetError, read_manifest
from generator.dataset.manifest import manifest_path
from trainer.cli import run_eval
from trainer.loop import TrainConfig, train

SPLITS = {"train": "render_jobs/train.toml", "test": "render_jobs/test.toml", "hard": "render_jobs/hard_views.toml"}
MODELS = {
    "supervised": {},
    "cycle": {"w_cycle": 1.0, "w_rot": 0.5},
    "cycle+contrastive": {"w_cycle": 1.0, "w_rot": 0.5, "w_nce": 0.1},
    # ablation, not run by default: the cycle losses at a tenth of the weight
    "cycle-light": {"w_cycle": 0.1, "w_rot": 0.05},
}
DEFAULT_MODELS = ("supervised", "cycle", "cycle+contrastive")


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


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def write_results(path: Path, rows: list[dict], info: dict) -> Path:
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    lines = ["# Results: cycle-consistency vs supervised training at a fixed label budget", "",
             f"Produced by `{info['command']}` on {info['date']} ({info['machine']}).", "",
             f"Data: {info['data']}. Label budget: labels of {100 * info['label_fraction']:.0f}% of the "
             f"training pairs ({info['labels']}); the rest are used only by the label-free losses. "
             f"Each model: {info['steps']} steps of batch {info['batch_size']} pairs, {info['crop']} px crops, "
             f"in-plane rotation augmentation +-{info['rotate_deg']:g} deg, "
             f"seeds {info['seeds']}. Errors in mm (mean ± std over seeds when more than one); AUC of 3D PCK "
             "0-50 mm after Procrustes alignment.", "",
             "| model | test MPJPE | test PA-MPJPE | hard MPJPE | hard PA-MPJPE | hard PA-AUC | hard PA-MPJPE vs supervised | train time |",
             "|---|---|---|---|---|---|---|---|"]
    base = statistics.mean(r["hard"]["pa_mpjpe_mm"] for r in by_model.get("supervised", rows))
    for model, rs in by_model.items():
        hard_pa = [r["hard"]["pa_mpjpe_mm"] for r in rs]
        rel = 100 * (statistics.mean(hard_pa) - base) / base
        lines.append(
            f"| {model} | {_fmt([r['test']['mpjpe_mm'] for r in rs])} | {_fmt([r['test']['pa_mpjpe_mm'] for r in rs])} "
            f"| {_fmt([r['hard']['mpjpe_mm'] for r in rs])} | {_fmt(hard_pa)} "
            f"| {statistics.mean(r['hard']['pa_auc_3d'] for r in rs):.3f} | {rel:+.1f}% "
            f"| {statistics.mean(r['train_s'] for r in rs) / 60:.1f} min |")
    lines += ["", "Target of the seed's claim: hard-view PA-MPJPE at least 15% below supervised only "
              "(a relative change of -15% or less in the column above).", "",
              "Per-run metrics (JSON, PCK curves, per view-angle bins): "
              f"`{info['out']}/<model>-seed<k>/eval_{{test,hard}}.json`.", ""]
    if info.get("note"):
        lines += [info["note"], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", default="out/experiment", show_default=True, type=click.Path(file_okay=False))
@click.option("--results", default="docs/RESULTS.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--shards-from", type=click.Path(exists=True, file_okay=False),
              help="Use DIR/train, DIR/test, DIR/hard (render-job directories) instead of rendering.")
@click.option("--train-pairs", default=1500, show_default=True)
@click.option("--test-pairs", default=150, show_default=True)
@click.option("--hard-pairs", default=150, show_default=True)
@click.option("--resolution", default=128, show_default=True, help="Render resolution (px).")
@click.option("--samples", default=16, show_default=True, help="Cycles samples per pixel.")
@click.option("--render-workers", default=2, show_default=True)
@click.option("--textures", type=click.Path(file_okay=False),
              help="Texture set for the renders (default: build a 256 px set in OUT/textures; "
                   "small renders do not need `make textures`' 2048 px maps).")
@click.option("--device", default="auto", show_default=True)
@click.option("--steps", default=1500, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--crop", default=64, show_default=True)
@click.option("--label-fraction", default=0.2, show_default=True)
@click.option("--rotate-deg", default=45.0, show_default=True,
              help="In-plane rotation augmentation (+-deg) for every model; +-180 needs far more steps.")
@click.option("--labels", type=click.Choice(["all", "a"]), default="all", show_default=True)
@click.option("--seeds", default="0", show_default=True, help="Comma-separated training seeds (each adds ~30 min).")
@click.option("--models", default=",".join(DEFAULT_MODELS), show_default=True,
              help=f"Comma-separated, from: {', '.join(MODELS)}.")
@click.option("--workers", default=1, show_default=True, help="Loader workers per training run.")
@click.option("--threads", default=2, show_default=True,
              help="torch threads per training run (use 1 when other jobs share a 2-core machine).")
@click.option("--note", default="", help="A sentence added under the table.")
def experiment(out, results, shards_from, train_pairs, test_pairs, hard_pairs, resolution, samples,
               render_workers, textures, device, steps, batch_size, crop, label_fraction, rotate_deg, labels, seeds, models,
               workers, threads, note):
    """Render (or reuse) the splits, train the three models, evaluate, write docs/RESULTS.md."""
    out = Path(out)
    t0 = time.perf_counter()
    if shards_from:
        data = {s: Path(shards_from) / s for s in SPLITS}
        for s, d in data.items():
            if not manifest_path(d).is_file():
                raise click.ClickException(f"--shards-from {shards_from}: {manifest_path(d)} is missing")
    else:
        n = {"train": train_pairs, "test": test_pairs, "hard": hard_pairs}
        if not textures:
            from generator.textures.builder import build
            textures = out / "textures"
            print(f"building the 256 px texture set in {textures}", flush=True)
            build(textures, resolution=256, workers=1, log=None)
        data = {s: render_split(s, job, out / "data" / s, n[s], resolution, samples, render_workers, device,
                                Path(textures))
                for s, job in SPLITS.items()}
    try:
        counts = {s: read_manifest(d, warn_incomplete=True).counts.get("pairs", 0) for s, d in data.items()}
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    rows = []
    for model in [m.strip() for m in models.split(",")]:
        if model not in MODELS:
            raise click.ClickException(f"--models: unknown model {model!r} (choose from {', '.join(MODELS)})")
        for seed in [int(s) for s in seeds.split(",")]:
            run = out / f"{model}-seed{seed}"
            cfg = TrainConfig(shards=[str(data["train"])], out=str(run), steps=steps, batch_size=batch_size,
                              crop=crop, seed=seed, workers=workers, threads=threads,
                              label_fraction=label_fraction, labels=labels, rotate_deg=rotate_deg,
                              **MODELS[model])
            print(f"== {model} seed {seed}: {run}", flush=True)
            # a finished run (a re-run adding seeds or models) trains nothing and reports the time
            # its checkpoint recorded
            train_s = train(cfg, progress=sys.stderr.isatty())["train_seconds"]
            row = {"model": model, "seed": seed, "steps": steps, "train_s": train_s}
            for split in ("test", "hard"):
                row[split] = run_eval(run, [str(data[split])], out_dir=run, name=f"eval_{split}", workers=workers)
            rows.append(row)
            (out / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    args = shlex.join(sys.argv[1:])
    if os.environ.get("MAKELEVEL"):
        cmd = f"make experiment EXPERIMENT_ARGS={shlex.quote(args)}" if args else "make experiment"
    else:
        cmd = "python -m trainer.experiment " + args
    info = {"command": cmd, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} CPU cores" + (f", device {device}" if device != "auto" else ""),
            "data": ", ".join(f"{s} {counts[s]} pairs ({d})" for s, d in data.items()),
            "label_fraction": label_fraction, "labels": "both views" if labels == "all" else "view a only",
            "steps": steps, "batch_size": batch_size, "crop": crop, "seeds": seeds, "rotate_deg": rotate_deg, "out": str(out), "note": note}
    path = write_results(Path(results), rows, info)
    print(path.read_text())
    print(f"experiment finished in {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    experiment()
