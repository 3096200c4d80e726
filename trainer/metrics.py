"""Evaluation metrics (numpy). Inputs are root-relative or absolute keypoints (N, 21, 3) in metres;
reported errors are in millimetres.

- MPJPE: mean joint error of root-relative poses.
- PA-MPJPE: after Procrustes alignment with scale (rotation, translation, scale) of each
  prediction to its ground truth, as in the FreiHAND protocol.
- AUC of 3D PCK over 0-50 mm at 100 evenly spaced thresholds (normalised to [0, 1]).
- 2D PCK: share of visible keypoints within a threshold, here a fraction of the crop side.
"""
from __future__ import annotations

import numpy as np

PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 100)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align each pred (N, J, 3) to gt (N, J, 3) (Umeyama, with scale, no reflection)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    mp, mg = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    P, G = pred - mp, gt - mg
    H = np.einsum("nji,njk->nik", P, G)                      # (N, 3, 3) = P^T G
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", U, Vt)))
    D = np.ones((len(pred), 3))
    D[:, 2] = d
    R = np.einsum("nij,nj,njk->nik", U, D, Vt)               # rotation applied as P @ R
    scale = (S * D).sum(-1) / np.maximum((P ** 2).sum((1, 2)), 1e-18)
    return scale[:, None, None] * np.einsum("nji,nik->njk", P, R) + mg


def joint_errors_mm(pred, gt, align: bool = False) -> np.ndarray:
    """(N, 21) per-joint 3D errors in mm, root-relative (or Procrustes-aligned)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if align:
        pred = procrustes_align(pred, gt)
    else:
        pred, gt = pred - pred[:, :1], gt - gt[:, :1]
    return np.linalg.norm(pred - gt, axis=-1) * 1000.0


def pck_curve(errors_mm: np.ndarray, thresholds=PCK_THRESHOLDS_MM) -> np.ndarray:
    e = np.asarray(errors_mm).reshape(-1)
    return (e[None, :] <= np.asarray(thresholds)[:, None]).mean(1)


def auc(curve: np.ndarray, thresholds=PCK_THRESHOLDS_MM) -> float:
    """Area under a PCK curve, normalised by the threshold range (1.0 = perfect)."""
    t = np.asarray(thresholds, np.float64)
    c = np.asarray(curve, np.float64)
    return float(((c[1:] + c[:-1]) / 2 * np.diff(t)).sum() / (t[-1] - t[0]))


def pck_2d(pred, gt, visible, threshold: float) -> float:
    err = np.linalg.norm(np.asarray(pred) - np.asarray(gt), axis=-1)
    vis = np.asarray(visible, bool)
    return float((err[vis] <= threshold).mean()) if vis.any() else float("nan")


def summary(pred3d, gt3d, pred2d=None, gt2d=None, visible=None, pck2d_threshold: float = 0.05) -> dict:
    """All headline metrics for one set of predictions (2D in crop units: fraction of crop side)."""
    e = joint_errors_mm(pred3d, gt3d)
    ea = joint_errors_mm(pred3d, gt3d, align=True)
    out = {"count": int(len(e)), "mpjpe_mm": float(e.mean()), "pa_mpjpe_mm": float(ea.mean()),
           "auc_3d": auc(pck_curve(e)), "pa_auc_3d": auc(pck_curve(ea))}
    if pred2d is not None:
        out["pck_2d"] = pck_2d(pred2d, gt2d, visible, pck2d_threshold)
        err2 = np.linalg.norm(np.asarray(pred2d) - np.asarray(gt2d), axis=-1)
        vis = np.asarray(visible, bool)
        out["err_2d_crop"] = float(err2[vis].mean()) if vis.any() else float("nan")
    return out


def mirror(poses: np.ndarray, left) -> np.ndarray:
    """Left hands (mirror images, x -> -x) as right hands, and back; right hands unchanged. Poses
    (N, J, 3), or (u, v) keypoints (N, J, 2) of crops mirrored about their centre."""
    P = np.array(poses, np.float64)
    P[np.asarray(left, bool), :, 0] *= -1
    return P


def pairs_mean_pose(X: np.ndarray, left) -> np.ndarray:
    """The mean pose (``mean_pose``) of both views of every pair: X (N, 2, 21, 3), left (N,)."""
    return mean_pose(np.asarray(X).reshape(-1, 21, 3), np.repeat(np.asarray(left, bool), 2))


def every_view(pose: np.ndarray, left) -> np.ndarray:
    """One right-hand pose (21, 3) predicted for every view: (len(left), 21, 3), mirrored for the
    left hands. With the mean training pose this is the floor a model must beat."""
    left = np.asarray(left, bool)
    return mirror(np.broadcast_to(pose, (len(left),) + np.shape(pose)), left)


def mean_pose(poses: np.ndarray, left=None, iters: int = 10) -> np.ndarray:
    """The mean right-hand shape of poses (N, 21, 3) after generalised Procrustes alignment (each
    aligned to the running mean by rotation, translation and scale; left hands mirrored first, as
    no rotation aligns a mirror image), root-relative, at the poses' mean RMS size. Predicting it
    (mirrored for left hands) for every view gives the PA-MPJPE floor a model must beat."""
    P = mirror(poses, np.zeros(len(poses), bool) if left is None else left)
    P = P - P[:, :1]
    size = np.sqrt(((P - P.mean(1, keepdims=True)) ** 2).sum((1, 2))).mean()
    ref = P[0]
    for _ in range(iters):
        ref = procrustes_align(P, np.broadcast_to(ref, P.shape)).mean(0)
        c = ref - ref.mean(0)
        ref = c * (size / np.sqrt((c ** 2).sum()))
    return ref - ref[:1]
