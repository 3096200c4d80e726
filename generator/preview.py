"""`cyclehand-gen preview DIR --out SHEET.png`: a contact sheet of both views of several pairs with
their 2D skeletons (filled dots: visible keypoints; hollow: occluded or out of frame)."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw

from generator import dataset as D

from generator.conventions import FINGER_KEYPOINTS, bones
from generator.rotations import angle_deg

FINGER_COLOURS = {"thumb": (255, 80, 80), "index": (255, 200, 40), "middle": (60, 220, 90),
                  "ring": (60, 170, 255), "little": (200, 90, 255)}
WRIST_COLOUR = (255, 255, 255)


def _colour(k: int):
    for f, ks in FINGER_KEYPOINTS.items():
        if k in ks:
            return FINGER_COLOURS[f]
    return WRIST_COLOUR


def iter_pairs(folder: Path, limit: int):
    """Decoded samples (images, annotations) of the folder's listed shards, in order."""
    try:
        for i, sample in enumerate(D.iter_samples(folder, members=(D.image_member("a"), D.image_member("b"), D.JSON),
                                                 sha256=False)):
            if i >= limit:
                return
            yield sample
    except D.DatasetError as e:
        raise click.ClickException(str(e)) from None


def draw_view(img: np.ndarray, view: dict, cell: int) -> Image.Image:
    im = Image.fromarray(img).convert("RGB")
    s = cell / im.width
    im = im.resize((cell, round(im.height * s)), Image.Resampling.NEAREST if s >= 1 else Image.Resampling.LANCZOS)
    d = ImageDraw.Draw(im)
    # pixel centres are integers: pixel i spans [i - 0.5, i + 0.5], so scale about -0.5
    uv = (np.asarray(view["keypoints_2d"]) + 0.5) * s - 0.5
    vis = view["visible"]
    lw = max(1, cell // 128)
    for p, c in bones():
        d.line([tuple(uv[p]), tuple(uv[c])], fill=_colour(c), width=lw)
    r = max(2, cell // 80)
    for k, (x, y) in enumerate(uv):
        box = [x - r, y - r, x + r, y + r]
        if vis[k]:
            d.ellipse(box, fill=_colour(k))
        else:
            d.ellipse(box, outline=_colour(k), width=1)
    if view.get("bbox"):
        x0, y0, x1, y1 = ((np.asarray(view["bbox"]) + 0.5) * s - 0.5).tolist()
        d.rectangle([x0, y0, x1, y1], outline=(255, 255, 255), width=1)
    return im


def contact_sheet(folder: Path, pairs: int = 8, cell: int = 256, columns: int = 2) -> Image.Image:
    tiles = []
    for sample in iter_pairs(folder, pairs):
        ann = sample[D.JSON]
        row = [draw_view(D.view_image(sample, v), ann[v], cell) for v in D.VIEWS]
        label = (f"#{ann['index']} {ann['hand']['side']} {ann['appearance']['texture']} "
                 f"{ann['appearance']['lighting']['kind']} |R_ab|={angle_deg(np.asarray(ann['R_ab'])):.0f}deg")
        tiles.append((row, label))
    if not tiles:
        raise click.ClickException(f"{folder}: the shards hold no samples")
    h = max(t[0][0].height for t in tiles)
    pad, text_h = 4, 14
    tw, th = 2 * cell + pad, h + text_h
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tw + pad, rows * (th + pad) + pad), (20, 20, 20))
    d = ImageDraw.Draw(sheet)
    for i, (row, label) in enumerate(tiles):
        x, y = pad + (i % columns) * tw, pad + (i // columns) * (th + pad)
        sheet.paste(row[0], (x, y + text_h))
        sheet.paste(row[1], (x + cell, y + text_h))
        d.text((x + 2, y), label, fill=(230, 230, 230))
    return sheet


@click.command("preview")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Contact sheet image to write (PNG).")
@click.option("--pairs", type=int, default=8, show_default=True, help="Pairs to show.")
@click.option("--cell", type=int, default=256, show_default=True, help="Pixels per view.")
@click.option("--columns", type=int, default=2, show_default=True, help="Pairs per row.")
def preview(folder, out, pairs, cell, columns):
    """Draw both views of several pairs of FOLDER's shards with their skeletons."""
    sheet = contact_sheet(folder, pairs, cell, columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    click.echo(f"wrote {out} ({sheet.width}x{sheet.height})")
