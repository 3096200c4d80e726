"""`cyclehand-train`: train on shards, or `cyclehand-train eval` a checkpoint.

    cyclehand-train --shards SPEC [--shards SPEC:W ...] --out RUN [options]
    cyclehand-train eval --checkpoint CKPT --shards SPEC [--out DIR]
    cyclehand-train eval --checkpoint CKPT --freihand DIR [--limit N]
    cyclehand-train pack --shards SPEC --out DIR [--crop 64] [--quality 95]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from trainer.spec import SpecError

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _fail(e: Exception):
    raise click.ClickException(str(e)) from e


@click.group(invoke_without_command=True, context_settings=CTX)
@click.option("--shards", "shards", multiple=True, metavar="SPEC[:W]",
              help="Training shards: a job directory (its manifest.json), a glob, or brace notation; "
                   "repeat to mix SPECs, with optional weights (DIR:0.7).")
@click.option("--unlabeled-shards", "unlabeled_shards", multiple=True, metavar="SPEC[:W]",
              help="More pairs for the label-free losses only (their labels are never trained on); "
                   "the unlabeled pool draws from these SPECs and --shards' pairs outside the label budget "
                   "by the SPECs' weights.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory; an existing run continues.")
@click.option("--steps", default=2000, show_default=True, help="Total optimizer steps of the run.")
@click.option("--batch-size", default=32, show_default=True, help="Labeled pairs per step.")
@click.option("--unlabeled-batch", default=32, show_default=True, help="Unlabeled pairs per step (label-free losses).")
@click.option("--lr", default=5e-3, show_default=True, help="Peak learning rate (AdamW; warm-up, then cosine).")
@click.option("--warmup", default=100, show_default=True, help="Learning-rate warm-up steps.")
@click.option("--weight-decay", default=1e-4, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Loader processes gathering cached crops.")
@click.option("--threads", default=0, show_default=True, help="torch CPU threads (0 = torch's default).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--amp/--no-amp", default=True, show_default=True, help="Mixed precision on CUDA.")
@click.option("--crop", default=64, show_default=True, help="Crop side in pixels (network input, a multiple of 32).")
@click.option("--width", default=0.5, show_default=True, help="Backbone width (1.0 = ResNet-18 or MobileNetV2).")
@click.option("--backbone", type=click.Choice(["resnet", "mobilenet"]), default="resnet", show_default=True,
              help="resnet: ResNet-18's topology; mobilenet: MobileNetV2's (depthwise blocks; on this CPU 2.1x "
                   "slower a step at width 0.5 than resnet at 0.25, docs/TRAINING.md).")
@click.option("--stem-stride", type=click.Choice(["1", "2", "4"]), default="4", show_default=True,
              help="4: ResNet's stem (7x7/2 conv + max-pool); 2 or 1: one 3x3 conv of that stride, which "
                   "keeps small crops' detail (the heatmaps' stride).")
@click.option("--pose-head", type=click.Choice(["prior", "25d"]), default="prior", show_default=True,
              help="prior: the pose as rotation x (mean + PCA) of the pose prior; 25d: the decoded 2.5D pose.")
@click.option("--prior-components", default=15, show_default=True, help="PCA components of the prior head.")
@click.option("--prior-poses", default=200, show_default=True,
              help="Label-free poses from the generator's pose sampler the prior is fitted to (cached).")
@click.option("--prior-seed", default=0, show_default=True)
@click.option("--prior-file", default="", type=click.Path(dir_okay=False),
              help="Fit the prior to this .npz (keypoints (N, 21, 3)) instead of sampling poses.")
@click.option("--labels", type=click.Choice(["a", "transport", "both"]), default="transport", show_default=True,
              help="Labels of labeled pairs: view a only; a plus R_ab-transported b; each view's own.")
@click.option("--label-fraction", default=1.0, show_default=True,
              help="Share of pairs (fixed by key hash) whose labels may be used.")
@click.option("--w-uv", default=1.0, show_default=True, help="Weight of the supervised 2D (uv) loss (0 = off).")
@click.option("--w-heatmap", default=1.0, show_default=True,
              help="Weight of the heatmap loss (KL to a Gaussian at each labelled joint).")
@click.option("--w-depth", default=1.0, show_default=True, help="Weight of the supervised relative-depth loss.")
@click.option("--w-parts", default=0.0, show_default=True,
              help="Weight of the part-segmentation loss on the labeled views' part-ID pass (0 = off; "
                   "transported views have none).")
@click.option("--w-pose", default=1.0, show_default=True, help="Weight of the supervised 3D loss on the output pose.")
@click.option("--w-pose25d", default=0.0, show_default=True,
              help="Weight of the supervised 3D loss on the decoded 2.5D pose (beside a prior head).")
@click.option("--w-coef", default=1.0, show_default=True, help="Weight of the prior head's PCA-coefficient loss.")
@click.option("--w-teacher", default=0.0, show_default=True, help="Weight of the EMA-teacher rotation loss.")
@click.option("--teacher-target", type=click.Choice(["shape", "pose"]), default="shape", show_default=True,
              help="With a prior head, what the teacher's view-a prediction teaches view b: shape (its "
                   "PCA coefficients, plus its pose rotated by R_ab as the target of b's decoded 2.5D pose) "
                   "or pose (its output pose rotated by R_ab against b's output pose).")
@click.option("--w-cycle", default=0.0, show_default=True, help="Weight of the naive symmetric cycle loss (ablation).")
@click.option("--w-nce", default=0.0, show_default=True, help="Weight of the rotation-equivariant NT-Xent (PeCLR).")
@click.option("--w-prior", default=0.0, show_default=True, help="Weight of the anatomical prior.")
@click.option("--temperature", default=0.1, show_default=True, help="NT-Xent temperature.")
@click.option("--ema-decay", default=0.99, show_default=True, help="EMA teacher decay.")
@click.option("--unsup-start", default=0.3, show_default=True,
              help="Label-free losses start after this fraction of the steps (supervised warm-up).")
@click.option("--unsup-ramp", default=0.2, show_default=True,
              help="... and ramp linearly to full weight over this fraction.")
@click.option("--rotate-deg", default=45.0, show_default=True, help="In-plane rotation augmentation range (+-).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Crop jitter, in-plane rotation and appearance changes.")
@click.option("--mirror-left/--no-mirror-left", default=True, show_default=True,
              help="Mirror left hands' crops to right hands (labels exactly; eval mirrors as the run trained).")
@click.option("--upright/--no-upright", default=True, show_default=True,
              help="Turn labeled views' crops upright (hand axis up, +-30 deg) and evaluate in two passes: "
                   "the plain crop gives the axis, the upright crop the pose.")
@click.option("--upright-share", default=0.75, show_default=True,
              help="With --upright, the share of labeled views turned upright (the rest train the first pass).")
@click.option("--teacher-upright/--no-teacher-upright", default=False, show_default=True,
              help="With --upright and --w-teacher: turn the unlabeled pairs' views upright by the EMA teacher's "
                   "first pass on each, as evaluation turns a view.")
@click.option("--teacher-clean/--no-teacher-clean", default=False, show_default=True,
              help="With --w-teacher: the EMA teacher sees the unlabeled view a without scale, shift or appearance "
                   "jitter (the weak view of Mean Teacher / FixMatch); the student's view b keeps them.")
@click.option("--w-teacher-a", default=0.0, show_default=True,
              help="With --w-teacher and --teacher-clean: weight of the teacher's clean view-a prediction as the "
                   "target of the student's augmented view a of unlabeled pairs (self-training on the easy view).")
@click.option("--teacher-keep", default=1.0, show_default=True,
              help="With --w-teacher: use the teacher's targets on only this share of each step's unlabeled pairs, "
                   "those its heatmaps are most confident on (a fixed-share form of FixMatch's confidence filter).")
@click.option("--eval-shards", multiple=True, metavar="SPEC", help="Evaluate on these shards after training.")
@click.option("--log-every", default=10, show_default=True)
@click.option("--ckpt-every", default=200, show_default=True)
@click.option("--verify-sha256/--no-verify-sha256", default=True, show_default=True,
              help="Check every shard's sha256 against its manifest before training.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def main(ctx, shards, out, eval_shards, quiet, **opts):
    """Train the CycleHand keypoint network on cyclic-pair shards (or run `eval`)."""
    if ctx.invoked_subcommand is not None:
        return
    if not shards or not out:
        click.echo(ctx.get_help())
        if shards or out:
            raise click.UsageError("training needs both --shards SPEC and --out RUN")
        return
    from trainer.loop import TrainConfig, train
    opts["stem_stride"] = int(opts["stem_stride"])
    opts["unlabeled_shards"] = list(opts["unlabeled_shards"])
    cfg = TrainConfig(shards=list(shards), out=out, **opts)
    try:
        result = train(cfg, progress=not quiet)
        if eval_shards:
            ev = run_eval(Path(out), list(eval_shards), out_dir=Path(out), name="eval")
            result["eval"] = ev
            (Path(out) / "metrics.json").write_text(json.dumps(result, indent=1))
    except (SpecError, ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(e)
    t = result["train"]
    click.echo(f"{out}: step {result['step']}  loss {t.get('total', float('nan')):.4f}  "
               f"data wait {100 * t.get('data_wait_share', float('nan')):.1f}%  -> {out}/metrics.json")


def run_eval(checkpoint, shards=None, freihand=None, limit=None, out_dir=None, name="eval",
             batch_size=64, device="auto", views="a,b", mean_pose=None, echo=True, fit=False,
             by_labels=False, weights="student") -> dict:
    import torch
    from trainer.cache import CropSet
    from trainer.evaluate import format_table, predict, report, shard_view_batches, write
    from trainer.prior_fit import FitConfig
    from trainer.loop import load_model, pick_device
    from trainer.spec import resolve
    if by_labels and freihand:
        raise ValueError("--by-labels scores a run's own train shards; FreiHAND has no label budget")
    dev = pick_device(device)
    model, info = load_model(checkpoint, dev, weights)
    crop = model.cfg.crop
    scale_m = float(info["extra"].get("palm_scale_m", 0.085))
    if freihand:
        from trainer.freihand import FreiHAND, view_batches
        batches, vs = view_batches(FreiHAND(freihand, crop, limit=limit), batch_size, dev), ("a",)
    else:
        from trainer.data import DataConfig
        crops = CropSet(resolve(shards), DataConfig(crop=crop).geometry(), log=click.echo if echo else None)
        vs = tuple(v.strip() for v in views.split(","))
        batches = shard_view_batches(crops, crop, dev, vs, batch_size, limit, model.cfg.mirror_left,
                                     upright=model if model.cfg.upright else None)
    with torch.inference_mode():
        result = report(predict(model, batches, scale_m, FitConfig() if fit else None), mean_pose,
                        info["config"].get("label_fraction", 1.0) if by_labels else None)
    pose = "decoded 2.5D" if model.cfg.pose_head != "prior" else ("prior fitted to the 2.5D estimate" if fit else "prior head")
    result.update({"checkpoint": str(checkpoint), "step": info["step"], "pose": pose, "weights": weights,
                   "data": freihand or list(shards), "views": list(vs), "palm_scale_m": scale_m,
                   # FreiHAND's loader has no upright pass: an upright model sees its plain crops there
                   "upright_two_pass": bool(model.cfg.upright and not freihand)})
    ckpt_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    jpath, ppath = write(result, out_dir or ckpt_dir, name)
    if echo:
        click.echo(format_table(result))
        click.echo(f"wrote {jpath} and {ppath}")
    return result


@main.command("eval", context_settings=CTX)
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="RUN/checkpoint.safetensors or the RUN directory.")
@click.option("--shards", multiple=True, metavar="SPEC", help="Test shards (directory, glob or braces).")
@click.option("--freihand", type=click.Path(exists=True, file_okay=False),
              help="A FreiHAND folder (training_xyz.json, training_K.json, rgb/) instead of shards.")
@click.option("--limit", type=int, help="Evaluate only the first N samples (pairs of shards, images of FreiHAND).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write NAME.json and NAME_pck.png (default: next to the checkpoint).")
@click.option("--name", default="eval", show_default=True)
@click.option("--views", default="a,b", show_default=True, help="Which views of each pair to evaluate.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--fit/--no-fit", default=False, show_default=True,
              help="With a prior head: the prior fitted to the 2.5D estimate (trainer/prior_fit.py) instead of "
                   "the head's pose (the head's PA-MPJPE is reported beside it as pa_mpjpe_head_mm). It helps "
                   "only where the 2D estimate is good (docs/TRAINING.md).")
@click.option("--weights", type=click.Choice(["student", "teacher"]), default="student", show_default=True,
              help="The network's own weights, or its EMA teacher's (runs with --w-teacher).")
@click.option("--by-labels", is_flag=True,
              help="On the run's own train shards: also score the pairs whose labels it trained on (its "
                   "--label-fraction) and the other pairs apart, to see whether it learned its labels by heart.")
def eval_cmd(checkpoint, shards, freihand, limit, out_dir, name, views, batch_size, device, fit, weights, by_labels):
    """Print and write MPJPE, PA-MPJPE (mm), AUC of 3D PCK (0-50 mm), 2D PCK, for easy and hard
    views and per palm angle."""
    if bool(shards) == bool(freihand):
        raise click.UsageError("give either --shards SPEC or --freihand DIR")
    try:
        run_eval(checkpoint, list(shards), freihand, limit, out_dir, name, batch_size, device, views, fit=fit,
                 by_labels=by_labels, weights=weights)
    except (SpecError, ValueError, FileNotFoundError, KeyError) as e:
        _fail(e)


@main.command("pack", context_settings=CTX)
@click.option("--shards", required=True, metavar="SPEC",
              help="One SPEC of shards to pack (as for training, without a weight: mix packs when training).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="A new folder for the pack.")
@click.option("--crop", default=64, show_default=True, help="The crop side the pack is for (training's --crop).")
@click.option("--quality", default=95, show_default=True, type=click.IntRange(50, 100), help="JPEG quality.")
def pack_cmd(shards, out, crop, quality):
    """Pack the crop cache of a SPEC's shards into one folder (JPEG crops, labels, part ids) that `--shards`
    reads like the shards: small enough to carry where there are no shards (a lent GPU machine)."""
    from trainer.cache import CropSet
    from trainer.data import DataConfig
    from trainer.pack import write_pack
    from trainer.spec import resolve
    try:
        sets = resolve(shards)
        if sets[0].weight != 1.0:
            raise click.UsageError(f"--shards {shards}: a pack holds one SPEC's shards without a weight; give the "
                                   "weight when training on the pack (--shards PACK:W)")
        crops = CropSet(sets, DataConfig(crop=crop).geometry(), log=click.echo)
        info = write_pack(crops, out, quality, log=None)
    except (SpecError, ValueError, FileNotFoundError, FileExistsError) as e:
        _fail(e)
    size = sum(f.stat().st_size for f in Path(out).iterdir())
    click.echo(f"packed {info['count']} pairs of {len(info['shards'])} shards into {out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
