"""Reader for the FreiHAND layout, to evaluate on real photos:

    DIR/training_xyz.json   list of (21, 3) keypoints, camera frame, metres (FreiHAND order = ours)
    DIR/training_K.json     list of 3x3 intrinsics
    DIR/training/rgb/%08d.jpg  or  DIR/rgb/%08d.jpg   images; image i uses annotation i % len(xyz)
                            (FreiHAND stores 4 differently-composited copies of each annotation)

The same for split="evaluation" (evaluation_xyz.json, evaluation_K.json, evaluation/rgb). FreiHAND
hands are right hands. There is no hand mask bbox in the annotations, so the crop box is the
projected keypoints' bbox grown by 15% per side (keypoints sit inside the hand's silhouette).
Yields single views in the trainer's batch format (keys ``*_a``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generator.conventions import project
from trainer.crop import crop, labels_2d, square_box
from trainer.data import DataConfig
from trainer.skeleton import view_angle_deg


def _find_rgb(root: Path, split: str) -> Path:
    for d in (root / split / "rgb", root / "rgb"):
        if d.is_dir():
            return d
    raise FileNotFoundError(f"FreiHAND {root}: neither {root / split / 'rgb'} nor {root / 'rgb'} exists")


class FreiHAND(torch.utils.data.IterableDataset):
    def __init__(self, root: str | Path, cfg: DataConfig | None = None, split: str = "training",
                 limit: int | None = None):
        self.root = Path(root)
        self.cfg = cfg or DataConfig(augment=False)
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
        centre, side = square_box([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad], self.cfg.margin)
        out, Kc, Xc, _, k = crop(img, K, X, centre, side, self.cfg.crop)
        uvc = labels_2d(Kc, Xc, self.cfg.crop)
        W, H = img.size
        vis = (uv >= 0).all(-1) & (uv[:, 0] <= W - 1) & (uv[:, 1] <= H - 1)
        return {"key": path.name, "left": np.float32(0), "img_a": out,
                "kp3d_a": (Xc - Xc[0]).astype(np.float32), "kp2d_a": uvc.astype(np.float32),
                "vis_a": vis, "angle_a": np.float32(view_angle_deg(X, "right")),
                "K_a": Kc.astype(np.float32), "scale_a": np.float32(k)}

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for i in range(wid, self.n, nw):
            yield self.item(i)


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
        rgb, _ = draw_view(X, K, (size, size), "right", g, 0.8)
        Image.fromarray(rgb).save(root / "training" / "rgb" / f"{i:08d}.jpg", quality=92)
        xyz.append(X.tolist())
        Ks.append(K.tolist())
    (root / "training_xyz.json").write_text(json.dumps(xyz))
    (root / "training_K.json").write_text(json.dumps(Ks))
    return root
