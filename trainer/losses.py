"""Training losses. Distances are in centimetres (a loss of 1.0 = 1 cm mean joint error), 2D in
crop units of [-1, 1]; every loss is 0 for a perfect prediction (InfoNCE: its infimum, ~0).

Poses are root-relative keypoints (B, 21, 3) in the crop camera frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainer.skeleton import BONES, PALM_BONE, REFERENCE_BONE_RATIOS, REFERENCE_KEYPOINTS

CM = 100.0


def _masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    w = w.to(x.dtype)
    return (x * w).sum() / w.sum().clamp_min(1.0)


def supervised_3d(pred, target, weight) -> torch.Tensor:
    """Mean per-joint 3D distance (cm) over samples with weight 1 (label budget)."""
    d = torch.linalg.vector_norm(pred - target, dim=-1).mean(-1) * CM
    return _masked_mean(d, weight)


def supervised_2d(pred, target, visible, weight) -> torch.Tensor:
    """Mean 2D distance (crop units) over visible keypoints of labeled samples."""
    d = torch.linalg.vector_norm(pred - target, dim=-1)
    return _masked_mean(d, visible.to(d.dtype) * weight[:, None])


def cycle(pred_a, pred_b, R_ab) -> torch.Tensor:
    """Rotation consistency without labels: b's root-relative prediction rotated back by R_ab^T
    must equal a's, i.e. || R_ab^T p_b - p_a || (cm). Invariant to any rotation Q applied to both
    hands (p -> Q p, R_ab -> Q R_ab Q^T), so it constrains shape and relative pose only."""
    back = torch.einsum("bji,bkj->bki", R_ab, pred_b)       # R_ab^T p_b, per keypoint
    return torch.linalg.vector_norm(back - pred_a, dim=-1).mean() * CM


def info_nce(z1, z2, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE: row i of z1 and row i of z2 are positives, all other rows negatives.
    Features are unit-norm. Its infimum 0 is approached as positives align and negatives separate."""
    logits = z1 @ z2.T / temperature
    labels = torch.arange(len(z1), device=z1.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


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
