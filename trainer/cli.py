"""`cyclehand-train`: train on shards, or `cyclehand-train eval` a checkpoint.

    cyclehand-train --shards SPEC [--shards SPEC:W ...] --out RUN [options]
    cyclehand-train eval --checkpoint CKPT --shards SPEC [--out DIR]
    cyclehand-train eval --checkpoint CKPT --freihand DIR [--limit N]
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
@click.option("--out", type=click.Path(file_okay=False), help="Run directory; an existing run continues.")
@click.option("--steps", default=2000, show_default=True, help="Total optimizer steps of the run.")
@click.option("--batch-size", default=32, show_default=True, help="Cyclic pairs per step.")
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--workers", default=1, show_default=True, help="DataLoader worker processes.")
@click.option("--threads", default=0, show_default=True, help="torch CPU threads (0 = all cores).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--amp/--no-amp", default=True, show_default=True, help="Mixed precision on CUDA.")
@click.option("--crop", default=64, show_default=True, help="Crop side in pixels (network input).")
@click.option("--w-sup3d", default=1.0, show_default=True, help="Weight of the supervised 3D loss (0 = off).")
@click.option("--w-sup2d", default=1.0, show_default=True, help="Weight of the supervised 2D loss.")
@click.option("--w-cycle", default=0.0, show_default=True, help="Weight of the pair cycle (rotation) loss.")
@click.option("--w-rot", default=0.0, show_default=True, help="Weight of the in-plane rotation cycle loss.")
@click.option("--w-nce", default=0.0, show_default=True, help="Weight of the InfoNCE contrastive loss.")
@click.option("--w-prior", default=0.0, show_default=True, help="Weight of the anatomical prior.")
@click.option("--temperature", default=0.1, show_default=True, help="InfoNCE temperature.")
@click.option("--labels", type=click.Choice(["all", "a", "none"]), default="all", show_default=True,
              help="Which views' labels the supervised losses may use.")
@click.option("--label-fraction", default=1.0, show_default=True,
              help="Share of pairs (fixed by key hash) whose labels may be used.")
@click.option("--rotate-deg", default=180.0, show_default=True, help="In-plane rotation augmentation range (+-).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Crop jitter, in-plane rotation and appearance changes.")
@click.option("--unlabeled", type=click.Path(exists=True, file_okay=False),
              help="Folder of real, roughly hand-centred photos for the rotation and contrastive losses.")
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
             batch_size=64, workers=1, device="auto", views="a,b") -> dict:
    import torch
    from trainer.data import DataConfig, loader, pair_dataset
    from trainer.evaluate import format_table, predict, report, write
    from trainer.loop import load_model, pick_device
    from trainer.spec import resolve
    dev = pick_device(device)
    model, info = load_model(checkpoint, dev)
    dcfg = DataConfig(crop=model.cfg.crop, augment=False, rot_copy=False)
    if freihand:
        from trainer.freihand import FreiHAND
        ds, vs = FreiHAND(freihand, dcfg, limit=limit), ("a",)
        batches = loader(ds, batch_size, workers, drop_last=False)
    else:
        sets = resolve(shards)
        ds = pair_dataset(sets, dcfg, train=False)
        if limit:
            ds = ds.slice(limit)
        n_urls = sum(len(s.urls) for s in sets)
        batches = loader(ds, batch_size, min(workers, n_urls), drop_last=False)
        vs = tuple(v.strip() for v in views.split(","))
    with torch.inference_mode():
        result = report(predict(model, batches, dev, vs))
    result.update({"checkpoint": str(checkpoint), "step": info["step"],
                   "data": freihand or list(shards), "views": list(vs)})
    ckpt_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    jpath, ppath = write(result, out_dir or ckpt_dir, name)
    click.echo(format_table(result))
    click.echo(f"wrote {jpath} and {ppath}")
    return result


@main.command("eval", context_settings=CTX)
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="RUN/checkpoint.safetensors or the RUN directory.")
@click.option("--shards", multiple=True, metavar="SPEC", help="Test shards (directory, glob or braces).")
@click.option("--freihand", type=click.Path(exists=True, file_okay=False),
              help="A FreiHAND folder (training_xyz.json, training_K.json, rgb/) instead of shards.")
@click.option("--limit", type=int, help="Evaluate only the first N samples.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write NAME.json and NAME_pck.png (default: next to the checkpoint).")
@click.option("--name", default="eval", show_default=True)
@click.option("--views", default="a,b", show_default=True, help="Which views of each pair to evaluate.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--workers", default=1, show_default=True)
@click.option("--device", default="auto", show_default=True)
def eval_cmd(checkpoint, shards, freihand, limit, out_dir, name, views, batch_size, workers, device):
    """Print and write MPJPE, PA-MPJPE (mm), AUC of 3D PCK (0-50 mm), 2D PCK, per view angle."""
    if bool(shards) == bool(freihand):
        raise click.UsageError("give either --shards SPEC or --freihand DIR")
    try:
        run_eval(checkpoint, list(shards), freihand, limit, out_dir, name, batch_size, workers, device, views)
    except (SpecError, ValueError, FileNotFoundError, KeyError) as e:
        _fail(e)


if __name__ == "__main__":
    sys.exit(main())
