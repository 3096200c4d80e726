"""`cyclehand-gen verify DIR`: is this folder what its manifest says, sample by sample?

Checks, each problem named by file, sample and view: the manifest reads and its counts add up;
every listed shard exists with its size and sha256; each shard holds exactly its planned keys;
every member decodes; images, masks and optional passes have the annotated resolution; and the
annotations keep the format's invariants, recomputed here from the stored numbers and pixels:
  - R_ab is a rotation, and Xb - Xb[0] == R_ab (Xa - Xa[0]) for keypoints and vertices;
  - the wrist keypoint (the rotation centre) is the same in a and b;
  - keypoints_2d is the projection of keypoints_3d by K (within 0.5 px);
  - bbox is the extent of the mask's pixels (pixel-centre convention), null for an empty mask.
Shard files and temporaries that the manifest does not list are reported as notes.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import numpy as np

from generator.dataset.manifest import DatasetError, check_listed, read_manifest
from generator.dataset.names import (JSON, MASK, SHARD_RE, VERTS, VIEWS, member, sample_key)
from generator.dataset.reader import SampleError, decode_sample, iter_raw, view_image

KEYPOINT_TOL_M = 1e-6        # JSON keeps float64: the relation holds to rounding
VERTEX_TOL_M = 2e-5          # float32 vertices of a hand within ~1 m of the camera
PROJECTION_TOL_PX = 0.5


@dataclasses.dataclass
class Report:
    folder: str
    shards: int = 0
    samples: int = 0
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self, limit: int = 50) -> str:
        lines = [f"{self.folder}: {self.shards} shard(s), {self.samples} sample(s) checked"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  PROBLEM: {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more problem(s)")
        lines.append("OK" if self.ok else f"FAILED: {len(self.problems)} problem(s)")
        return "\n".join(lines)


def mask_extent(mask: np.ndarray) -> list[float] | None:
    """[x0, y0, x1, y1] of pixels > 127, pixel (i, j) covering [i - .5, i + .5] x [j - .5, j + .5]."""
    on = np.asarray(mask) > 127
    cols, rows = np.flatnonzero(on.any(axis=0)), np.flatnonzero(on.any(axis=1))
    if cols.size == 0:
        return None
    return [cols[0] - 0.5, rows[0] - 0.5, cols[-1] + 0.5, rows[-1] + 0.5]


def check_sample(s: dict) -> list[str]:
    """Invariant violations of one decoded sample (empty list when it is sound)."""
    out = []
    ann = s[JSON]
    try:
        R = np.asarray(ann["R_ab"], np.float64)
        if R.shape != (3, 3) or np.abs(R @ R.T - np.eye(3)).max() > 1e-6 or abs(np.linalg.det(R) - 1) > 1e-6:
            out.append("R_ab is not a rotation")
        k = {v: np.asarray(ann[v]["keypoints_3d"], np.float64) for v in VIEWS}
        err = np.abs((k["b"] - k["b"][0]) - (k["a"] - k["a"][0]) @ R.T).max()
        if err > KEYPOINT_TOL_M:
            out.append(f"keypoints break Xb - Xb[0] = R_ab (Xa - Xa[0]) by {err * 1e3:.4f} mm")
        if np.abs(k["a"][0] - k["b"][0]).max() > KEYPOINT_TOL_M:
            out.append("the wrist keypoint differs between a and b")
        va, vb = (s.get(member(v, VERTS)) for v in VIEWS)
        if va is not None and vb is not None:
            va, vb = va.astype(np.float64), vb.astype(np.float64)
            if va.shape != vb.shape or va.ndim != 2 or va.shape[1] != 3:
                out.append(f"vertex arrays of shapes {va.shape} and {vb.shape}")
            else:
                err = np.abs((vb - vb[0]) - (va - va[0]) @ R.T).max()
                if err > VERTEX_TOL_M:
                    out.append(f"vertices break the R_ab relation by {err * 1e3:.4f} mm")
        for v in VIEWS:
            view = ann[v]
            K = np.asarray(view["K"], np.float64)
            X = k[v]
            uv = (X @ K.T)[:, :2] / (X @ K.T)[:, 2:3]
            err = np.abs(uv - np.asarray(view["keypoints_2d"], np.float64)).max()
            if not err <= PROJECTION_TOL_PX:
                out.append(f"view {v}: keypoints_2d are {err:.3f} px from the projection of keypoints_3d")
            W, H = view["resolution"]
            img = view_image(s, v)
            if img.shape[:2] != (H, W):
                out.append(f"view {v}: image is {img.shape[1]}x{img.shape[0]}, annotated {W}x{H}")
            for name, arr in s.items():
                if name.startswith(f"{v}.") and isinstance(arr, np.ndarray) and name != member(v, VERTS) \
                        and arr.ndim >= 2 and arr.shape[:2] != (H, W):
                    out.append(f"view {v}: {name} is {arr.shape[1]}x{arr.shape[0]}, annotated {W}x{H}")
            mask = s.get(member(v, MASK))
            if mask is not None and "bbox" in view:
                want = mask_extent(mask)
                got = view["bbox"]
                if (want is None) != (got is None) or (want is not None and np.abs(np.subtract(got, want)).max() > 1e-9):
                    out.append(f"view {v}: bbox {got} is not the mask's extent {want}")
    except (KeyError, TypeError, ValueError, IndexError) as e:
        out.append(f"annotations incomplete or malformed ({type(e).__name__}: {e})")
    return out


def verify_folder(folder: str | Path, samples: bool = True) -> Report:
    folder = Path(folder)
    rep = Report(str(folder))
    try:
        m = read_manifest(folder)
    except DatasetError as e:
        rep.problems.append(str(e))
        return rep
    pairs = sum(s.count for s in m.shards)
    if m.counts and m.counts.get("pairs") != pairs:
        rep.problems.append(f"manifest counts {m.counts.get('pairs')} pairs, its shards hold {pairs}")
    planned = {p["name"]: p for p in m.planned()} if m.shard_size else {}
    if planned:
        missing = sorted(set(planned) - {s.name for s in m.shards})
        if m.complete and missing:
            rep.problems.append(f"manifest says complete but lacks {', '.join(missing[:5])}")
        elif missing:
            rep.notes.append(f"incomplete: {len(missing)} planned shard(s) not listed yet, e.g. {missing[0]}")
    good, problems = check_listed(folder, m, sha256=True)
    rep.problems += problems
    listed = {s.name for s in m.shards}
    strays = sorted(p.name for p in folder.iterdir() if SHARD_RE.match(p.name) and p.name not in listed)
    temps = sorted(p.name for p in folder.glob(".shard-*.tmp-*"))
    if strays:
        rep.notes.append(f"{len(strays)} shard file(s) not listed in the manifest (never read): {', '.join(strays[:5])}")
    if temps:
        rep.notes.append(f"{len(temps)} temporary file(s) of an unfinished or running render")
    rep.shards = len(good)
    if not samples:
        return rep
    for s in good:
        url = str(folder / s.name)
        keys = []
        try:
            for raw in iter_raw([url]):
                keys.append(raw["__key__"])
                rep.samples += 1
                try:
                    dec = decode_sample(raw)
                except SampleError as e:
                    rep.problems.append(str(e))
                    continue
                need = [member(v, x) for v in VIEWS for x in (MASK, VERTS)]
                lacking = [n for n in need if n not in dec]
                if lacking:
                    rep.problems.append(f"{url}: sample {raw['__key__']}: lacks {', '.join(lacking)}")
                if dec[JSON].get("index") is not None and sample_key(int(dec[JSON]["index"])) != raw["__key__"]:
                    rep.problems.append(f"{url}: sample {raw['__key__']}: annotated index {dec[JSON]['index']}")
                rep.problems += [f"{url}: sample {raw['__key__']}: {p}" for p in check_sample(dec)]
        except SampleError as e:
            rep.problems.append(str(e))
        if s.first is not None:
            want = [sample_key(i) for i in range(s.first, s.first + s.count)]
            if keys != want:
                rep.problems.append(f"{url}: holds {len(keys)} sample(s) {keys[:1]}..{keys[-1:]}, "
                                    f"the manifest lists {s.count} from {want[0] if want else '-'}")
    return rep


@click.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-samples", is_flag=True, help="Check the manifest and shard hashes only (fast).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(folder, no_samples, as_json):
    """Check a render output folder: manifest, shard hashes, every member, annotation invariants.
    Exits non-zero on any problem."""
    rep = verify_folder(folder, samples=not no_samples)
    click.echo(json.dumps(dataclasses.asdict(rep) | {"ok": rep.ok}, indent=1) if as_json else rep.text())
    if not rep.ok:
        raise SystemExit(1)
