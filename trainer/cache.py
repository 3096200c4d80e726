"""The crop cache: every view of a shard decoded, cropped and resized once, into a memory-mapped
uint8 array, so that a training step costs only the network.

A shard's cache lives in ``$CYCLEHAND_CACHE_DIR/crops/<geometry>/<shard sha256>/`` (never next to
the shards: a render folder holds only what the render wrote):

    images.npy   uint8 (N, 2, S, S, 3): views a and b of each pair, S = round(context x crop)
    parts.npy    uint8 (N, 2, S, S): the part-ID pass (docs/FORMAT.md) cropped alike, nearest
                 sampled; PARTS_UNKNOWN where a shard has no parts member
    meta.npz     K (N, 2, 3, 3) the cached crops' intrinsics; K_image, X (N, 2, 21, 3) camera-frame
                 keypoints (metres), in_frame (N, 2, 21), R_ab (N, 3, 3), left (N,), resolution
                 (N, 2, 2), keys (N,)
    info.json    shard path, sha256, counts, skipped samples and why

Keyed by the shard's sha256, a rewritten shard gets a new cache and a changed crop geometry
another folder; an unchanged shard is never decoded twice, whoever asks. A cache is built in a
temporary folder and renamed into place, so a crash never leaves a half-written one.

The cached crop is a square of side ``context`` x the nominal crop (1.25 x the mask bbox's longer
side) around the bbox centre, so training can jitter scale and centre and rotate in-plane without
leaving it (trainer/crop.py); the nominal crop is its centre at exactly one cache pixel per crop
pixel, so evaluation crops are a slice and never resampled.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from generator.conventions import project
from generator.dataset import (JSON, PARTS, VIEWS, SampleError, SkipBadSamples, image_member, iter_samples, member,
                               view_image)
from generator.dataset.manifest import manifest_path
from generator.paths import cache_dir, file_sha256
from trainer.crop import crop, square_box
from trainer.spec import ShardSet

VERSION = 2                     # 2: part-ID crops beside the images
MEMBERS = (image_member("a"), image_member("b"), member("a", PARTS), member("b", PARTS), JSON)
PARTS_UNKNOWN = 255             # a view without a part-ID pass (the part loss ignores it)


@dataclasses.dataclass(frozen=True)
class CacheGeometry:
    crop: int = 64               # network input side (px)
    margin: float = 0.25         # nominal crop side = (1 + margin) x the bbox's longer side
    context: float = 1.625       # cached side = context x nominal side (room for augmentation)

    @property
    def size(self) -> int:
        """Side of a cached crop in pixels."""
        return int(round(self.crop * self.context))

    @property
    def offset(self) -> int:
        """Where the nominal crop starts inside a cached crop (integer: no resampling at eval)."""
        return (self.size - self.crop) // 2

    def tag(self) -> str:
        return f"v{VERSION}-c{self.crop}-m{self.margin:g}-x{self.context:g}"


def _check_geometry(g: CacheGeometry):
    if (g.size - g.crop) % 2:
        raise ValueError(f"crop cache: context {g.context} x crop {g.crop} must leave an even border "
                         f"(cached side {g.size}); choose a context with (size - crop) even")


def _in_frame(K, X, resolution) -> np.ndarray:
    uv = project(K, X)
    W, H = resolution
    return (uv[:, 0] >= -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < H - 0.5) & (X[:, 2] > 0)


def _crop_view(img: np.ndarray, parts: np.ndarray | None, ann: dict, g: CacheGeometry):
    K = np.asarray(ann["K"], dtype=np.float64)
    X = np.asarray(ann["keypoints_3d"], dtype=np.float64)
    bbox = ann.get("bbox")
    if bbox is None:                                # empty mask: frame the keypoints instead
        uv = project(K, X)
        bbox = [*(uv.min(0) - 0.5), *(uv.max(0) + 0.5)]
    centre, side = square_box(bbox, g.margin)
    out, Kc, _, _, _ = crop(Image.fromarray(img), K, None, centre, side * g.context, g.size)
    if parts is None:
        ids = np.full((g.size, g.size), PARTS_UNKNOWN, np.uint8)
    else:                                           # ids are labels: never interpolated
        ids = crop(Image.fromarray(np.asarray(parts, np.uint8)), K, None, centre, side * g.context, g.size,
                   resample=Image.NEAREST)[0]
    return out, ids, Kc, K, X


class _Skipped:
    """SkipBadSamples that also lists the skipped samples (key, error) for the cache's info.json."""

    def __init__(self, bad: SkipBadSamples):
        self.bad, self.items = bad, []

    def ok(self) -> None:
        self.bad.ok()

    def __call__(self, err: SampleError) -> bool:
        self.items.append({"key": err.key, "error": err.reason})
        return self.bad(err)


def build(url: str | Path, sha256: str, g: CacheGeometry, dest: Path, bad: SkipBadSamples | None = None) -> Path:
    """Decode and crop every sample of shard ``url`` into ``dest`` (atomically). A sample that
    cannot be read is skipped, named (in info.json and a warning) and counted by ``bad``, which
    fails past its threshold (generator.dataset.SkipBadSamples: the shard reader's policy)."""
    _check_geometry(g)
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows, images, parts, skipped = [], [], [], _Skipped(bad if bad is not None else SkipBadSamples())
    try:
        for sample in iter_samples([str(url)], MEMBERS, sha256=False, on_error=skipped):
            try:
                ann, views = sample[JSON], []
                for v in VIEWS:
                    img = view_image(sample, v)
                    out, ids, Kc, K, X = _crop_view(img, sample.get(member(v, PARTS)), ann[v], g)
                    res = ann[v].get("resolution", [img.shape[1], img.shape[0]])
                    flags = ann[v].get("in_frame")
                    inf = np.asarray(flags, bool) if flags is not None else _in_frame(K, X, res)
                    views.append((out, Kc, K, X, inf, res, ids))
                R_ab = np.asarray(ann["R_ab"], dtype=np.float64).reshape(3, 3)
            except Exception as e:                      # noqa: BLE001 - unusable annotations are skipped too
                skipped(e if isinstance(e, SampleError) else SampleError(
                    str(url), sample["__key__"], f"annotations unusable ({type(e).__name__}: {e})"))
                continue
            images.append(np.stack([v[0] for v in views]))
            parts.append(np.stack([v[6] for v in views]))
            rows.append({"key": sample["__key__"], "R_ab": R_ab, "left": ann.get("hand", {}).get("side") == "left",
                         "K": [v[1] for v in views], "K_image": [v[2] for v in views],
                         "X": [v[3] for v in views], "in_frame": [v[4] for v in views],
                         "resolution": [v[5] for v in views]})
    except Exception:                                   # too many bad samples, or worse: no half cache
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not rows:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{url}: no readable samples")
    for name, rows_ in (("images.npy", images), ("parts.npy", parts)):
        arr = np.lib.format.open_memmap(tmp / name, mode="w+", dtype=np.uint8, shape=(len(rows_), *rows_[0].shape))
        for i, im in enumerate(rows_):
            arr[i] = im
        arr.flush()
        del arr
    np.savez(tmp / "meta.npz", keys=np.array([r["key"] for r in rows]),
             R_ab=np.stack([r["R_ab"] for r in rows]), left=np.array([r["left"] for r in rows]),
             **{k: np.asarray([r[k] for r in rows]) for k in ("K", "K_image", "X", "in_frame", "resolution")})
    (tmp / "info.json").write_text(json.dumps({
        "shard": str(url), "sha256": sha256, "geometry": dataclasses.asdict(g), "count": len(rows),
        "skipped": skipped.items}, indent=1))
    try:
        os.rename(tmp, dest)
    except OSError:                                     # another process finished it first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest / "info.json").is_file():
            raise
    return dest


@dataclasses.dataclass
class ShardCache:
    """One shard's cached crops (memory-mapped) and labels."""
    path: Path
    images: np.ndarray           # (N, 2, S, S, 3) uint8, memory-mapped
    parts: np.ndarray            # (N, 2, S, S) uint8 part ids, memory-mapped
    meta: dict[str, np.ndarray]
    sha256: str
    skipped_samples: list[dict] | None = None      # known already (a pack, trainer/pack.py)

    def __len__(self):
        return len(self.images)

    def skipped(self) -> list[dict]:
        """The shard's samples that could not be read when the cache was built (key, error)."""
        if self.skipped_samples is not None:
            return self.skipped_samples
        return json.loads((self.path / "info.json").read_text())["skipped"]


def cache_root() -> Path:
    return cache_dir() / "crops"


def open_shard(url: str | Path, g: CacheGeometry, sha256: str | None = None, log=print,
               bad: SkipBadSamples | None = None) -> ShardCache:
    """The cache of one shard, built first if this shard's bytes have none yet."""
    url = Path(url)
    root = cache_root()
    folder = url.resolve().parent
    if root.resolve().is_relative_to(folder) and manifest_path(folder).is_file():
        raise ValueError(f"crop cache {root} lies inside the shard folder {url.parent}; set "
                         "CYCLEHAND_CACHE_DIR to a folder outside it (a render folder holds only shards)")
    sha = sha256 or file_sha256(url)
    dest = root / g.tag() / sha
    if not (dest / "info.json").is_file():
        if log:
            log(f"crop cache: decoding {url.name} into {dest}")
        build(url, sha, g, dest, bad)
    meta = dict(np.load(dest / "meta.npz"))
    return ShardCache(dest, np.load(dest / "images.npy", mmap_mode="r"), np.load(dest / "parts.npy", mmap_mode="r"),
                      meta, sha)


def shard_hashes(sets: list[ShardSet]) -> list[list[str]]:
    """sha256 of every shard of every SPEC (computed from the bytes: a cache must match them)."""
    return [[file_sha256(u) for u in s.urls] for s in sets]


class CropSet:
    """The cached pairs of one or more SPECs, indexed 0..N-1 in SPEC and shard order."""

    def __init__(self, sets: list[ShardSet], g: CacheGeometry, log=print, bad: SkipBadSamples | None = None):
        bad = bad if bad is not None else SkipBadSamples()     # one count over all shards
        self.geometry = g
        from trainer.pack import is_pack, open_pack
        self.shards: list[ShardCache] = []
        spec_of, names = [], []
        for i, s in enumerate(sets):
            for url in s.urls:
                # a pack (trainer/pack.py) holds the caches of the shards it was made from
                got = open_pack(url, g) if is_pack(url) else [(Path(url).name, open_shard(url, g, log=log, bad=bad))]
                for name, cache in got:
                    self.shards.append(cache)
                    names.append(name)
                    spec_of.append(i)
        self.weights = [s.weight for s in sets]
        sizes = np.array([len(c) for c in self.shards])
        self.start = np.concatenate([[0], np.cumsum(sizes)])
        self.spec = np.repeat(np.array(spec_of, dtype=np.int64), sizes)
        self.meta = {k: np.concatenate([c.meta[k] for c in self.shards]) for k in self.shards[0].meta}
        self.meta["keys"] = np.array([f"{names[j]}/{k}" for j, c in enumerate(self.shards) for k in c.meta["keys"]])
        self.sha256 = [c.sha256 for c in self.shards]
        self.names = names                      # each cache's shard file name (the keys' prefix)
        self.shard_spec = np.array(spec_of, dtype=np.int64)   # each cache's SPEC index

    def __len__(self):
        return int(self.start[-1])

    def images(self, idx: np.ndarray) -> np.ndarray:
        """uint8 (len(idx), 2, S, S, 3) crops for global pair indices."""
        return self._rows(idx, "images")

    def parts(self, idx: np.ndarray) -> np.ndarray:
        """uint8 (len(idx), 2, S, S) part ids for global pair indices."""
        return self._rows(idx, "parts")

    def _rows(self, idx: np.ndarray, array: str) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), *getattr(self.shards[0], array).shape[1:]), np.uint8)
        which = np.searchsorted(self.start, idx, side="right") - 1
        for j in np.unique(which):
            m = which == j
            rows = idx[m] - self.start[j]
            order = np.argsort(rows)                    # sorted reads from the memory map
            got = getattr(self.shards[j], array)[rows[order]]
            out[np.flatnonzero(m)[order]] = got
        return out

    def gather(self, idx: np.ndarray, parts: bool = False) -> dict[str, np.ndarray]:
        """Images and labels of pairs ``idx`` (and their part ids with ``parts``)."""
        out = {k: v[idx] for k, v in self.meta.items()}
        out["images"] = self.images(idx)
        if parts:
            out["parts"] = self.parts(idx)
        return out


def view_annotation(sets: list[ShardSet], crops: CropSet, field: str) -> np.ndarray:
    """One per-view field of the shards' annotations (docs/FORMAT.md VIEW, e.g. "visible") as an
    array (N, 2, ...) in ``crops``' pair order: what the cache does not keep, for checks and
    benchmarks. Read from the shards themselves (not from a pack)."""
    by_key = {}
    for s in sets:
        for url in s.urls:
            for sample in iter_samples([url], [JSON], sha256=False):
                ann = sample[JSON]
                by_key[f"{Path(url).name}/{sample['__key__']}"] = [ann[v][field] for v in VIEWS]
    missing = [k for k in crops.meta["keys"] if k not in by_key]
    if missing:
        raise ValueError(f"{len(missing)} cached pairs have no annotation in the shards, e.g. {missing[0]}")
    return np.array([by_key[k] for k in crops.meta["keys"]])
