"""A portable crop store: the crop cache of some shards in one folder, small enough to carry.

Why: a lent GPU machine has no bpy to render and takes at most 64 MiB with a call, while the cpu
preset's train shards are 185 MB and their crop cache (uint8 arrays) 132 MB. A pack keeps what
training reads and nothing else, the crops as JPEG (quality 95: about 3.8 KB a 104 px view, 9 KB a
pair with labels):

    pack.json    geometry, count, JPEG quality, the packed shards (name, source sha256, rows) and
                 the sha256 of each file below (checked when a pack is opened)
    images.bin   the JPEG bytes of every view, pair by pair (a then b)
    offsets.npy  int64 (N * 2 + 1,) where each view's bytes start
    parts.npz    uint8 (N, 2, S, S) part ids, compressed (exact: ids are labels)
    meta.npz     the crop cache's labels (trainer/cache.py), keys without the shard name

`cyclehand-train pack --shards SPEC --out DIR` writes one; `--shards DIR` (training, eval, the
experiment's `--shards-from` splits) reads it as the shards it was made from: the same pairs under
the same keys, so a label budget picks the same pairs. Each packed shard keeps its source's file
name; its sha256 stand-in is derived from the source shard's sha256 and the JPEG quality (the pixels
differ from the PNG renders), so a run's config hash differs from the same run on the shards.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from generator.paths import file_sha256
from trainer.cache import CacheGeometry, CropSet, ShardCache

PACK_FILE = "pack.json"
FILES = ("images.bin", "offsets.npy", "parts.npz", "meta.npz")
VERSION = 1


def is_pack(path: str | Path) -> bool:
    return (Path(path) / PACK_FILE).is_file()


def read_info(path: str | Path) -> dict:
    """A pack's pack.json (geometry, count, quality, packed shards, file sha256s)."""
    return json.loads((Path(path) / PACK_FILE).read_text())


def _jpeg(a: np.ndarray, quality: int) -> bytes:
    b = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(b, "JPEG", quality=quality)
    return b.getvalue()


def write_pack(crops: CropSet, out: str | Path, quality: int = 95, log=print) -> dict:
    """Pack every pair of ``crops`` into the folder ``out`` (written whole, then renamed into place)."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; a pack is written into a new folder")
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        info = _write(crops, tmp, quality, log)
        os.rename(tmp, out)
    except BaseException:                       # no half-written pack left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _write(crops: CropSet, tmp: Path, quality: int, log) -> dict:
    offsets, shards = [0], []
    with open(tmp / "images.bin", "wb") as f:
        for j, cache in enumerate(crops.shards):
            for i in range(len(cache)):
                for v in range(2):
                    offsets.append(offsets[-1] + f.write(_jpeg(cache.images[i, v], quality)))
            name = crops.names[j]
            shards.append({"name": name, "source_sha256": cache.sha256, "rows": len(cache),
                           "skipped": cache.skipped()})
            if log:
                log(f"pack: {name} ({len(cache)} pairs)")
    np.save(tmp / "offsets.npy", np.asarray(offsets, np.int64))
    np.savez_compressed(tmp / "parts.npz", parts=np.concatenate([np.asarray(c.parts) for c in crops.shards]))
    meta = {k: v for k, v in crops.meta.items() if k != "keys"}
    np.savez(tmp / "meta.npz", keys=np.concatenate([c.meta["keys"] for c in crops.shards]), **meta)
    info = {"version": VERSION, "geometry": dataclasses.asdict(crops.geometry), "count": len(crops),
            "jpeg_quality": quality, "shards": shards, "sha256": {n: file_sha256(tmp / n) for n in FILES}}
    (tmp / PACK_FILE).write_text(json.dumps(info, indent=1))
    return info


def open_pack(path: str | Path, g: CacheGeometry) -> list[tuple[str, ShardCache]]:
    """(shard name, cache) of every shard packed in ``path``, the images decoded into memory."""
    path = Path(path)
    info = read_info(path)
    if info.get("version") != VERSION:
        raise ValueError(f"{path}: pack version {info.get('version')}, this trainer reads {VERSION}")
    if CacheGeometry(**info["geometry"]) != g:
        raise ValueError(f"{path}: packed for crops {info['geometry']}, asked for {dataclasses.asdict(g)} "
                         f"(train and evaluate with --crop {info['geometry']['crop']}, or pack again)")
    for name in FILES:
        if file_sha256(path / name) != info["sha256"][name]:
            raise ValueError(f"{path}/{name}: sha256 differs from {PACK_FILE}'s (a damaged or altered pack)")
    blob = (path / "images.bin").read_bytes()
    off = np.load(path / "offsets.npy")
    n = info["count"]
    images = np.empty((n, 2, g.size, g.size, 3), np.uint8)
    for k in range(2 * n):
        images[k // 2, k % 2] = np.asarray(Image.open(io.BytesIO(blob[off[k]:off[k + 1]])).convert("RGB"))
    with np.load(path / "parts.npz") as z:
        parts = z["parts"]
    with np.load(path / "meta.npz") as z:
        meta = dict(z)
    out, start = [], 0
    for s in info["shards"]:
        rows = slice(start, start + s["rows"])
        out.append((s["name"], ShardCache(path, images[rows], parts[rows], {k: v[rows] for k, v in meta.items()},
                                          _identity(s, info), skipped_samples=s["skipped"])))
        start += s["rows"]
    return out


def shard_ids(path: str | Path) -> list[str]:
    """The packed shards' identities (what a run's config hash covers), without decoding."""
    info = read_info(path)
    return [_identity(s, info) for s in info["shards"]]


def _identity(shard: dict, info: dict) -> str:
    """A packed shard's sha256 stand-in: its source shard's, at this JPEG quality."""
    return hashlib.sha256(f"{shard['source_sha256']}:jpeg{info['jpeg_quality']}".encode()).hexdigest()
