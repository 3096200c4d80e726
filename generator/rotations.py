"""Hand orientations of a cyclic pair's views, drawn relative to the line of sight.

A rotation R maps the canonical hand frame (generator.hand.base: +y wrist -> middle MCP at rest,
+z palmar normal, forearm along -y) into the OpenCV camera frame. Each view of a pair has a
*kind*, and the kind is a promise about the posed, placed hand that is rendered, judged by the
one view definition in generator.conventions (palm normal (X5-X0)x(X17-X0), finger X9-X0, line
of sight from the camera centre to X9):

- ``uniform``: Haar-uniform over SO(3); no promise.
- ``hard``: edge-on palm (palm normal within ``edge_on_deg`` of perpendicular to the line of
  sight) or fingers along the line of sight (within ``axial_deg``), half each.
- ``easy``: palm or back within ``easy_palm_deg`` of the line of sight (all keypoints in frame is
  the camera's part).
- ``natural``: the forearm leaves the hand toward a frame edge (``natural_edges`` weights, bottom
  most often), at most ``natural_spread_deg`` off that edge's outward direction in the image, at
  an elevation out of the image plane in ``natural_elevation_deg`` (positive: elbow toward the
  camera); palm, back and side views in ``natural_facing`` proportions.

Kinds are drawn in a "sight frame" whose z axis is the line of sight, so they are exact for the
posed hand's own axes (wrist flexion and deviation included); generator.views turns a sight
frame orientation S into the camera orientation Q S once the camera is placed. Pair modes (job
key ``rotation.mode``) give the kinds of views a and b; R_ab = R_b R_a^T always.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

MODES = ("uniform", "hard", "mixed", "natural", "easy_hard")
VIEW_KINDS = ("uniform", "hard", "easy", "natural")
ARM_EDGES = ("bottom", "left", "right", "top")
FACINGS = ("palm", "back", "side")
# Outward direction of each frame edge in the image (u right, v down) and in the sight frame.
EDGE_DIRECTION = {"bottom": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0), "top": (0.0, -1.0)}
ARM_AXIS = np.array([0.0, -1.0, 0.0])       # canonical frame: wrist -> elbow
REST_PALMAR = np.array([0.0, 0.0, 1.0])     # canonical frame: out of the palm (both sides)
Z = np.array([0.0, 0.0, 1.0])


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def uniform_rotation(rng: np.random.Generator) -> np.ndarray:
    """A Haar-uniform rotation matrix (3, 3)."""
    return Rotation.random(random_state=rng).as_matrix()


def align(a_src, b_src, a_dst, b_dst) -> np.ndarray:
    """The rotation taking a_src to the direction a_dst and b_src into the half plane of
    (a_dst, b_dst): exact for both when the angle a_src^b_src equals a_dst^b_dst."""
    def frame(a, b):
        e1 = _unit(a)
        e2 = _unit(np.asarray(b, np.float64) - (np.dot(b, e1)) * e1)
        return np.stack([e1, e2, np.cross(e1, e2)], axis=1)
    return frame(a_dst, b_dst) @ frame(a_src, b_src).T


def towards(d) -> np.ndarray:
    """The smallest rotation taking +z to the unit direction d."""
    d = _unit(d)
    axis = np.cross(Z, d)
    s, c = np.linalg.norm(axis), float(np.clip(d[2], -1.0, 1.0))
    if s < 1e-15:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def _perpendicular(v: np.ndarray, angle: float) -> np.ndarray:
    """Unit vector perpendicular to unit v, at ``angle`` about v from a fixed reference."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = _unit(np.cross(v, ref))
    e2 = np.cross(v, e1)
    return np.cos(angle) * e1 + np.sin(angle) * e2


def _on_cone(axis: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at ``angle`` (radians) from unit ``axis``, uniform in azimuth."""
    return np.cos(angle) * axis + np.sin(angle) * _perpendicular(axis, rng.uniform(0.0, 2 * np.pi))


def _direction_in_band(rng: np.random.Generator, zmin: float, zmax: float) -> np.ndarray:
    """Uniform direction on the sphere with zmin <= z <= zmax (area-uniform: z is uniform)."""
    z = rng.uniform(zmin, zmax)
    phi = rng.uniform(0.0, 2 * np.pi)
    r = np.sqrt(max(0.0, 1.0 - z * z))
    return np.array([r * np.cos(phi), r * np.sin(phi), z])


def _choice(rng: np.random.Generator, weights: dict) -> str:
    keys = [k for k in weights if weights[k] > 0]
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


# --- one view's orientation in the sight frame (z = line of sight) ---------------------------------
# ``normal`` and ``finger`` are the posed hand's unit palm normal and finger line in the canonical
# frame (conventions.view_vectors of the posed keypoints), so the promise holds for the hand as posed.

def hard_orientation(rng, normal, finger, edge_on_deg=15.0, axial_deg=30.0, edge_on_prob=0.5):
    beta = np.arccos(np.clip(np.dot(normal, finger), -1.0, 1.0))
    if rng.uniform() < edge_on_prob:
        s = np.sin(np.radians(edge_on_deg))
        n = _direction_in_band(rng, -s, s)
        return align(normal, finger, n, _on_cone(n, beta, rng))
    c = np.cos(np.radians(axial_deg))
    # the sign flip also flips x, y of the cap point: still uniform on the cap
    f = _direction_in_band(rng, c, 1.0) * (1.0 if rng.uniform() < 0.5 else -1.0)
    return align(finger, normal, f, _on_cone(f, beta, rng))


def easy_orientation(rng, normal, finger, easy_palm_deg=45.0):
    beta = np.arccos(np.clip(np.dot(normal, finger), -1.0, 1.0))
    n = _direction_in_band(rng, np.cos(np.radians(easy_palm_deg)), 1.0) * (1.0 if rng.uniform() < 0.5 else -1.0)
    return align(normal, finger, n, _on_cone(n, beta, rng))


def natural_orientation(rng, edges: dict, facing: dict, elevation_deg=(-30.0, 45.0), spread_deg=40.0):
    """(S, edge, facing): the forearm toward ``edge``, the rest palm rolled to ``facing``."""
    edge = _choice(rng, edges)
    du, dv = EDGE_DIRECTION[edge]
    phi = np.arctan2(dv, du) + np.radians(rng.uniform(-spread_deg, spread_deg))
    elev = np.radians(rng.uniform(*elevation_deg))
    u = np.cos(elev) * np.array([np.cos(phi), np.sin(phi), 0.0]) - np.sin(elev) * Z   # wrist -> elbow
    # roll about the forearm: psi = 0 turns the rest palm as far toward the camera as it goes
    p1 = _unit(-Z - np.dot(-Z, u) * u)
    p2 = np.cross(u, p1)
    kind = _choice(rng, facing)
    centre = {"palm": 0.0, "back": 180.0, "side": 90.0 if rng.uniform() < 0.5 else -90.0}[kind]
    psi = np.radians(centre + rng.uniform(-45.0, 45.0))
    palmar = np.cos(psi) * p1 + np.sin(psi) * p2
    return align(ARM_AXIS, REST_PALMAR, u, palmar), edge, kind


def view_kinds(rng: np.random.Generator, mode: str, hard_fraction: float = 0.5) -> tuple[str, str]:
    """The kinds of views a and b for a pair mode."""
    if mode not in MODES:
        raise ValueError(f"rotation mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "mixed":
        return tuple("hard" if rng.uniform() < hard_fraction else "uniform" for _ in range(2))
    return {"uniform": ("uniform", "uniform"), "hard": ("hard", "hard"),
            "natural": ("natural", "uniform"), "easy_hard": ("easy", "hard")}[mode]


def sight_orientation(rng, kind: str, cfg, normal, finger) -> tuple[np.ndarray, dict]:
    """(S, details) for one view of ``kind``; ``cfg`` carries the job's rotation section fields."""
    if kind == "uniform":
        return uniform_rotation(rng), {}
    if kind == "hard":
        return hard_orientation(rng, normal, finger, cfg.edge_on_deg, cfg.axial_deg), {}
    if kind == "easy":
        return easy_orientation(rng, normal, finger, cfg.easy_palm_deg), {}
    if kind == "natural":
        S, edge, facing = natural_orientation(rng, cfg.natural_edges, cfg.natural_facing,
                                              cfg.natural_elevation_deg, cfg.natural_spread_deg)
        return S, {"arm_edge": edge, "facing": facing}
    raise ValueError(f"view kind {kind!r}: expected one of {', '.join(VIEW_KINDS)}")


def angle_deg(R: np.ndarray) -> float:
    """Rotation angle of R in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))
