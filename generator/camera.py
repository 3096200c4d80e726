"""Camera placement for a cyclic pair: one pinhole camera that frames BOTH views of the hand.

Views a and b share the camera and the wrist position t (the rotation is about the wrist), so we
pick the focal length first (random 35 mm-equivalent focal length), then solve for t such that the
union of both views' points spans ``fill`` of the image (the larger of width/height fraction) and
sits inside it with a margin, then shift it randomly within the slack that remains. The distance
follows from focal length and fill, so both are random. With probability ``truncation`` a pair
instead gets a fill in ``truncated_fill`` and a larger shift, so keypoints may leave the frame.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import brentq
from scipy.spatial import ConvexHull

from generator.conventions import intrinsics, project

FULL_FRAME_WIDTH_MM = 36.0   # 35 mm-equivalent focal lengths refer to a 36 mm wide sensor
MIN_DEPTH_M = 0.08           # no point of the hand closer than this to the camera


@dataclasses.dataclass
class CameraPlacement:
    K: np.ndarray            # (3, 3)
    resolution: tuple[int, int]
    wrist: np.ndarray        # (3,) wrist position, camera frame, metres
    focal_mm: float          # 35 mm-equivalent
    fill: float              # target fraction of the image spanned by the hand (larger side)
    truncated: bool          # keypoints were allowed to leave the frame


def _bbox(uv: np.ndarray) -> tuple[float, float, float, float]:
    return float(uv[:, 0].min()), float(uv[:, 1].min()), float(uv[:, 0].max()), float(uv[:, 1].max())


def _centred_translation(points: np.ndarray, K: np.ndarray, z: float, centre: np.ndarray) -> np.ndarray:
    """Translation at depth z whose projected bbox of ``points`` is centred on pixel ``centre``.

    At a fixed depth each projected coordinate is linear in the lateral shift, with slope f / depth
    of its point, so the bbox centre is piecewise linear in it: Newton steps with the slopes of
    the two extreme points land on it in a few steps."""
    t = np.array([0.0, 0.0, z])
    f = K[0, 0]
    depth = points[:, 2] + z
    for _ in range(8):
        uv = project(K, points + t)
        lo, hi = uv.argmin(0), uv.argmax(0)
        off = (uv[lo, [0, 1]] + uv[hi, [0, 1]]) / 2 - centre
        if np.abs(off).max() < 1e-3:
            break
        slope = f * (1.0 / depth[lo] + 1.0 / depth[hi]) / 2
        t[:2] -= off / slope
    return t


def place_camera(points_a: np.ndarray, points_b: np.ndarray, rng: np.random.Generator,
                 resolution: tuple[int, int], focal_mm: tuple[float, float] = (28.0, 85.0),
                 fill: tuple[float, float] = (0.55, 0.85), truncation: float = 0.0,
                 truncated_fill: tuple[float, float] = (0.9, 1.3)) -> CameraPlacement:
    """Frame both views. ``points_*`` are wrist-relative points (N, 3) already rotated into the
    camera orientation of each view (the points that must fit: keypoints and hand vertices)."""
    W, H = int(resolution[0]), int(resolution[1])
    pts = np.concatenate([np.asarray(points_a, np.float64), np.asarray(points_b, np.float64)])
    # A perspective projection maps the 3D convex hull onto the 2D hull of the projections (all
    # points are in front of the camera), so the hull's vertices give the exact image bbox.
    pts = pts[ConvexHull(pts).vertices]
    f_mm = float(rng.uniform(*focal_mm))
    K = intrinsics(f_mm / FULL_FRAME_WIDTH_MM * W, W, H)
    truncated = bool(rng.uniform() < truncation)
    target = float(rng.uniform(*(truncated_fill if truncated else fill)))
    centre = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    near = MIN_DEPTH_M - pts[:, 2].min()       # depth putting the nearest point at MIN_DEPTH_M

    def span(z, c):
        x0, y0, x1, y1 = _bbox(project(K, pts + _centred_translation(pts, K, z, c)))
        return max((x1 - x0) / W, (y1 - y0) / H)

    def solve_depth(c):
        lo, hi = near, near + 1.0
        while span(hi, c) > target:  # far enough that the hand is smaller than the target
            hi = hi * 2.0
        if span(lo, c) < target:     # even at the nearest allowed depth the hand is small: accept
            return lo
        # span decreases with depth (about as 1/z): a bracketing root finder, to 0.1 micron
        return brentq(lambda z: span(z, c) - target, lo, hi, xtol=1e-7)

    z = solve_depth(centre)
    x0, y0, x1, y1 = _bbox(project(K, pts + _centred_translation(pts, K, z, centre)))
    # random shift of the bbox centre within the slack left by the margin (when truncation is
    # allowed, up to 15 % of the image further, past the edge); then re-solve the depth there,
    # because off-axis the same depth gives a slightly different span under perspective
    margin = 0.0 if truncated else 0.02 * max(W, H)
    slack_x = max(0.0, (W - 1 - (x1 - x0)) / 2 - margin)
    slack_y = max(0.0, (H - 1 - (y1 - y0)) / 2 - margin)
    if truncated:
        slack_x, slack_y = slack_x + 0.15 * W, slack_y + 0.15 * H
    slack_x, slack_y = 0.97 * slack_x, 0.97 * slack_y  # room for the perspective change of the span
    c = centre + np.array([rng.uniform(-slack_x, slack_x), rng.uniform(-slack_y, slack_y)])
    z = solve_depth(c)
    t = _centred_translation(pts, K, z, c)
    return CameraPlacement(K=K, resolution=(W, H), wrist=t, focal_mm=f_mm, fill=target,
                           truncated=truncated)


def projects_outside_frame(points_cam: np.ndarray, K: np.ndarray, resolution: tuple[int, int],
                           margin_px: float = 2.0) -> bool:
    """Whether the convex region spanned by ``points_cam`` (all in front of the camera) projects
    wholly outside the image grown by ``margin_px``: some line separates its projected hull from
    the frame rectangle (separating axis test over the two convex polygons' edge normals). A
    perspective projection maps a convex region in front of the camera onto the convex hull of
    its points' projections, so the test is exact for the region, not only for the points."""
    pts = np.asarray(points_cam, np.float64)
    if (pts[:, 2] <= 0).any():
        raise ValueError("projects_outside_frame needs every point in front of the camera")
    uv = project(K, pts)
    W, H = resolution
    lo = np.array([-0.5 - margin_px, -0.5 - margin_px])
    hi = np.array([W - 0.5 + margin_px, H - 0.5 + margin_px])
    rect = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    try:
        hull = uv[ConvexHull(uv).vertices]
    except Exception:                           # degenerate (collinear) projections: the points themselves
        hull = uv
    axes = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    edges = np.roll(hull, -1, axis=0) - hull
    axes += [np.array([-e[1], e[0]]) for e in edges if np.linalg.norm(e) > 1e-12]
    if len(hull) <= 2 and len(hull) >= 1:       # a segment or point: its own normal too
        d = hull[-1] - hull[0]
        axes.append(np.array([-d[1], d[0]]) if np.linalg.norm(d) > 1e-12 else np.array([1.0, 1.0]))
    for a in axes:
        p, q = hull @ a, rect @ a
        if p.max() < q.min() or q.max() < p.min():
            return True
    return False


def in_frame(uv: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """Whether pixel coordinates fall on the image (pixel i covers [i - 0.5, i + 0.5))."""
    W, H = resolution
    uv = np.asarray(uv)
    return (uv[..., 0] >= -0.5) & (uv[..., 0] < W - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < H - 0.5)
