"""A pair's two views: orientations and one camera, each view keeping its kind's promise on the
posed, placed keypoints that are rendered.

Each view's orientation is drawn in its sight frame (generator.rotations) and turned to the real
line of sight, which depends on where the camera puts the hand: R = Q(d) S with Q(d) the smallest
rotation taking +z to d = X9 / |X9|. The camera is placed for (R_a, R_b), d is measured, and the
two are iterated to a fixed point (the camera's random draws are replayed each time, so only d
moves). Then every promise is checked with generator.conventions; a pair that misses one (rare:
a draw at the edge of its band, or an easy view whose keypoints left a truncated frame) is drawn
again from the next attempt's streams, so a sample stays a pure function of its seed.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from scipy.spatial import ConvexHull

from generator.camera import CameraPlacement, in_frame, projects_outside_frame
from generator.conventions import is_easy_view, is_hard_view, project, view_angles, view_vectors
from generator.rotations import ARM_AXIS, EDGE_DIRECTION, sight_orientation, towards, view_kinds

MAX_ATTEMPTS = 64
FIXED_POINT_ITERATIONS = 12
FIXED_POINT_TOL = 1e-5               # change of the line of sight (unit vector, ~6e-4 deg) per iteration
NATURAL_IMAGE_TOL_DEG = 5.0          # image direction vs the sight-frame direction off the centre
ARM_MIN_DEPTH_M = 0.03               # no arm point nearer the camera (no near-plane cut through it)
ARM_END_MARGIN_PX = 2.0              # the arm's end region stays this far outside the frame


@dataclasses.dataclass
class ArmRegion:
    """The arm's points, wrist-relative in the canonical frame: all of them (for the depth limit)
    and its end region (the last END_LENGTH_M and the cap: never in frame)."""
    points: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, batch, arm, vertices=None) -> "ArmRegion | None":
        """From a posed HandBatch of one and its model's generator.hand.arm.Arm (None: no arm);
        ``vertices`` (V, 3), canonical frame, replace the batch's (the arm grown by a sleeve). A
        capped wrist (no rings) has nothing to hide: its cap is the hand's own end."""
        if arm is None or not arm.rings:
            return None
        from generator.hand.base import PART_INDEX
        v = batch.vertices[0] if vertices is None else vertices
        v = np.asarray(v, np.float64) - batch.keypoints[0, 0].astype(np.float64)
        return cls(points=v[np.asarray(batch.parts) == PART_INDEX["forearm"]], end=v[arm.end_vertices])

    def kept_out(self, R: np.ndarray, camera: CameraPlacement) -> bool:
        """Whether, turned by R and placed, the arm stays deeper than ARM_MIN_DEPTH_M and its end
        region projects wholly outside the frame."""
        if (self.points @ R.T + camera.wrist)[:, 2].min() < ARM_MIN_DEPTH_M:
            return False
        return projects_outside_frame(self.end @ R.T + camera.wrist, camera.K, camera.resolution,
                                      ARM_END_MARGIN_PX)


@dataclasses.dataclass
class PairViews:
    R_a: np.ndarray
    R_b: np.ndarray
    camera: CameraPlacement
    kinds: tuple[str, str]
    details: tuple[dict, dict]       # per view: arm_edge and facing of natural views
    attempt: int                     # which attempt's streams gave this pair (0 almost always)

    @property
    def R_ab(self) -> np.ndarray:
        return self.R_b @ self.R_a.T


def placed_keypoints(keypoints: np.ndarray, R: np.ndarray, wrist: np.ndarray) -> np.ndarray:
    """Canonical posed keypoints (21, 3) rotated about the wrist by R and moved to ``wrist``."""
    kp = np.asarray(keypoints, np.float64)
    return (kp - kp[0]) @ np.asarray(R).T + np.asarray(wrist)


def arm_image_direction(kp_cam: np.ndarray, R: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Unit image direction (u, v) in which the forearm leaves the wrist's pixel."""
    x0 = kp_cam[0]
    u = np.asarray(R) @ ARM_AXIS
    duv = project(K, x0 + 1e-4 * u) - project(K, x0)
    return duv / np.linalg.norm(duv)


def arm_elevation_deg(kp_cam: np.ndarray, R: np.ndarray) -> float:
    """Angle of the forearm out of the plane across the line of sight (positive: toward the camera)."""
    s = kp_cam[9] / np.linalg.norm(kp_cam[9])
    return float(np.degrees(np.arcsin(np.clip(-np.dot(np.asarray(R) @ ARM_AXIS, s), -1.0, 1.0))))


def keeps_promise(kind: str, kp_cam: np.ndarray, R: np.ndarray, camera: CameraPlacement, cfg,
                  details: dict | None = None) -> bool:
    """Whether one placed view meets its kind's promise (see generator.rotations)."""
    if kind == "uniform":
        return True
    if kind == "hard":
        return is_hard_view(kp_cam, cfg.edge_on_deg, cfg.axial_deg)
    if kind == "easy":
        inside = bool(in_frame(project(camera.K, kp_cam), camera.resolution).all())
        return is_easy_view(kp_cam, inside, cfg.easy_palm_deg)
    if kind == "natural":
        lo, hi = cfg.natural_elevation_deg
        if not lo - 1e-6 <= arm_elevation_deg(kp_cam, R) <= hi + 1e-6:
            return False
        off = np.degrees(np.arccos(np.clip(
            np.dot(arm_image_direction(kp_cam, R, camera.K), EDGE_DIRECTION[details["arm_edge"]]), -1, 1)))
        return off <= cfg.natural_spread_deg + NATURAL_IMAGE_TOL_DEG
    raise ValueError(f"view kind {kind!r}")


def draw_pair_views(rng_for: Callable[[str, int], np.random.Generator], cfg, keypoints: np.ndarray,
                    fit_points: np.ndarray,
                    place: Callable[[np.ndarray, np.ndarray, np.random.Generator], CameraPlacement],
                    arm: ArmRegion | None = None) -> PairViews:
    """Orientations and camera of a pair.

    rng_for(stream, attempt): the sample's random stream ("rotation", "camera") for an attempt.
    cfg: the job's rotation section. keypoints: posed canonical keypoints (21, 3). fit_points:
    wrist-relative canonical points that must fit the frame. place(points_a, points_b, rng)
    frames both views (camera.place_camera with the job's camera section). arm: when given,
    both views also keep the arm's end out of frame (ArmRegion.kept_out)."""
    kp = np.asarray(keypoints, np.float64)
    normal, finger, _ = view_vectors(kp)
    fit = np.asarray(fit_points, np.float64)
    fit = fit[ConvexHull(fit).vertices]     # rotations keep hull vertices: place_camera needs no more
    # the kinds are drawn once per pair: were they redrawn with each attempt, the kinds that are
    # harder to frame (hard views with the arm's end out of frame) would come out less often
    kinds = view_kinds(rng_for("view_kinds", 0), cfg.mode, cfg.hard_fraction)
    for attempt in range(MAX_ATTEMPTS):
        r = rng_for("rotation", attempt)
        S, details = [], []
        for kind in kinds:
            s, d = sight_orientation(r, kind, cfg, normal, finger)
            S.append(s)
            details.append(d)
        # a uniform view is uniform in any frame: it needs no line of sight
        Q = [np.eye(3), np.eye(3)]
        sight = [None, None]
        for _ in range(FIXED_POINT_ITERATIONS):
            R = [Q[i] @ S[i] for i in range(2)]
            cam = place(fit @ R[0].T, fit @ R[1].T, rng_for("camera", attempt))
            placed = [placed_keypoints(kp, R[i], cam.wrist) for i in range(2)]
            moved = 0.0
            for i in range(2):
                if kinds[i] == "uniform":
                    continue
                d = placed[i][9] / np.linalg.norm(placed[i][9])
                moved = max(moved, np.inf if sight[i] is None else float(np.abs(d - sight[i]).max()))
                sight[i], Q[i] = d, towards(d)
            if moved <= FIXED_POINT_TOL:
                break
            if arm is not None and not all(arm.kept_out(R[i], cam) for i in range(2)):
                break            # the turn to the line of sight is small: do not refine a lost cause
        if all(keeps_promise(kinds[i], placed[i], R[i], cam, cfg, details[i])
               and (arm is None or arm.kept_out(R[i], cam)) for i in range(2)):
            return PairViews(R_a=R[0], R_b=R[1], camera=cam, kinds=kinds, details=tuple(details),
                             attempt=attempt)
    raise RuntimeError(f"rotation.mode {cfg.mode!r}: no pair of views met its promise in {MAX_ATTEMPTS} "
                       "attempts (with the arm's end out of frame); widen rotation.edge_on_deg / axial_deg / "
                       "easy_palm_deg or the camera ranges, or lengthen hand.forearm_length")


def view_report(keypoints_cam: np.ndarray) -> dict:
    """The view angles of one placed view, as written into the annotations."""
    palm, finger = view_angles(keypoints_cam)
    return {"palm_deg": round(palm, 4), "finger_deg": round(finger, 4)}
