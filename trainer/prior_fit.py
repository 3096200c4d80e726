"""Fit the statistical pose prior to a network's 2.5D estimate (MAP, Levenberg-Marquardt).

Why: decoding 2.5D to 3D (trainer/pose25d.py) is exact for exact inputs but turns noise into
distorted hands: on the hard split's labels, 2 px of 2D noise and 0.3 of relative-depth noise
decode to 28.7 mm PA-MPJPE, worse than the mean pose (16.2 mm), and fit to 9.6 mm
(benchmarks/prior_fit.py). A plausible hand that explains the
same evidence is far better: find the prior's coefficients c, a rotation R and a root position t
(palm-scale units) with

    minimise  sum_j w_j |pi(K (R S(c)_j + t)) - uv_j|^2 / sigma_uv^2
            + sum_j ((R S(c) + t)_jz - (R S(c) + t)_0z - zrel_j)^2 / sigma_z^2  +  |c / std|^2

S(c) = mean + c . basis (mirrored for left hands), w_j the heatmap confidences. The last term is
the prior's own Gaussian (centred on a prior head's coefficients when given), so with no
evidence the fit stays at the mean pose (or the head's shape). (SMPLify fits a body
model to 2D keypoints the same way.) Every view of a batch is solved on its own, batched: its
21 parameters (rotation vector, k coefficients, t) by damped Gauss-Newton with forward-mode
Jacobians.
"""
from __future__ import annotations

import dataclasses

import torch
from torch.func import jacfwd, vmap

from trainer import pose25d
from trainer.pose_prior import as_right, kabsch


@dataclasses.dataclass(frozen=True)
class FitConfig:
    sigma_uv: float = 0.15      # 2D noise the fit expects, crop units (0.15 = 2.3 px of a 32 px crop)
    sigma_z: float = 0.5        # relative-depth noise, palm-scale units
    iters: int = 15
    damping: float = 1e-2       # Levenberg-Marquardt's initial lambda (relative to diag J^T J)


def rodrigues(w: torch.Tensor) -> torch.Tensor:
    """Rotation vectors (..., 3) -> matrices (..., 3, 3), smooth at 0."""
    th2 = (w * w).sum(-1, keepdim=True)[..., None]
    th = th2.clamp_min(1e-12).sqrt()
    small = th2 < 1e-8
    a = torch.where(small, 1 - th2 / 6, torch.sin(th) / th)
    b = torch.where(small, 0.5 - th2 / 24, (1 - torch.cos(th)) / th2.clamp_min(1e-12))
    x, y, z = w.unbind(-1)
    o = torch.zeros_like(x)
    W = torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).view(*w.shape[:-1], 3, 3)
    return torch.eye(3, dtype=w.dtype, device=w.device) + a * W + b * (W @ W)


def fit(uv, zrel, K, left, mean, basis, std, init_pose, conf=None, coef=None, size: int = 32,
        cfg: FitConfig = FitConfig(), conf_z=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior hands fitted to 2.5D estimates.

    uv (B, 21, 2) crop units, zrel (B, 21) (None: 2D only), K (B, 3, 3) crop intrinsics, left (B,)
    bool, mean (21, 3) / basis (k, 63) / std (k,) the prior, init_pose (B, 21, 3) a root-relative
    estimate for the start (the decoded 2.5D pose or a prior head's), conf (B, 21) joint weights,
    coef (B, k) a prior head's coefficients: the prior term is then centred on them (with no
    evidence the fit returns the head's shape) instead of on the mean; conf_z (B, 21) weights of
    the zrel terms (default: all 1).
    Returns (root-relative poses (B, 21, 3) in palm-scale units, coefficients (B, k))."""
    dt = torch.float64
    uv, K, init_pose = uv.to(dt), K.to(dt), init_pose.to(dt)
    mean, basis, std = mean.to(dt), basis.to(dt), std.to(dt)
    B, k = len(uv), len(std)
    sx = 1.0 - 2.0 * left.to(dt)                                  # x sign: left hands mirrored
    def sqrt_weights(c):                                          # residual factors of joint weights
        return (torch.ones(B, 21, dtype=dt, device=uv.device) if c is None else c.to(dt).clamp_min(0)).sqrt()
    w, wz = sqrt_weights(conf), sqrt_weights(conf_z)
    zr = None if zrel is None else (zrel.to(dt) - zrel.to(dt)[:, :1])

    def shape(z, s):
        # palm scale exactly 1, as the labels' zrel is defined (a sum of components moves it a little)
        S = mean + ((z * std) @ basis).view(21, 3)
        S = S / pose25d.palm_scale(S - S[:1])
        return S * torch.stack([s, torch.ones_like(s), torch.ones_like(s)], -1)

    z0 = torch.zeros(B, k, dtype=dt, device=uv.device) if coef is None else coef.to(dt) / std
    # start: the mean hand (or the head's) turned onto the estimate, its root on the wrist's ray
    # at the depth that gives the estimate's projected size
    S0 = as_right(mean + ((z0 * std) @ basis).view(B, 21, 3), left)
    R0 = kabsch(S0, init_pose).transpose(1, 2)                    # R0 S0 ~ init
    r = pose25d.rays(uv, K, size)
    # over the weighted joints only: a hidden joint's (u, v) says nothing, not even about size
    a = w * w
    a = torch.where(a.sum(1, keepdim=True) > 0, a, torch.ones_like(a))
    a = a / a.sum(1, keepdim=True)

    def spread(x):
        c = (a[..., None] * x).sum(1, keepdim=True)
        return (a * (x - c).norm(dim=-1)).sum(-1)
    spread_obs, spread_3d = spread(r[..., :2]), spread(init_pose[..., :2])
    zeta = (spread_3d / spread_obs.clamp_min(1e-6)).clamp(1.0, 1e3)
    t0 = r[:, 0] * zeta[:, None]

    def residual(p, R0_, s, uv_, K_, w_, wz_, z0_, zr_):
        R = R0_ @ rodrigues(p[:3])
        P = shape(p[3:3 + k], s) @ R.T + p[3 + k:]
        q = P @ K_.T
        uvh = pose25d.to_crop_units(q[:, :2] / q[:, 2:3].clamp_min(1e-6), size)
        res = [((uvh - uv_) * w_[:, None]).flatten() / cfg.sigma_uv]
        if zr_ is not None:
            res.append(((P[:, 2] - P[:1, 2]) - zr_) * wz_ / cfg.sigma_z)
        res.append(p[3:3 + k] - z0_)
        return torch.cat(res)

    p = torch.cat([torch.zeros(B, 3, dtype=dt, device=uv.device), z0, t0], 1)
    in_dims = (0, 0, 0, 0, 0, 0, 0, 0, 0 if zr is not None else None)
    res_fn = vmap(residual, in_dims=in_dims)
    jac_fn = vmap(jacfwd(residual), in_dims=in_dims)
    args = (R0, sx, uv, K, w, wz, z0, zr)
    f = res_fn(p, *args)
    cost = (f * f).sum(-1)
    lam = torch.full((B,), cfg.damping, dtype=dt, device=uv.device)
    eye = torch.eye(p.shape[1], dtype=dt, device=uv.device)
    for _ in range(cfg.iters):
        J = jac_fn(p, *args)
        JtJ = J.transpose(1, 2) @ J
        g = (J.transpose(1, 2) @ f[..., None])[..., 0]
        A = JtJ + lam[:, None, None] * (torch.diagonal(JtJ, 0, 1, 2)[:, :, None] * eye + 1e-9 * eye)
        step = torch.linalg.solve(A, -g)
        f_new = res_fn(p + step, *args)
        c_new = (f_new * f_new).sum(-1)
        ok = torch.isfinite(c_new) & (c_new < cost)
        p = torch.where(ok[:, None], p + step, p)
        f = torch.where(ok[:, None], f_new, f)
        cost = torch.where(ok, c_new, cost)
        lam = torch.where(ok, lam / 3, lam * 4).clamp(1e-6, 1e6)
    R = R0 @ rodrigues(p[:, :3])
    S = vmap(shape)(p[:, 3:3 + k], sx)
    P = torch.einsum("bij,bkj->bki", R, S)
    return P - P[:, :1], p[:, 3:3 + k] * std
