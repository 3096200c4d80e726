"""Reader for the FreiHAND layout, to evaluate on real photos:

    DIR/training_xyz.json   list of (21, 3) keypoints, camera frame, metres (FreiHAND order = ours)
    DIR/training_K.json     list of 3x3 intrinsics
    DIR/training/rgb/%08d.jpg  or  DIR/rgb/%08d.jpg   images; image i uses annotation i % len(xyz)
                            (FreiHAND stores 4 differently-composited copies of each annotation)

The same for split="evaluation" (evaluation_xyz.json, evaluation_K.json, evaluation/rgb). FreiHAND
hands are right hands. There is no hand mask bbox in the annotations, so the crop box is the
projected keypoints' bbox grown by 15% per side (keypoints sit inside the hand's silhouette).
``view_batches`` turns them into the evaluation's view batches (trainer/evaluate.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generator.conventions import project
from trainer.crop import crop, square_box

MARGIN = 0.25            # as the crop cache's default: crop side = 1.25 x the box's longer side


def _find_rgb(root: Path, split: str) -> Path:
    for d in (root / split / "rgb", root / "rgb"):
        if d.is_dir():
            return d
    raise FileNotFoundError(f"FreiHAND {root}: neither {root / split / 'rgb'} nor {root / 'rgb'} exists")


class FreiHAND(torch.utils.data.IterableDataset):
    def __init__(self, root: str | Path, crop: int = 64, split: str = "training", limit: int | None = None):
        self.root = Path(root)
        self.crop = crop
        files = {n: self.root / f"{split}_{n}.json" for n in ("xyz", "K")}
        for n, f in files.items():
            if not f.is_file():
                raise FileNotFoundError(f"FreiHAND {self.root}: missing {f.name}")
        self.xyz = np.asarray(json.loads(files["xyz"].read_text()), dtype=np.float64)
        self.K = np.asarray(json.loads(files["K"].read_text()), dtype=np.float64)
        if self.xyz.ndim != 3 or self.xyz.shape[1:] != (21, 3) or len(self.K) != len(self.xyz):
            raise ValueError(f"FreiHAND {self.root}: expected {split}_xyz.json (N, 21, 3) and "
                             f"{split}_K.json (N, 3, 3), got {self.xyz.shape} and {self.K.shape}")
        self.rgb = _find_rgb(self.root, split)
        n_img = sum(1 for _ in self.rgb.glob("*.jpg"))
        if n_img == 0:
            raise FileNotFoundError(f"FreiHAND {self.rgb}: no .jpg images")
        self.n = min(n_img, limit) if limit else n_img

    def __len__(self):
        return self.n

    def item(self, i: int) -> dict:
        path = self.rgb / f"{i:08d}.jpg"
        if not path.is_file():
            raise FileNotFoundError(f"FreiHAND image {path} is missing")
        img = Image.open(path).convert("RGB")
        j = i % len(self.xyz)
        X, K = self.xyz[j], self.K[j]
        uv = project(K, X)
        lo, hi = uv.min(0), uv.max(0)
        pad = 0.15 * (hi - lo).max()
        centre, side = square_box([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad], MARGIN)
        out, Kc, Xc, _, _ = crop(img, K, X, centre, side, self.crop)
        W, H = img.size
        inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < H - 0.5)
        return {"key": path.name, "img": out, "K": Kc, "X": Xc, "in_frame": inside}

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for i in range(wid, self.n, nw):
            yield self.item(i)


def view_batches(ds: FreiHAND, batch_size: int, device):
    """FreiHAND views as the evaluation's view batches (right hands, un-augmented)."""
    from trainer import pose25d

    def batch(items):
        K = torch.as_tensor(np.stack([it["K"] for it in items]))
        X = torch.as_tensor(np.stack([it["X"] for it in items]))
        uv, _, _ = pose25d.encode(X, K, ds.crop)
        img = torch.as_tensor(np.stack([it["img"] for it in items])).permute(0, 3, 1, 2).float() / 127.5 - 1
        inf = np.stack([it["in_frame"] for it in items])
        return {"img": img.to(device), "K": K.float().to(device), "X": (X - X[:, :1]).float().to(device),
                "uv": uv.float().to(device), "vis": torch.as_tensor(inf).to(device) & (uv.abs() <= 1).all(-1).to(device),
                "X_camera": X.numpy(), "in_frame": inf, "left": np.zeros(len(items), bool)}

    items = []
    for it in ds:
        items.append(it)
        if len(items) == batch_size:
            yield batch(items)
            items = []
    if items:
        yield batch(items)


def write_fixture(root: str | Path, n: int = 4, seed: int = 0, size: int = 224) -> Path:
    """A tiny FreiHAND-layout folder (drawn hands, right side) for tests."""
    from generator.conventions import intrinsics, rng
    from trainer.testing import _random_hand, draw_view
    from scipy.spatial.transform import Rotation
    root = Path(root)
    (root / "training" / "rgb").mkdir(parents=True, exist_ok=True)
    xyz, Ks = [], []
    for i in range(n):
        g = rng(seed, i, "freihand-fixture")
        X = _random_hand(g, "right") @ Rotation.random(random_state=i + seed).as_matrix().T
        X = X - X.mean(0) + [0, 0, 0.5]              # hand centred on the optical axis
        K = intrinsics(1.4 * size, size, size)
        rgb, *_ = draw_view(X, K, (size, size), "right", g, 0.8)
        Image.fromarray(rgb).save(root / "training" / "rgb" / f"{i:08d}.jpg", quality=92)
        xyz.append(X.tolist())
        Ks.append(K.tolist())
    (root / "training_xyz.json").write_text(json.dumps(xyz))
    (root / "training_K.json").write_text(json.dumps(Ks))
    return root
