"""Training losses on the 2.5D outputs and the decoded, scale-normalised 3D pose.

Poses here are root-relative (B, 21, 3) in a crop's camera frame, in units of the hand's palm
scale (trainer/pose25d.py), so every 3D loss is free of hand size; uv are crop units in [-1, 1].
Every loss is 0 for a perfect prediction (InfoNCE: its infimum).

Label-free losses on a pair (a, b) whose crops are related by R (a's root-relative pose maps to
b's as P_b = R P_a):
- ``teacher``: an EMA copy of the network (trainer/teacher.py) predicts on the easier view a; its
  prediction rotated by R is the target for the student on b, with no gradient through the
  target (Xie et al. ICCV'21; Tarvainen & Valpola, Mean Teacher). A constant prediction is not a
  minimiser: the target turns with R.
- ``cycle_naive``: the symmetric ||R^T P_b - P_a|| with gradients into both views, kept as the
  ablation: with metric poses it is minimised exactly by predicting nothing.
- ``peclr``: NT-Xent between projections of a and b, a's rotated by R first (Spurr et al.,
  PeCLR, ICCV'21), so the features are asked to turn with the hand instead of ignoring rotation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainer.precision import float32
from trainer.skeleton import BONES, PALM_BONE, REFERENCE_BONE_RATIOS, REFERENCE_KEYPOINTS

SMOOTH_BETA = 0.05          # smooth-L1 knee, in palm-scale units (about 4 mm on an adult hand)


def _masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    w = w.to(x.dtype)
    return (x * w).sum() / w.sum().clamp_min(1.0)


@float32
def rotate(R: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """R (B, 3, 3) applied to each of the points/vectors P (B, J, 3)."""
    return torch.einsum("bij,bkj->bki", R, P)


def uv_loss(pred, target, visible) -> torch.Tensor:
    """Mean L1 distance (crop units) over the joints inside the image and the crop."""
    return _masked_mean((pred - target).abs().sum(-1), visible)


def heatmap_loss(log_prob, target_uv, visible, grid, sigma: float) -> torch.Tensor:
    """KL divergence from a Gaussian (std ``sigma``, crop units) at each labelled joint to the
    predicted heatmap distribution, joints inside the image and crop (DSNT-style regulariser,
    Nibali et al. 2018): soft-argmax alone leaves the heatmap's shape free and learns slowly;
    this gives every pixel of the map a target. 0 when the map is that Gaussian."""
    gx = torch.exp(-(grid - target_uv[..., 0:1]) ** 2 / (2 * sigma ** 2))          # (B, J, w)
    gy = torch.exp(-(grid - target_uv[..., 1:2]) ** 2 / (2 * sigma ** 2))          # (B, J, h)
    t = gy[..., :, None] * gx[..., None, :]
    t = t / t.sum((-1, -2), keepdim=True).clamp_min(1e-12)
    kl = (t * (torch.log(t.clamp_min(1e-12)) - log_prob)).sum((-1, -2))
    return _masked_mean(kl, visible)


def parts_loss(logits, target, ignore: int) -> torch.Tensor:
    """Cross-entropy of part logits (B, C, h, w) at the heatmaps' stride against part classes
    (B, S, S) at the crop's pixels, read at the pixel nearest each heatmap cell's centre; pixels
    (or whole views) marked ``ignore`` do not count. 0 when no pixel counts."""
    st = target.shape[-1] // logits.shape[-1]
    t = target[:, st // 2::st, st // 2::st]
    if not (t != ignore).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, t, ignore_index=ignore)


def depth_loss(pred, target) -> torch.Tensor:
    """Mean L1 error of relative depth (palm-scale units), every joint (off-crop ones too)."""
    return (pred - target).abs().mean()


@float32
def pose_loss(pred, target) -> torch.Tensor:
    """Smooth-L1 between decoded and labelled scale-normalised poses."""
    return F.smooth_l1_loss(pred, target, beta=SMOOTH_BETA)


@float32
def coef_loss(pred, target) -> torch.Tensor:
    """Smooth-L1 between the prior head's PCA coefficients and the labels' (palm-scale units: the
    basis is orthonormal, so this is the shape error within the prior's subspace, free of the
    view's rotation)."""
    return F.smooth_l1_loss(pred, target, beta=SMOOTH_BETA)


@float32
def teacher(student_b, teacher_a, R) -> torch.Tensor:
    """Student on view b against the teacher's view-a pose rotated into b: target carries no
    gradient (scale-normalised poses, smooth-L1)."""
    return F.smooth_l1_loss(student_b, rotate(R, teacher_a.detach()), beta=SMOOTH_BETA)


@float32
def teacher_shape(student_pose25d_b, student_coef_b, teacher_a, teacher_coef_a, R) -> torch.Tensor:
    """The teacher loss of a prior head, split as the head splits a pose: the shape (the PCA
    coefficients, rotation-free) is the same in both views, so the teacher's view-a coefficients
    are the target of the student's view-b ones; the rotation lives in the 2.5D estimate, so the
    student's decoded 2.5D pose on b is pulled toward the teacher's view-a pose rotated into b.
    Comparing the head's output pose instead (``teacher``) lets the student's own, no-gradient
    rotation on the hard view (the Kabsch fit to its 2.5D) leak into the shape. Targets carry no
    gradient."""
    return (F.smooth_l1_loss(student_coef_b, teacher_coef_a.detach(), beta=SMOOTH_BETA)
            + teacher(student_pose25d_b, teacher_a, R))


@float32
def cycle_naive(pred_a, pred_b, R) -> torch.Tensor:
    """Symmetric rotation consistency ||R^T P_b - P_a|| (gradients into both views)."""
    back = torch.einsum("bji,bkj->bki", R, pred_b)           # R^T P_b
    return torch.linalg.vector_norm(back - pred_a, dim=-1).mean()


def nt_xent(z1, z2, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent over 2B unit vectors: each row's positive is its partner in the other
    view; the other 2B - 2 rows are negatives."""
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    B = len(z1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)
    return F.cross_entropy(sim, target)


def peclr(z_a, z_b, R, temperature: float = 0.1) -> torch.Tensor:
    """PeCLR: rotate view a's projection (B, m, 3) by R before NT-Xent with view b's."""
    return nt_xent(rotate(R, z_a).flatten(1), z_b.flatten(1), temperature)


def bone_lengths(P: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) -> (..., 20)."""
    return torch.linalg.vector_norm(P[..., BONES[:, 1], :] - P[..., BONES[:, 0], :], dim=-1)


def bone_ratio(pred, label) -> float:
    """Mean predicted bone length over the labels' (collapse monitor: ~1 healthy, -> 0 collapsed)."""
    return float(bone_lengths(pred).mean() / bone_lengths(label).mean().clamp_min(1e-9))


# --- anatomical prior ----------------------------------------------------------------------------
# Bone-length ratios to the wrist->middle-MCP bone must stay within RATIO_TOL of the reference
# hand's; finger joints bend within limits. Joint limits (degrees) default to common anatomical
# ranges and are replaced by generator.hand.limits.LIMITS when the hand model provides them.
# Angles measured on keypoints differ from the model's joint angles (bones are not the joint
# axes), so limits get ANGLE_TOL of slack: with it the prior is 0 on anny's sampled poses. The
# thumb is left to the bone ratios: its flexion axis cannot be read off keypoints reliably.
RATIO_TOL = 0.30
ANGLE_TOL = 20.0
FINGER_LIMITS = {"mcp": (-30.0, 90.0), "pip": (0.0, 110.0), "dip": (-10.0, 90.0)}
THUMB_LIMITS = {"mcp": (-10.0, 50.0), "ip": (-20.0, 80.0)}
LATERAL_LIMIT = 30.0   # PIP/DIP side-bend (hinge joints), including the keypoint slack


def _limits_from_hand_model():
    try:
        from generator.hand.limits import LIMITS  # noqa: F401  (lead's module, when present)
    except Exception:
        return FINGER_LIMITS, THUMB_LIMITS
    fl, th = dict(FINGER_LIMITS), dict(THUMB_LIMITS)
    try:
        for j in ("mcp", "pip", "dip"):
            lo, hi = LIMITS[f"middle_{j}"]["flexion"] if isinstance(LIMITS[f"middle_{j}"], dict) else LIMITS[f"middle_{j}"][0]
            fl[j] = (float(lo), float(hi))
        for j in ("mcp", "ip"):
            lo, hi = LIMITS[f"thumb_{j}"]["flexion"] if isinstance(LIMITS[f"thumb_{j}"], dict) else LIMITS[f"thumb_{j}"][0]
            th[j] = (float(lo), float(hi))
    except Exception:
        return FINGER_LIMITS, THUMB_LIMITS
    return fl, th


def _joint_triplets():
    """(parent, joint, child, limits, is_hinge) for every bending joint we constrain."""
    fl, th = _limits_from_hand_model()
    out = []
    for base in (5, 9, 13, 17):                      # MCP, PIP, DIP of the four fingers
        out.append((0, base, base + 1, fl["mcp"], False))
        out.append((base, base + 1, base + 2, fl["pip"], True))
        out.append((base + 1, base + 2, base + 3, fl["dip"], True))
    return out


_TRIPLETS = _joint_triplets()


def _palm_normal(p, left):
    n = torch.linalg.cross(p[:, 5] - p[:, 0], p[:, 17] - p[:, 0])
    n = n * torch.where(left > 0.5, -1.0, 1.0)[:, None]
    return F.normalize(n, dim=-1, eps=1e-9)


def joint_angles(p, left):
    """Signed flexion (deg, + = toward the palm) and lateral bend (deg) per constrained joint.

    Flexion is the angle from bone u to bone v about the finger's flexion axis
    k = (finger base direction) x (palm normal), as a hinge finger curls about a fixed axis."""
    n = _palm_normal(p, left)
    flex, lat = [], []
    for a, b, c, _, _ in _TRIPLETS:
        base = (b - 1) // 4 * 4 + 1                    # this finger's MCP
        d = p[:, base] - p[:, 0]                         # its metacarpal
        k = F.normalize(torch.linalg.cross(d, n), dim=-1, eps=1e-9)
        u = F.normalize(p[:, b] - p[:, a], dim=-1, eps=1e-9)
        v = F.normalize(p[:, c] - p[:, b], dim=-1, eps=1e-9)
        # Project both bones into the flexion plane (normal k) for the signed bend angle.
        up_ = F.normalize(u - (u * k).sum(-1, keepdim=True) * k, dim=-1, eps=1e-9)
        vp = F.normalize(v - (v * k).sum(-1, keepdim=True) * k, dim=-1, eps=1e-9)
        flex.append(torch.rad2deg(torch.atan2((torch.linalg.cross(up_, vp) * k).sum(-1), (up_ * vp).sum(-1))))
        lat.append(torch.rad2deg(torch.asin((v * k).sum(-1).clamp(-1, 1))))
    return torch.stack(flex, 1), torch.stack(lat, 1)


def anatomical_prior(pred, left) -> torch.Tensor:
    """Hinge penalties (0 inside the limits): bone-length ratios (relative error beyond
    RATIO_TOL) + flexion outside the limits and hinge side-bend beyond LATERAL_LIMIT (in units of
    10 degrees)."""
    bl = torch.linalg.vector_norm(pred[:, BONES[:, 1]] - pred[:, BONES[:, 0]], dim=-1)
    ratios = bl / bl[:, PALM_BONE:PALM_BONE + 1].clamp_min(1e-6)
    ref = torch.as_tensor(REFERENCE_BONE_RATIOS, dtype=pred.dtype, device=pred.device)
    ratio_pen = F.relu((ratios / ref - 1).abs() - RATIO_TOL).mean(-1)
    flex, lat = joint_angles(pred, left)
    lo = torch.tensor([t[3][0] for t in _TRIPLETS], dtype=pred.dtype, device=pred.device)
    hi = torch.tensor([t[3][1] for t in _TRIPLETS], dtype=pred.dtype, device=pred.device)
    hinge = torch.tensor([t[4] for t in _TRIPLETS], device=pred.device)
    angle_pen = (F.relu(lo - ANGLE_TOL - flex) + F.relu(flex - hi - ANGLE_TOL)).mean(-1) / 10
    lat_pen = (F.relu(lat.abs() - LATERAL_LIMIT) * hinge).mean(-1) / 10
    return (ratio_pen + angle_pen + lat_pen).mean()


assert float(anatomical_prior(torch.as_tensor(REFERENCE_KEYPOINTS[None]), torch.zeros(1))) == 0.0
