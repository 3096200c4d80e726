"""The 2.5D pose representation (Iqbal et al., ECCV'18) and its exact decoding to 3D.

A hand in a crop is encoded per joint as its pixel (u, v) in the crop, mapped to [-1, 1] over the
crop, and its depth relative to the wrist in units of the hand's scale:

    uv_j = project(K, X_j) / (S - 1) * 2 - 1        zrel_j = (Z_j - Z_0) / s

Both are what a crop shows: (u, v) are image evidence, and relative depth divided by a length of
the same hand is free of the hand's size and distance, which a crop normalised to the hand's
bounding box cannot reveal. The 3D pose is recovered with the crop's intrinsics K: joint j lies on
the ray r_j = K^-1 [u_j, v_j, 1] at depth Z_0 + s zrel_j, so in units of s

    P_j = r_j (zeta + zrel_j),   zeta = Z_0 / s,

and zeta is fixed by the scale itself. The scale is the root mean square of the four metacarpal
segments (wrist to index, middle, ring and little MCP), mean_m |P_m - P_0|^2 = 1, a quadratic in
zeta (Iqbal et al. use the single wrist - middle-MCP bone; with fingers along the line of sight,
one of our hard views, that bone projects to almost nothing and the quadratic is ill-conditioned,
while the four segments fan out across the palm). The larger root is the physical one.

Decoded poses are root-relative and in units of s (their palm scale is 1); times a hand's scale in
metres they are metric. Everything here is torch, batched over leading dimensions.
"""
from __future__ import annotations

import torch

PALM_JOINTS = (5, 9, 13, 17)        # MCPs whose segments from the wrist (0) define the scale


def palm_scale(X: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) -> (...) RMS length of the wrist -> MCP segments (the normalising scale s)."""
    d = X[..., PALM_JOINTS, :] - X[..., :1, :]
    return (d.pow(2).sum(-1).mean(-1)).sqrt()


def to_pixels(uv: torch.Tensor, size: int) -> torch.Tensor:
    return (uv + 1.0) * ((size - 1) / 2.0)


def to_crop_units(px: torch.Tensor, size: int) -> torch.Tensor:
    return px / ((size - 1) / 2.0) - 1.0


def project(K: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Camera-frame points X (..., J, 3) through intrinsics K (..., 3, 3) -> pixels (..., J, 2)
    (torch; generator.conventions.project is the numpy one)."""
    p = torch.einsum("...ij,...kj->...ki", K, X)
    return p[..., :2] / p[..., 2:3]


def encode(X: torch.Tensor, K: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera-frame keypoints X (..., 21, 3) seen by a size x size crop with intrinsics K (..., 3, 3)
    -> uv (..., 21, 2) in crop units, zrel (..., 21), scale s (...) in X's units."""
    uv = to_crop_units(project(K, X), size)
    s = palm_scale(X)
    zrel = (X[..., 2] - X[..., :1, 2]) / s[..., None]
    return uv, zrel, s


def rays(uv: torch.Tensor, K: torch.Tensor, size: int) -> torch.Tensor:
    """K^-1 [u, v, 1] for crop-unit uv (..., J, 2): (..., J, 3) with z = 1 (square pixels, no skew)."""
    px = to_pixels(uv, size)
    f = K[..., 0, 0][..., None]
    x = (px[..., 0] - K[..., 0, 2][..., None]) / f
    y = (px[..., 1] - K[..., 1, 2][..., None]) / f
    return torch.stack([x, y, torch.ones_like(x)], -1)


def decode(uv: torch.Tensor, zrel: torch.Tensor, K: torch.Tensor, size: int,
           eps: float = 1e-9) -> torch.Tensor:
    """2.5D (uv in crop units, zrel) + crop intrinsics -> root-relative 3D pose in units of the
    palm scale (..., 21, 3). Exact for exact inputs; where noise leaves the quadratic without a
    real root, its vertex (the closest real value) is used."""
    r = rays(uv, K, size)
    zrel = zrel - zrel[..., :1]                       # the root's relative depth is 0 by definition
    a = r[..., PALM_JOINTS, :] - r[..., :1, :]        # P_m - P_0 = zeta a_m + b_m
    b = r[..., PALM_JOINTS, :] * zrel[..., PALM_JOINTS, None]
    n = len(PALM_JOINTS)
    qa = a.pow(2).sum((-1, -2))
    qb = (a * b).sum((-1, -2))
    qc = b.pow(2).sum((-1, -2)) - n
    disc = (qb * qb - qa * qc).clamp_min(0.0)
    zeta = (-qb + torch.sqrt(disc + eps)) / qa.clamp_min(eps)
    P = r * (zeta[..., None, None] + zrel[..., None])
    return P - P[..., :1, :]
