"""Streaming cyclic pairs from webdataset shards into crop tensors for training and evaluation.

Each pair yields crops of view a and view b (plus, for the in-plane rotation loss, a second copy
of view a rotated by a random angle), their exact root-relative 3D labels in each crop's camera
frame, 2D labels in crop coordinates, and the rotation that maps a's root-relative pose to b's
*after* augmentation: R = Rz(theta_b) R_ab Rz(theta_a)^T. Decoding, cropping and appearance
augmentation run in DataLoader workers; images travel as uint8.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from generator.conventions import project, rng
from generator.dataset import JSON, SampleError, SkipBadSamples, decode_sample, image_member, view_image
from trainer.crop import crop, labels_2d, square_box
from trainer.skeleton import view_angle_deg
from trainer.spec import ShardSet

IMAGE_EXTS = ("png", "jpg", "jpeg")


@dataclasses.dataclass
class DataConfig:
    crop: int = 64                 # crop side in pixels (network input)
    margin: float = 0.25           # crop side = (1 + margin) x the bbox's longer side
    augment: bool = True           # scale/shift jitter, in-plane rotation, appearance changes
    rotate_deg: float = 180.0      # in-plane rotation range (+-) for augmentation
    rot_copy: bool = True          # add a rotated copy of view a (in-plane rotation loss)
    labels: str = "all"            # "all" | "a" (labels on view a only) | "none"
    label_fraction: float = 1.0    # share of pairs whose labels may be used
    shuffle: int = 256             # sample shuffle buffer


def label_keep(key: str, fraction: float) -> bool:
    """Deterministic per-pair label budget: the same pairs are labeled in every run and epoch."""
    if fraction >= 1.0:
        return True
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return h / 2**64 < fraction


def appearance(img: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """Random lighting/camera-like change: brightness, contrast, colour gains, greyscale, noise."""
    x = img.astype(np.float32)
    x = (x - x.mean()) * g.uniform(0.6, 1.4) + x.mean() * g.uniform(0.6, 1.4)
    x = x * g.uniform(0.8, 1.2, size=3)
    if g.random() < 0.1:
        x = x.mean(-1, keepdims=True).repeat(3, -1)
    x = x + g.normal(0, g.uniform(0, 8), size=x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


class PairDecoder:
    """Callable for ``wds.map``: a raw webdataset sample -> dict of numpy arrays."""

    def __init__(self, cfg: DataConfig, seed: int = 0, bad: SkipBadSamples | None = None):
        self.cfg, self.seed, self.count, self.bad = cfg, seed, 0, bad

    def _view(self, img, ann, g, theta):
        cfg = self.cfg
        scale, shift = 1.0, (0.0, 0.0)
        if cfg.augment:
            scale, shift = g.uniform(0.9, 1.15), g.uniform(-0.08, 0.08, size=2)
        X = np.asarray(ann["keypoints_3d"], dtype=np.float64)
        bbox = ann.get("bbox")
        if bbox is None:                                # empty mask: frame the keypoints instead
            uv = project(np.asarray(ann["K"], dtype=np.float64), X)
            bbox = [*(uv.min(0) - 0.5), *(uv.max(0) + 0.5)]
        centre, side = square_box(bbox, cfg.margin, scale, shift)
        out, Kc, Xc, Rz, k = crop(img, ann["K"], X, centre, side, cfg.crop, theta)
        if cfg.augment:
            out = appearance(out, g)
        uv = labels_2d(Kc, Xc, cfg.crop)
        # 2D labels count where the keypoint is inside the image and the crop, occluded or not:
        # the model must place hidden joints too ("in_frame" when the shard has it).
        vis = np.asarray(ann.get("in_frame", ann.get("visible", [True] * 21)), dtype=bool) & (np.abs(uv) <= 1).all(-1)
        return out, Kc, Xc - Xc[0], uv, vis, Rz, k

    def __call__(self, raw: dict) -> dict:
        """A raw sample (member bytes) -> arrays; any problem is a SampleError naming the sample."""
        sample = decode_sample(raw, (image_member("a"), image_member("b"), JSON))
        try:
            out = self._decode(sample)
            if self.bad is not None:
                self.bad.ok()
            return out
        except SampleError:
            raise
        except Exception as e:
            raise SampleError(sample["__url__"], sample["__key__"],
                              f"annotations unusable ({type(e).__name__}: {e})") from None

    def _decode(self, sample: dict) -> dict:
        cfg = self.cfg
        key = f"{Path(str(sample.get('__url__', ''))).name}/{sample['__key__']}"
        self.count += 1
        g = rng(self.seed, self.count, key) if cfg.augment else rng(0, 0, key)
        ann = sample[JSON]
        side = ann.get("hand", {}).get("side", "right")
        rot = np.radians(cfg.rotate_deg) if cfg.augment else 0.0
        th_a, th_b = g.uniform(-rot, rot, size=2)
        out: dict = {"key": key, "left": np.float32(side == "left")}
        views = {}
        for v, th in (("a", th_a), ("b", th_b)):
            img = Image.fromarray(view_image(sample, v))
            views[v] = (img, ann[v])
            im, Kc, X, uv, vis, Rz, k = self._view(img, ann[v], g, th)
            out.update({f"img_{v}": im, f"K_{v}": Kc.astype(np.float32), f"kp3d_{v}": X.astype(np.float32),
                        f"kp2d_{v}": uv.astype(np.float32), f"vis_{v}": vis, f"rz_{v}": Rz,
                        f"scale_{v}": np.float32(k),
                        f"angle_{v}": np.float32(view_angle_deg(np.asarray(ann[v]["keypoints_3d"]), side))})
        R_ab = np.asarray(ann["R_ab"], dtype=np.float64)
        out["R_ab"] = (out["rz_b"] @ R_ab @ out["rz_a"].T).astype(np.float32)
        if cfg.rot_copy:
            delta = g.uniform(np.radians(20), np.radians(160)) * g.choice([-1, 1])
            im, _, X, uv, vis, Rz, _ = self._view(views["a"][0], views["a"][1], g, th_a + delta)
            out.update({"img_r": im, "kp3d_r": X.astype(np.float32), "kp2d_r": uv.astype(np.float32),
                        "vis_r": vis, "R_ar": (Rz @ out["rz_a"].T).astype(np.float32)})
        keep = label_keep(key, cfg.label_fraction)
        out["lab_a"] = np.float32(keep and cfg.labels in ("all", "a"))
        out["lab_b"] = np.float32(keep and cfg.labels == "all")
        for k in ("rz_a", "rz_b"):
            out[k] = out[k].astype(np.float32)
        return out


def _collate(batch: list[dict]) -> dict:
    out = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        out[k] = vals if isinstance(vals[0], str) else torch.as_tensor(np.stack(vals))
    return out


def pair_dataset(sets: list[ShardSet], cfg: DataConfig, seed: int = 0, train: bool = True,
                 bad: SkipBadSamples | None = None):
    """An IterableDataset of decoded pairs. Training: infinite, shard-resampled, shuffled, and
    mixed across SPECs by weight. Evaluation: every listed sample once, in order. A sample that
    does not decode is skipped, counted and named (``bad``, per loader process), failing only
    past its threshold."""
    bad = bad or SkipBadSamples()
    if not train:
        urls = [u for s in sets for u in s.urls]
        return wds.WebDataset(urls, shardshuffle=False, empty_check=False,
                              nodesplitter=wds.single_node_only).map(PairDecoder(cfg, seed, bad), handler=bad)
    parts = [wds.WebDataset(s.urls, resampled=True, shardshuffle=False, seed=seed + i,
                            nodesplitter=wds.single_node_only)
             .shuffle(cfg.shuffle)
             .map(PairDecoder(cfg, seed + 1000 * i, bad), handler=bad) for i, s in enumerate(sets)]
    if len(parts) == 1:
        return parts[0]
    return wds.RandomMix(parts, probs=[s.weight for s in sets])


def loader(dataset, batch_size: int, workers: int, drop_last: bool = True):
    return torch.utils.data.DataLoader(
        dataset.batched(batch_size, collation_fn=_collate, partial=not drop_last)
        if hasattr(dataset, "batched") else _Batched(dataset, batch_size, drop_last),
        batch_size=None, num_workers=workers, persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None)


class _Batched(torch.utils.data.IterableDataset):
    def __init__(self, ds, n, drop_last):
        self.ds, self.n, self.drop_last = ds, n, drop_last

    def __iter__(self):
        buf = []
        for x in self.ds:
            buf.append(x)
            if len(buf) == self.n:
                yield _collate(buf)
                buf = []
        if buf and not self.drop_last:
            yield _collate(buf)


# --- unlabeled real photos (--unlabeled DIR) ---------------------------------------------------

class UnlabeledImages(torch.utils.data.IterableDataset):
    """Endless pairs of crops of real photos: x1 and x2 = x1 rotated in-plane by a random angle
    about the crop centre, each with its own appearance change. The hand's root-relative 3D pose
    in x2 is exactly Rz(theta) times that in x1 (module trainer.crop), so the cycle loss and
    InfoNCE need no labels. Photos are expected to be roughly hand-centred crops."""

    def __init__(self, directory: str | Path, cfg: DataConfig, seed: int = 0):
        self.files = sorted(p for p in Path(directory).rglob("*") if p.suffix.lower().lstrip(".") in IMAGE_EXTS)
        if not self.files:
            raise FileNotFoundError(f"--unlabeled {directory}: no .png/.jpg images found")
        self.cfg, self.seed = cfg, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        g = rng(self.seed, wid, "unlabeled")
        S = self.cfg.crop
        while True:
            img = Image.open(self.files[g.integers(len(self.files))]).convert("RGB")
            W, H = img.size
            K = np.array([[max(W, H), 0, (W - 1) / 2], [0, max(W, H), (H - 1) / 2], [0, 0, 1.0]])
            side = min(W, H) * g.uniform(0.8, 1.0)
            centre = np.array([(W - 1) / 2, (H - 1) / 2]) + g.uniform(-0.05, 0.05, 2) * side
            th = g.uniform(-np.pi, np.pi)
            delta = g.uniform(np.radians(20), np.radians(160)) * g.choice([-1, 1])
            x1, _, _, R1, _ = crop(img, K, None, centre, side, S, th)
            x2, _, _, R2, _ = crop(img, K, None, centre, side, S, th + delta)
            yield {"img_u1": appearance(x1, g), "img_u2": appearance(x2, g),
                   "R_u": (R2 @ R1.T).astype(np.float32)}


def image_tensor(x: torch.Tensor, device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) roughly zero-mean unit-range."""
    return (x.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()
