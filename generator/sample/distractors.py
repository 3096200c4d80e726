"""Distractors and occluders: a few textured primitives (kinds ``distractor``: box, sphere,
cylinder) placed in the scene, in front of the hand (they hide part of it) or behind it.

They belong to the scene, not to the hand: one set per pair, at the same camera-frame place in
views a and b (only the hand and its arm turn by R_ab). Each is kept clear of the hand and arm
in both views by its bounding sphere: an occluder lies wholly nearer to the camera than the
nearest hand or arm point, a background object wholly farther than the farthest.
"""
from __future__ import annotations

import numpy as np

from generator.conventions import project
from generator.sample import kinds
from generator.sample.palette import natural_palette

GAP_M = 0.01          # clearance between an object's bounding sphere and the hand or arm
NEAR_M = 0.05         # nothing nearer to the camera than this
MAX_IMAGE_FRACTION = 0.2    # an occluder's image radius at most this share of the image width
COVER = (0.05, 0.5)   # an occluder covers at least the first and at most the second share of
                      # the hand's points in one view, and at most the second in the other
TRIES = 6


def _back_project(K, uv, z) -> np.ndarray:
    return np.array([(uv[0] - K[0, 2]) * z / K[0, 0], (uv[1] - K[1, 2]) * z / K[1, 1], z])


def _covered(K, points, centre, radius) -> float:
    """Share of ``points`` whose image falls inside the image disk of a sphere (centre, radius)."""
    uv = project(K, points)
    c = project(K, centre[None])[0]
    return float(np.mean(np.linalg.norm(uv - c, axis=1) < K[0, 0] * radius / centre[2]))


def place(rng: np.random.Generator, stage: kinds.Stage, radius: float, in_front: bool):
    """(position (3,), in_front) for an object of bounding radius ``radius``. An occluder is aimed
    near a random hand point of view a or b and kept only if it hides part of the hand, not all
    of it, in both views (COVER); when no such place is found in front of the hand it goes
    behind instead."""
    K = np.asarray(stage.K, np.float64)
    W, H = stage.resolution
    pts = np.concatenate([stage.points_a, stage.points_b])
    z_near, z_far = float(pts[:, 2].min()), float(pts[:, 2].max())
    if in_front:
        z_hi = z_near - radius - GAP_M
        z_lo = max(NEAR_M + radius, K[0, 0] * radius / (MAX_IMAGE_FRACTION * W), 0.4 * z_hi)
        for _ in range(TRIES if z_lo < z_hi else 0):
            z = rng.uniform(z_lo, z_hi)
            view = stage.points_a if rng.uniform() < 0.5 else stage.points_b
            uv = project(K, view[int(rng.integers(len(view)))][None])[0]
            direction = rng.normal(size=2)
            uv = uv + direction / np.linalg.norm(direction) * K[0, 0] * radius / z * rng.uniform(0.3, 1.0)
            centre = _back_project(K, uv, z)
            cover = sorted(_covered(K, p, centre, radius) for p in (stage.points_a, stage.points_b))
            if cover[1] >= COVER[0] and cover[1] <= COVER[1]:
                return centre, True
    z = z_far + radius + GAP_M + rng.uniform(0.0, 0.6) * z_far
    uv = rng.uniform([-0.1 * W, -0.1 * H], [1.1 * W, 1.1 * H])
    return _back_project(K, uv, z), False


def draw_distractors(section, rng: np.random.Generator, stage: kinds.Stage) -> list[dict]:
    """The pair's distractors (often none): kind, shape, rotation, position, material."""
    if rng.uniform() >= section.probability:
        return []
    out = []
    for _ in range(int(rng.integers(int(section.count[0]), int(section.count[1]) + 1))):
        spec = getattr(section, kinds.choose(rng, section.kinds))
        obj = spec.draw(rng, stage)
        position, in_front = place(rng, stage, obj["radius"], rng.uniform() < section.in_front)
        palette = natural_palette(rng, 2, lightness=(20.0, 85.0))
        obj.update(position=[float(x) for x in position], in_front=bool(in_front),
                   colors=[[round(float(c), 4) for c in rgb] for rgb in palette],
                   texture_scale=round(float(rng.uniform(2.0, 30.0)), 3),
                   roughness=round(float(rng.uniform(0.2, 0.9)), 3))
        out.append(obj)
    return out
