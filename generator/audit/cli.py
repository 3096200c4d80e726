"""`cyclehand-gen audit DIR`: how often a real-photo hand landmarker finds our rendered hands.

Writes every view of DIR's complete shards to a scratch folder, runs MediaPipe Hands on them in
the realism environment (a separate Python: mediapipe pins numpy<2 and an old protobuf), and
reports detection (overall, easy views, by view angle, skin tone, lighting, background, side,
wear, occluder, pose kind),
PCK@0.2 where detected and handedness agreement. See docs/TEXTURES.md, "Realism benchmark".
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import click
import numpy as np
from PIL import Image

from generator.paths import REPO_ROOT

from . import metrics

LANDMARKER = Path(__file__).resolve().with_name("landmarker.py")
REALISM_ENV_HINT = "run `make realism-env` (creates .venv-realism) or pass --python / set CYCLEHAND_REALISM_PYTHON"


def realism_python(explicit: str | None = None) -> str:
    """The realism environment's interpreter: --python, $CYCLEHAND_REALISM_PYTHON, or
    <checkout>/.venv-realism/bin/python. Raises FileNotFoundError naming `make realism-env`."""
    cand = explicit or os.environ.get("CYCLEHAND_REALISM_PYTHON")
    if cand:
        if not Path(cand).is_file():
            raise FileNotFoundError(f"realism Python {cand} does not exist; {REALISM_ENV_HINT}")
        return cand
    default = REPO_ROOT / ".venv-realism" / "bin" / "python"
    if default.is_file():
        return str(default)
    raise FileNotFoundError(f"no realism environment (MediaPipe) at {default.parent.parent}; {REALISM_ENV_HINT}")


def run_landmarker(paths: list[str], python: str, workdir: Path) -> list[dict | None]:
    """MediaPipe results for image files, in order (None where no hand was found)."""
    lst, res = workdir / "images.txt", workdir / "landmarks.jsonl"
    lst.write_text("\n".join(paths) + "\n")
    proc = subprocess.run([python, str(LANDMARKER), str(lst), str(res)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the landmarker failed (exit {proc.returncode}) in {python}:\n{proc.stderr[-2000:]}")
    out = [json.loads(line) for line in res.read_text().splitlines()]
    if [o["path"] for o in out] != paths:
        raise RuntimeError("the landmarker's output does not match its input list")
    return [o if o["landmarks"] is not None else None for o in out]


def iter_views(folder: Path, max_pairs: int | None = None, easy_only: bool = False, parts: bool = False):
    """(annotation dict, view name, RGB uint8 array, part ids or None) of every view of the listed
    shards; ``easy_only``: only the easy views (the audit's definition, metrics.easy_annotation);
    ``parts``: only views with a part-ID pass, and it."""
    from generator import dataset as D
    members = (D.image_member("a"), D.image_member("b"), D.JSON) + tuple(f"{v}.{D.PARTS}" for v in D.VIEWS if parts)
    try:
        for n, sample in enumerate(D.iter_samples(folder, members=members, sha256=False)):
            if max_pairs is not None and n >= max_pairs:
                return
            ann = sample[D.JSON]
            for v in D.VIEWS:
                if easy_only and not metrics.easy_annotation(ann[v]):
                    continue
                if parts and f"{v}.{D.PARTS}" not in sample:
                    continue
                yield ann, v, D.view_image(sample, v), sample.get(f"{v}.{D.PARTS}") if parts else None
    except D.DatasetError as e:
        raise click.ClickException(str(e)) from None


def audit(folder: Path, python: str | None = None, max_pairs: int | None = None) -> tuple[dict, list[dict]]:
    """(summary, per-view records) of FOLDER's renders."""
    python = realism_python(python)
    anns, paths = [], []
    with tempfile.TemporaryDirectory(prefix="cyclehand-audit-") as tmp:
        tmp = Path(tmp)
        for i, (ann, v, rgb, _) in enumerate(iter_views(folder, max_pairs)):
            p = tmp / f"{i:06d}.png"
            Image.fromarray(rgb).save(p, compress_level=1)
            anns.append((ann, v)); paths.append(str(p))
        if not paths:
            raise click.ClickException(f"{folder}: no views to audit")
        results = run_landmarker(paths, python, tmp)
    records = [metrics.view_record(ann, v, r) for (ann, v), r in zip(anns, results)]
    return metrics.summarise(records), records


@click.command("audit")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--python", "python", default=None,
              help="Interpreter of the realism environment (default: $CYCLEHAND_REALISM_PYTHON, .venv-realism).")
@click.option("--pairs", "max_pairs", type=int, default=None, help="Audit only the first N pairs.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the summary and every view's record here.")
@click.option("--sheet", "sheet_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the detected easy views with the lowest agreement here (PNG): our labels "
                   "(filled: visible, hollow: hidden) and the landmarker's in white.")
@click.option("--missed-sheet", "missed_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the easy views the landmarker did not find here (PNG), with our labels.")
@click.option("--sheet-views", type=click.IntRange(min=1), default=12, show_default=True,
              help="Views on each sheet.")
def audit_cli(folder, python, max_pairs, json_out, sheet_out, missed_out, sheet_views):
    """Run MediaPipe Hands on FOLDER's rendered views and report detection and agreement."""
    try:
        summary, records = audit(folder, python, max_pairs)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    click.echo(metrics.format_report(summary))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"folder": str(folder), "summary": summary, "views": records}, indent=1))
        click.echo(f"wrote {json_out}")
    from .sheet import disagreement_sheet
    for path, missed, none in ((sheet_out, False, "no detected easy view"), (missed_out, True, "no missed easy view")):
        if not path:
            continue
        sheet = disagreement_sheet(folder, records, sheet_views, missed=missed)
        if sheet is None:
            click.echo(f"{none}: {path} not written")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            sheet.save(path)
            click.echo(f"wrote {path} ({sheet.width}x{sheet.height})")
