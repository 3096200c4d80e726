"""Square crops around the hand, with the camera and labels transformed exactly.

A crop is a similarity map q = k Rot(theta) (p - c) + c_out from source pixels p to crop pixels q
(pixel centres at integer coordinates, conventions.py). For square pixels, rotating the image by
theta about any point c is an exact 3D rotation Rz(theta) of the scene about the optical axis
seen through a camera whose principal point moved to k Rot(theta)(pp - c) + c_out, so:

    X' = Rz(theta) X        K' = [[k f, 0, cx'], [0, k f, cy'], [0, 0, 1]]

and the 2D labels are project(K', X'). No label is ever interpolated.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from generator.conventions import project


def rot_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def square_box(bbox, margin: float, scale: float = 1.0, shift=(0.0, 0.0)) -> tuple[np.ndarray, float]:
    """Centre (2,) and side (source px) of the square crop around bbox [x0, y0, x1, y1], given as
    pixel *edges* (docs/FORMAT.md: a one-pixel mask at (0, 0) has bbox [-0.5, -0.5, 0.5, 0.5])."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    side = max(x1 - x0, y1 - y0, 8.0) * (1.0 + margin) * scale
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + np.asarray(shift) * side
    return centre, side


def crop(image: Image.Image, K: np.ndarray, X: np.ndarray | None, centre, side: float,
         size: int, theta: float = 0.0, resample=Image.BILINEAR):
    """Crop ``image`` (PIL RGB, or L) to size x size; returns (uint8 (S,S,3), K', X' or None, Rz, k).
    ``resample=Image.NEAREST`` for label images (part ids): no pre-shrink, no interpolation."""
    K = np.asarray(K, dtype=np.float64)
    if abs(K[0, 0] - K[1, 1]) > 1e-3 * K[0, 0] or abs(K[0, 1]) > 1e-9:
        raise ValueError(f"K must have square pixels and no skew for exact crops, got {K.tolist()}")
    centre = np.asarray(centre, dtype=np.float64)
    k = size / side
    # Pre-shrink by an integer box filter so large renders do not alias when cut to a small crop.
    f = int(1.0 / (k * 1.5)) if resample != Image.NEAREST else 1
    if f >= 2:
        image = image.reduce(f)                      # new pixel j covers old [j f, (j+1) f)
        centre = (centre - (f - 1) / 2) / f
        K = np.diag([1 / f, 1 / f, 1.0]) @ K
        K[:2, 2] -= (f - 1) / 2 / f
        k = k * f
    c_out = np.full(2, (size - 1) / 2)
    R2 = rot_z(theta)[:2, :2]
    # Inverse map crop -> source, in PIL's corner-origin coordinates (u = p + 0.5).
    Minv = R2.T / k
    t = centre - Minv @ c_out
    t_pil = t + 0.5 - Minv @ np.full(2, 0.5)
    coeffs = (Minv[0, 0], Minv[0, 1], t_pil[0], Minv[1, 0], Minv[1, 1], t_pil[1])
    out = image.transform((size, size), Image.AFFINE, coeffs, resample=resample)
    Kc = np.eye(3)
    Kc[0, 0] = Kc[1, 1] = k * K[0, 0]
    Kc[:2, 2] = k * R2 @ (K[:2, 2] - centre) + c_out
    Rz = rot_z(theta)
    Xc = None if X is None else np.asarray(X, dtype=np.float64) @ Rz.T
    return np.asarray(out), Kc, Xc, Rz, k


def labels_2d(Kc: np.ndarray, Xc: np.ndarray, size: int) -> np.ndarray:
    """Crop-pixel keypoints scaled to [-1, 1] over the crop (what the 2D head predicts)."""
    return project(Kc, Xc) / (size - 1) * 2.0 - 1.0


# --- the same similarity map, batched in torch (training crops from the crop cache) -------------

def rot_z_torch(theta):
    """(N,) angles -> (N, 3, 3) rotations about the optical axis."""
    import torch
    c, s = torch.cos(theta), torch.sin(theta)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).view(-1, 3, 3)


def crop_batch(images, K, centre, side, size: int, theta, labels=None):
    """Crop uint8 images (N, H, W, 3) (square, H = W) to size x size, on their device.

    centre (N, 2) and side (N,) in source pixels, theta (N,) radians: the map of ``crop`` above,
    sampled bilinearly (so scale factors should stay near 1: the crop cache stores crops at about
    the network's resolution). ``labels`` (N, H, W) integer label images (part ids) are cut by the
    same map, nearest-sampled. Returns float images (N, C, size, size) in [0, 255], K' (N, 3, 3),
    Rz (N, 3, 3), with X' = Rz X for camera-frame points X, and the cropped labels (N, size, size)
    int64 (None without ``labels``)."""
    import torch
    import torch.nn.functional as F
    N, H, W, _ = images.shape
    if H != W:
        raise ValueError(f"crop_batch expects square sources, got {W}x{H}")
    k = size / side                                              # (N,)
    Rz = rot_z_torch(theta)
    R2 = Rz[:, :2, :2]
    # output normalised q_n in [-1, 1] (pixel centres, align_corners=True) -> source normalised:
    # p = R2^T q_n (size-1) / (2k) + c ;  p_n = 2 p / (W-1) - 1
    A = R2.transpose(1, 2) * ((size - 1) / (k * (W - 1)))[:, None, None]
    t = 2 * centre / (W - 1) - 1
    grid = F.affine_grid(torch.cat([A, t[:, :, None]], 2), (N, 3, size, size), align_corners=True)
    src = images.permute(0, 3, 1, 2).float()
    out = F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)
    if labels is not None:
        labels = F.grid_sample(labels[:, None].float(), grid.float(), mode="nearest", padding_mode="zeros",
                               align_corners=True)[:, 0].round().long()
    c_out = (size - 1) / 2
    pp = K[:, :2, 2] - centre
    Kc = torch.zeros_like(K)
    Kc[:, 0, 0] = Kc[:, 1, 1] = k * K[:, 0, 0]
    Kc[:, :2, 2] = k[:, None] * torch.einsum("nij,nj->ni", R2, pp) + c_out
    Kc[:, 2, 2] = 1.0
    return out, Kc, Rz, labels
