"""Per-view annotations from the geometry and the rendered buffers: 2D keypoints, visibility, bbox.

Visibility of keypoint k = in frame AND not self-occluded. Self-occlusion is judged against the
rendered depth buffer at the keypoint's pixel (nearest pixel centre): the keypoint is visible when
its camera depth z_k <= depth[pixel] + tol_k. Joints lie inside the flesh, so the visible surface
in front of an unoccluded joint is up to the flesh thickness closer than the joint itself; the
tolerance is therefore per keypoint and per hand:

    tol_k = r_k + VISIBILITY_SLACK_M,   r_k = distance from keypoint k to its nearest mesh vertex

r_k is the local flesh radius (about 0 for fingertips, which are surface points; ~5-12 mm for
finger joints; more for the wrist). The slack (4 mm) absorbs pixel quantisation of the depth
buffer and oblique surfaces. An occluding finger lies at least a finger's thickness (>= ~12 mm)
in front, so it still exceeds the tolerance. Off-hand pixels have depth inf: nothing occludes.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from generator.camera import in_frame
from generator.conventions import is_easy_view, is_hard_view, project, view_angles

VISIBILITY_SLACK_M = 0.004


def flesh_radius(vertices: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Distance (21,) from each keypoint to its nearest mesh vertex (rotation invariant)."""
    d, _ = cKDTree(np.asarray(vertices, np.float64)).query(np.asarray(keypoints, np.float64))
    return d


def visibility(kp_cam: np.ndarray, K: np.ndarray, resolution, depth: np.ndarray,
               radius: np.ndarray, slack: float = VISIBILITY_SLACK_M):
    """(uv (21,2), in_frame (21,), unoccluded (21,), visible (21,))."""
    kp_cam = np.asarray(kp_cam, np.float64)
    uv = project(K, kp_cam)
    W, H = resolution
    inside = in_frame(uv, resolution) & (kp_cam[:, 2] > 0)
    unoccluded = np.zeros(len(uv), dtype=bool)
    for k in np.flatnonzero(inside):
        x = min(max(int(np.floor(uv[k, 0] + 0.5)), 0), W - 1)   # nearest pixel centre
        y = min(max(int(np.floor(uv[k, 1] + 0.5)), 0), H - 1)
        unoccluded[k] = kp_cam[k, 2] <= float(depth[y, x]) + radius[k] + slack
    return uv, inside, unoccluded, inside & unoccluded


def mask_bbox(mask: np.ndarray):
    """[x0, y0, x1, y1] of the mask's pixels in the pixel-centre convention: pixel (i, j) covers
    [i - 0.5, i + 0.5], so a one-pixel mask at (0, 0) has bbox [-0.5, -0.5, 0.5, 0.5]. None when
    the mask is empty."""
    ys, xs = np.nonzero(np.asarray(mask) > 127)
    if len(xs) == 0:
        return None
    return [float(xs.min()) - 0.5, float(ys.min()) - 0.5, float(xs.max()) + 0.5, float(ys.max()) + 0.5]


def view_annotation(kp_cam, K, resolution, depth, mask, radius) -> dict:
    uv, inside, unocc, vis = visibility(kp_cam, K, resolution, depth, radius)
    palm_deg, finger_deg = view_angles(kp_cam)
    return {
        "K": np.asarray(K, np.float64).tolist(),
        "resolution": [int(resolution[0]), int(resolution[1])],
        "keypoints_3d": np.asarray(kp_cam, np.float64).tolist(),
        "keypoints_2d": uv.tolist(),
        "visible": vis.tolist(),
        "in_frame": inside.tolist(),
        "unoccluded": unocc.tolist(),
        "bbox": mask_bbox(mask),
        "mask_pixels": int((np.asarray(mask) > 127).sum()),
        # generator.conventions' one view definition, default thresholds (45 / 15 / 30 deg)
        "palm_deg": palm_deg, "finger_deg": finger_deg,
        "easy_view": is_easy_view(kp_cam, bool(inside.all())), "hard_view": is_hard_view(kp_cam),
    }
