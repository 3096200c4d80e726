"""Per-view annotations from the geometry and the rendered passes: 2D keypoints, visibility by what
the pixel shows, the hand-only mask and its bbox (definitions in docs/FORMAT.md).

Visibility of keypoint k: it projects into the frame and, at its pixel (for a fingertip, a pixel
within one of its projection), the part-ID pass shows one of k's own segments (generator.parts.KEYPOINT_SEGMENTS)
no nearer the camera than where k's camera ray enters the flesh that holds k (``flesh_entry``:
the segment's thickness in front of k along the ray), less a slack for the pixel's footprint.
Joints lie inside the flesh: an unoccluded joint shows its own flesh's near surface; another
finger, the arm, a sleeve, an accessory or a distractor in front shows another id or a nearer
surface. A fingertip is a surface point: it is its own entry, so its own finger's near side in
front of it (a finger pointing away from the camera) hides it. A keypoint whose pixel shows
background lies on the silhouette with nothing in front: visible.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from generator.camera import in_frame
from generator.conventions import TIP_KEYPOINTS, is_easy_view, is_hard_view, project, view_angles
from generator.parts import HAND_IDS, KEYPOINT_SEGMENTS

VISIBILITY_SLACK_M = 0.004
SEARCH_PX = 1            # fingertips (surface points, often on a silhouette): the pixels this near count


def hand_mask(alpha: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """uint8 (H, W), 255 = hand: covered by the render (alpha >= 0.5) and showing a hand part. The
    part-ID pass takes one sample per pixel, so an edge pixel may hold background where the hand
    still covers most of it: such pixels count as hand when a hand pixel touches them."""
    cover = np.asarray(alpha) >= 0.5
    parts = np.asarray(parts)
    hand = np.isin(parts, HAND_IDS)
    gap = cover & (parts == 0) & ndimage.binary_dilation(hand, structure=np.ones((3, 3), bool))
    return ((cover & hand) | gap).astype(np.uint8) * 255


def _ray_hits(triangles: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(R, F) distance along each unit ray from the origin to each triangle it crosses (inf where it
    misses): Moller-Trumbore, vectorised over rays and triangles."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(directions[:, None, :], e2[None])                     # (R, F, 3)
    det = np.einsum("fk,rfk->rf", e1, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        s = -a                                                         # origin - a
        u = np.einsum("fk,rfk->rf", s, p) * inv
        q = np.cross(s, e1)                                            # (F, 3)
        v = np.einsum("rk,fk->rf", directions, q) * inv
        t = np.einsum("fk,fk->f", e2, q)[None] * inv
    hit = (np.abs(det) > 1e-18) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return np.where(hit, t, np.inf)


def flesh_entry(vertices_cam, faces, kp_cam) -> np.ndarray:
    """(21,) camera depth z at which each keypoint's camera ray enters the flesh holding it: the
    last crossing of the (closed) mesh surface before the keypoint with an odd number of
    crossings in front of it; the keypoint's own depth for surface keypoints (fingertips) and for
    keypoints outside the mesh. A ray through a shared edge meets both triangles at one distance:
    such crossings count once."""
    kp = np.asarray(kp_cam, np.float64)
    dist = np.linalg.norm(kp, axis=1)
    dirs = kp / dist[:, None]
    t = _ray_hits(np.asarray(vertices_cam, np.float64)[np.asarray(faces)], dirs)
    entry = dist.copy()
    for k in range(len(kp)):
        if k in TIP_KEYPOINTS:
            continue
        hits = np.sort(t[k][t[k] < dist[k] - 1e-6])
        if len(hits):
            hits = hits[np.r_[True, np.diff(hits) > 1e-7]]
        if len(hits) % 2 == 1:                   # inside: the last crossing in front is an entry
            entry[k] = hits[-1]
    return entry * dirs[:, 2]


def visibility(kp_cam, K, resolution, parts, parts_depth, entry_z, slack: float = VISIBILITY_SLACK_M):
    """(uv (21, 2), in_frame (21,), seen (21,), visible (21,)): seen = a pixel within SEARCH_PX
    shows its own segments no nearer than its flesh entry (see the module doc)."""
    kp_cam = np.asarray(kp_cam, np.float64)
    K = np.asarray(K, np.float64)
    uv = project(K, kp_cam)
    W, H = resolution
    inside = in_frame(uv, resolution) & (kp_cam[:, 2] > 0)
    seen = np.zeros(len(uv), dtype=bool)
    for k in np.flatnonzero(inside):
        x = int(np.floor(uv[k, 0] + 0.5))
        y = int(np.floor(uv[k, 1] + 0.5))
        r = SEARCH_PX if k in TIP_KEYPOINTS else 0
        ys, xs = np.mgrid[max(y - r, 0):min(y + r, H - 1) + 1, max(x - r, 0):min(x + r, W - 1) + 1]
        ys, xs = ys.ravel(), xs.ravel()
        if parts[y, x] == 0:             # its ray passes the silhouette: nothing is in front of it
            seen[k] = True
            continue
        own = np.isin(parts[ys, xs], KEYPOINT_SEGMENTS[k])
        if not own.any():
            continue
        z = parts_depth[ys[own], xs[own]].astype(np.float64)
        footprint = kp_cam[k, 2] / K[0, 0]                              # metres per pixel at k
        seen[k] = bool((z >= entry_z[k] - slack - footprint).any())
    return uv, inside, seen, inside & seen


def mask_bbox(mask: np.ndarray):
    """[x0, y0, x1, y1] of the mask's pixels in the pixel-centre convention: pixel (i, j) covers
    [i - 0.5, i + 0.5], so a one-pixel mask at (0, 0) has bbox [-0.5, -0.5, 0.5, 0.5]. None when
    the mask is empty."""
    ys, xs = np.nonzero(np.asarray(mask) > 127)
    if len(xs) == 0:
        return None
    return [float(xs.min()) - 0.5, float(ys.min()) - 0.5, float(xs.max()) + 0.5, float(ys.max()) + 0.5]


def view_annotation(kp_cam, K, resolution, parts, parts_depth, mask, entry_z) -> dict:
    """One view's annotation; ``mask`` is the hand-only mask (hand_mask), ``entry_z`` flesh_entry."""
    uv, inside, seen, vis = visibility(kp_cam, K, resolution, parts, parts_depth, entry_z)
    palm_deg, finger_deg = view_angles(kp_cam)
    return {
        "K": np.asarray(K, np.float64).tolist(),
        "resolution": [int(resolution[0]), int(resolution[1])],
        "keypoints_3d": np.asarray(kp_cam, np.float64).tolist(),
        "keypoints_2d": uv.tolist(),
        "visible": vis.tolist(),
        "in_frame": inside.tolist(),
        "unoccluded": seen.tolist(),
        "flesh_in_front_m": (np.asarray(kp_cam)[:, 2] - entry_z).round(6).tolist(),
        "bbox": mask_bbox(mask),
        "mask_pixels": int((np.asarray(mask) > 127).sum()),
        # generator.conventions' one view definition, default thresholds (45 / 15 / 30 deg)
        "palm_deg": palm_deg, "finger_deg": finger_deg,
        "easy_view": is_easy_view(kp_cam, bool(inside.all())), "hard_view": is_hard_view(kp_cam),
    }
