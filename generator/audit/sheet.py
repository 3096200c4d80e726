"""Where the landmarker disagrees, as a picture: the easy views it found with the lowest
agreement (or the easy views it missed), our labels drawn as `cyclehand-gen preview` draws them
(filled dots: visible keypoints, hollow: hidden) and MediaPipe's 21 landmarks over them as a white
skeleton with square joints. Looking at these is how the audit's figures get explained (a distractor over the
fingers, a fist seen from the back, a palm read as a back, a dark hand on a dark scene)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from generator import dataset as D
from generator.conventions import bones
from generator.preview import draw_view

LANDMARK_COLOUR = (255, 255, 255)


def worst_views(records: list[dict], n: int) -> list[dict]:
    """The ``n`` detected easy views with the lowest PCK@0.2 (ties: larger mean error first)."""
    found = [r for r in records if r["easy"] and r["detected"]]
    return sorted(found, key=lambda r: (float(np.mean(r["pck"])), -float(np.mean(r["error_px"]))))[:n]


def missed_views(records: list[dict], n: int) -> list[dict]:
    """The first ``n`` easy views the landmarker did not find."""
    return [r for r in records if r["easy"] and not r["detected"]][:n]


def draw_disagreement(img: np.ndarray, view: dict, record: dict, cell: int) -> Image.Image:
    """One view at ``cell`` px wide: our labels (``view``: the annotation's view dict) and the
    landmarker's (``record["landmarks_px"]``, our pixel convention; none where it found no hand)."""
    im = draw_view(img, view, cell)
    if not record.get("detected"):
        return im
    s = cell / img.shape[1]
    lm = (np.asarray(record["landmarks_px"], np.float64) + 0.5) * s - 0.5
    d = ImageDraw.Draw(im)
    for p, c in bones():
        d.line([tuple(lm[p]), tuple(lm[c])], fill=LANDMARK_COLOUR, width=1)
    r = max(1, cell // 128)
    for x, y in lm:
        d.rectangle([x - r, y - r, x + r, y + r], fill=LANDMARK_COLOUR)
    return im


def disagreement_sheet(folder: Path, records: list[dict], n: int = 12, cell: int = 256,
                       columns: int = 4, missed: bool = False) -> Image.Image | None:
    """Contact sheet of ``worst_views`` (or, with ``missed``, ``missed_views``) of FOLDER's audit
    ``records`` (None when there are none)."""
    picked = missed_views(records, n) if missed else worst_views(records, n)
    if not picked:
        return None
    want = {(r["index"], r["view"]): r for r in picked}
    keys = {D.sample_key(i) for i, _ in want}
    tiles: dict = {}
    # only the pairs drawn are decoded (the audit has decoded every view already)
    for raw in D.iter_raw(D.resolve_urls(folder, sha256=False).urls):
        if raw["__key__"] not in keys:
            continue
        sample = D.decode_sample(raw, (D.image_member("a"), D.image_member("b"), D.JSON))
        ann = sample[D.JSON]
        for v in D.VIEWS:
            rec = want.get((ann.get("index"), v))
            if rec is not None:
                tiles[(rec["index"], v)] = (draw_disagreement(D.view_image(sample, v), ann[v], rec, cell), rec)
        if len(tiles) == len(want):
            break
    pad, text_h = 4, 14
    rows = (len(picked) + columns - 1) // columns
    h = max(t[0].height for t in tiles.values())
    sheet = Image.new("RGB", (columns * (cell + pad) + pad, rows * (h + text_h + pad) + pad), (20, 20, 20))
    d = ImageDraw.Draw(sheet)
    for i, r in enumerate(picked):
        im, rec = tiles[(r["index"], r["view"])]
        x, y = pad + (i % columns) * (cell + pad), pad + (i // columns) * (h + text_h + pad)
        sheet.paste(im, (x, y + text_h))
        if rec["detected"]:
            flip = "" if rec["detected_side"] == rec["side"] else " side flipped"
            title = f"PCK {np.mean(rec['pck']):.2f} {rec.get('wear', '')}{flip}"
        else:
            title = f"not found, MST {rec.get('skin_tone')} {rec.get('lighting')}/{rec.get('background')}"
        d.text((x + 2, y), f"#{rec['index']}{rec['view']} {title}", fill=(230, 230, 230))
    return sheet
