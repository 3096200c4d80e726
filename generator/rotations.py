"""Hand orientations in the camera frame: uniform over SO(3), or "hard views".

A rotation R maps the canonical hand frame (generator.hand.base: +y wrist -> middle MCP, +z palmar
normal, +x = y x z) into the OpenCV camera frame, whose optical axis is +z. So the hand's finger
direction in the camera is R[:, 1] and its palm normal is R[:, 2].

Hard views (what hand-pose estimators get wrong most) are defined by those two axes against the
optical axis:
- "edge_on": the palm plane contains the line of sight to within ``edge_on_deg``:
  |palm_normal . z| <= sin(edge_on_deg). The fingers overlap each other in depth.
- "axial": the fingers point along the optical axis (at or away from the camera) to within
  ``axial_deg``: |finger_dir . z| >= cos(axial_deg). Foreshortened fingers hide each other.
Both are sampled uniformly within their region of SO(3) (uniform direction on the allowed band/cap
of the sphere, then a uniform angle about it), so nothing else about the view is biased.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

MODES = ("uniform", "hard", "mixed")
OPTICAL_AXIS = np.array([0.0, 0.0, 1.0])


def uniform_rotation(rng: np.random.Generator) -> np.ndarray:
    """A Haar-uniform rotation matrix (3, 3)."""
    return Rotation.random(random_state=rng).as_matrix()


def _unit_perpendicular(v: np.ndarray, angle: float) -> np.ndarray:
    """Unit vector perpendicular to unit v, at ``angle`` about v from a fixed reference."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(v, ref)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(v, e1)
    return np.cos(angle) * e1 + np.sin(angle) * e2


def _frame(finger: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Rotation whose columns are the canonical hand axes (x = y cross z, y = finger, z = normal)."""
    return np.stack([np.cross(finger, normal), finger, normal], axis=1)


def _direction_in_band(rng: np.random.Generator, zmin: float, zmax: float) -> np.ndarray:
    """Uniform direction on the sphere with zmin <= z <= zmax (area-uniform: z is uniform)."""
    z = rng.uniform(zmin, zmax)
    phi = rng.uniform(0.0, 2 * np.pi)
    r = np.sqrt(max(0.0, 1.0 - z * z))
    return np.array([r * np.cos(phi), r * np.sin(phi), z])


def hard_rotation(rng: np.random.Generator, edge_on_deg: float = 15.0, axial_deg: float = 30.0,
                  edge_on_prob: float = 0.5) -> np.ndarray:
    """A rotation from the hard-view distribution (see module doc)."""
    if rng.uniform() < edge_on_prob:
        s = np.sin(np.radians(edge_on_deg))
        normal = _direction_in_band(rng, -s, s)
        finger = _unit_perpendicular(normal, rng.uniform(0.0, 2 * np.pi))
    else:
        c = np.cos(np.radians(axial_deg))
        finger = _direction_in_band(rng, c, 1.0) * (1.0 if rng.uniform() < 0.5 else -1.0)
        # the sign flip above also flips x, y of the band point: still uniform on the cap
        normal = _unit_perpendicular(finger, rng.uniform(0.0, 2 * np.pi))
    return _frame(finger, normal)


def view_angles(R: np.ndarray) -> dict[str, float]:
    """How a hand orientation faces the camera, in degrees.

    palm_tilt: angle between the palm plane and the line of sight (0 = edge-on, 90 = facing).
    finger_axis: angle between the finger direction and the optical axis line (0 = pointing at or
    away from the camera, 90 = across the image).
    """
    R = np.asarray(R, dtype=np.float64)
    n_z = abs(float(R[2, 2]))
    d_z = abs(float(R[2, 1]))
    return {"palm_tilt": float(np.degrees(np.arcsin(min(1.0, n_z)))),
            "finger_axis": float(np.degrees(np.arccos(min(1.0, d_z))))}


def is_hard_view(R: np.ndarray, edge_on_deg: float = 15.0, axial_deg: float = 30.0) -> bool:
    a = view_angles(R)
    return a["palm_tilt"] <= edge_on_deg + 1e-9 or a["finger_axis"] <= axial_deg + 1e-9


def sample_view_rotation(rng: np.random.Generator, mode: str, hard_fraction: float = 0.5,
                         edge_on_deg: float = 15.0, axial_deg: float = 30.0) -> np.ndarray:
    """One hand orientation for a view: "uniform", "hard", or "mixed" (hard with hard_fraction)."""
    if mode not in MODES:
        raise ValueError(f"rotation mode {mode!r}: expected one of {', '.join(MODES)}")
    hard = mode == "hard" or (mode == "mixed" and rng.uniform() < hard_fraction)
    if hard:
        return hard_rotation(rng, edge_on_deg, axial_deg)
    return uniform_rotation(rng)


def sample_pair_rotations(rng: np.random.Generator, mode: str, hard_fraction: float = 0.5,
                          edge_on_deg: float = 15.0, axial_deg: float = 30.0):
    """(R_a, R_b, R_ab) with R_b = R_ab R_a: each view's orientation drawn independently from the
    mode's distribution, so in "uniform" mode R_ab is itself Haar-uniform and in "hard" mode both
    views are hard."""
    R_a = sample_view_rotation(rng, mode, hard_fraction, edge_on_deg, axial_deg)
    R_b = sample_view_rotation(rng, mode, hard_fraction, edge_on_deg, axial_deg)
    R_ab = R_b @ R_a.T
    return R_a, R_b, R_ab


def angle_deg(R: np.ndarray) -> float:
    """Rotation angle of R in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))
