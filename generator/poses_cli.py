"""`cyclehand-gen poses`: sampled hand poses as data (no render)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np


@click.command()
@click.option("--count", "-n", type=click.IntRange(min=1), required=True, help="number of poses")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="output .npz file")
@click.option("--model", type=click.Choice(["anny", "mano"]), default="anny", show_default=True)
@click.option("--mano-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder with MANO_RIGHT.pkl (for --model mano; default $CYCLEHAND_MANO_DIR)")
@click.option("--side", type=click.Choice(["right", "left"]), default="right", show_default=True)
@click.option("--mode", type=click.Choice(["mixed", "library", "uniform"]), default="mixed", show_default=True,
              help="library: blended named grasps/gestures; uniform: uniform within limits; mixed: both")
@click.option("--shapes/--no-shapes", default=True, show_default=True, help="sample hand shapes too")
@click.option("--forearm", type=click.FloatRange(0.0, 0.3), default=0.08, show_default=True,
              help="forearm length in metres (0 = capped wrist)")
@click.option("--picture", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write a contact-sheet PNG of the poses (at most 16)")
def poses(count, seed, out, model, mano_dir, side, mode, shapes, forearm, picture):
    """Sample COUNT anatomically valid, penetration-free poses and write them to OUT (.npz):
    vertices (N, V, 3), faces (F, 3), keypoints (N, 21, 3), pose (N, 20, 3) degrees, uvs, parts,
    shape parameters and sampling metadata. Metres, canonical hand frame (wrist at origin)."""
    from generator.conventions import KEYPOINT_NAMES
    from generator.conventions import rng as make_rng
    from generator.hand import JOINTS, PARTS, load_hand_model
    from generator.hand.poses import sample_poses

    if out.suffix != ".npz":
        raise click.BadParameter(f"{out} must end in .npz", param_hint="--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.BadParameter(f"cannot create {out.parent}: {e}", param_hint="--out")
    kwargs = {"forearm_length": forearm}
    if model == "mano":
        import os

        if mano_dir is None and not os.environ.get("CYCLEHAND_MANO_DIR"):
            raise click.UsageError("--model mano needs --mano-dir DIR (or $CYCLEHAND_MANO_DIR) holding MANO_RIGHT.pkl")
        kwargs["mano_dir"] = mano_dir
    t0 = time.time()
    hand = load_hand_model(model, **kwargs)
    click.echo(f"sampling {count} poses (seed {seed}, mode {mode})...", err=True)
    shape_list = ([hand.sample_shape(make_rng(seed, i, "shape")) for i in range(count)] if shapes
                  else [hand.default_shape()] * count)
    ps = sample_poses(hand, count, seed, mode=mode, shapes=shape_list)
    batch = hand.forward(ps.poses, shape_list, side=side)
    np.savez_compressed(
        out, vertices=batch.vertices, faces=batch.faces, keypoints=batch.keypoints,
        pose=batch.pose, uvs=batch.uvs, parts=batch.parts,
        shape=np.array([json.dumps(s, sort_keys=True) for s in batch.shape]),
        kind=np.array(ps.kind), relax_steps=ps.relax_steps, penetration_m=ps.penetration,
        keypoint_names=np.array(KEYPOINT_NAMES), joint_names=np.array(JOINTS), part_names=np.array(PARTS),
        side=np.array(side), model=np.array(model), seed=np.array(seed))
    click.echo(f"wrote {out}: {count} poses, {batch.vertices.shape[1]} vertices, "
               f"max penetration {ps.penetration.max() * 1000:.2f} mm, {time.time() - t0:.1f} s", err=True)
    if picture:
        from generator.hand.picture import contact_sheet, draw_hand

        k = min(count, 16)
        ims = [draw_hand(batch.vertices[i], batch.faces, batch.keypoints[i]) for i in range(k)]
        picture.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(ims, columns=4, labels=ps.kind[:k]).save(picture)
        click.echo(f"wrote {picture}", err=True)


if __name__ == "__main__":
    sys.exit(poses())
