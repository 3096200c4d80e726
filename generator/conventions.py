"""The one place for CycleHand's shared conventions (see docs/FORMAT.md and shared CONVENTIONS.md).

- Keypoints: 21 joints in FreiHAND / OpenPose order, parents below.
- 3D in metres; camera frame is OpenCV (x right, y down, z forward).
- Pixels: the centre of the top-left pixel is (0, 0); a centred principal point is ((W-1)/2, (H-1)/2).
- Seeds: every random draw comes from ``rng(seed, index, stream)``, so a sample is a pure function
  of (job seed, sample index) and independent streams never share state.
"""
from __future__ import annotations

import hashlib

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
# Parent of each keypoint: 0 for the first joint of each finger, otherwise index - 1.
KEYPOINT_PARENTS: tuple[int, ...] = tuple(
    -1 if i == 0 else (0 if (i - 1) % 4 == 0 else i - 1) for i in range(NUM_KEYPOINTS)
)
# Keypoint indices of each finger, base to tip.
FINGER_KEYPOINTS: dict[str, tuple[int, ...]] = {
    f: tuple(range(1 + 4 * k, 5 + 4 * k)) for k, f in enumerate(FINGERS)
}
TIP_KEYPOINTS: tuple[int, ...] = tuple(v[-1] for v in FINGER_KEYPOINTS.values())
SIDES = ("right", "left")


def bones() -> list[tuple[int, int]]:
    """(parent, child) pairs of the keypoint skeleton, for drawing and bone-length priors."""
    return [(p, c) for c, p in enumerate(KEYPOINT_PARENTS) if p >= 0]


# --- camera and pixels -------------------------------------------------------------------------

def intrinsics(focal_px: float, width: int, height: int) -> np.ndarray:
    """Pinhole K with square pixels and the principal point at the image centre."""
    return np.array(
        [[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
    )


def project(K: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) to pixel coordinates (..., 2): uv = (K X)[:2] / (K X)[2]."""
    X = np.asarray(X, dtype=np.float64)
    p = X @ np.asarray(K, dtype=np.float64).T
    return p[..., :2] / p[..., 2:3]


def unproject(K: np.ndarray, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Inverse of ``project`` for points at camera-frame depth z."""
    uv = np.asarray(uv, dtype=np.float64)
    ones = np.ones(uv.shape[:-1] + (1,))
    rays = np.concatenate([uv, ones], axis=-1) @ np.linalg.inv(K).T
    return rays * np.asarray(depth, dtype=np.float64)[..., None]


# OpenCV camera frame -> Blender camera frame (x right, y up, looking down -z).
CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])


# --- views: how the posed, placed hand faces the camera -----------------------------------------
# One definition for the generator's rotation modes and the trainer's metrics, on the keypoints
# that are rendered (camera frame), so wrist flexion and the hand's place in the image count:
#   palm normal   n = (X5 - X0) x (X17 - X0)   (for a right hand it points out of the palm)
#   finger line   f = X9 - X0
#   line of sight s = X9 / |X9|                (from the camera centre, the origin, to X9)

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def view_vectors(keypoints_cam):
    """(n, f, s): unit palm normal, finger line and line of sight of keypoints (..., 21, 3)."""
    X = np.asarray(keypoints_cam, dtype=np.float64)
    if X.shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape (..., {NUM_KEYPOINTS}, 3), got {X.shape}")
    n = _unit(np.cross(X[..., 5, :] - X[..., 0, :], X[..., 17, :] - X[..., 0, :]))
    f = _unit(X[..., 9, :] - X[..., 0, :])
    return n, f, _unit(X[..., 9, :])


def _deg(cos):
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _scalar_or_array(x):
    return float(x) if np.ndim(x) == 0 else x


def view_angles(keypoints_cam):
    """(palm_deg, finger_deg) of (21, 3) camera-frame keypoints (or (..., 21, 3): arrays).

    palm_deg in [0, 90]: angle between the palm-normal line and the line of sight (0 = palm or
    back faces the camera, 90 = edge-on). finger_deg in [0, 90]: angle between the finger line
    X9 - X0 and the line of sight (0 = fingers point at or away from the camera)."""
    n, f, s = view_vectors(keypoints_cam)
    palm = _deg(np.abs(np.sum(n * s, axis=-1)))
    finger = _deg(np.abs(np.sum(f * s, axis=-1)))
    return _scalar_or_array(palm), _scalar_or_array(finger)


def palm_facing_deg(keypoints_cam, side="right"):
    """Signed version of palm_deg in [0, 180]: angle between the palm's outward normal and the
    direction from X9 toward the camera (0 = palm faces the camera, 180 = the back does). A left
    hand is mirrored, so its cross product points out of the dorsum and is flipped. ``side`` may
    be an array matching the leading dimensions."""
    n, _, s = view_vectors(keypoints_cam)
    sign = np.where(np.asarray(side) == "left", -1.0, 1.0)
    return _scalar_or_array(_deg(-np.sum(n * s, axis=-1) * sign))


def is_easy_view(keypoints_cam, all_in_frame, max_palm_deg: float = 45.0):
    """Palm or back within ``max_palm_deg`` of the line of sight, and every keypoint in frame."""
    palm, _ = view_angles(keypoints_cam)
    out = (np.asarray(palm) <= max_palm_deg) & np.asarray(all_in_frame, dtype=bool)
    return bool(out) if np.ndim(out) == 0 else out


def is_hard_view(keypoints_cam, edge_on_deg: float = 15.0, axial_deg: float = 30.0):
    """Edge-on palm (palm_deg >= 90 - edge_on_deg) or fingers along the line of sight
    (finger_deg <= axial_deg)."""
    palm, finger = view_angles(keypoints_cam)
    out = (np.asarray(palm) >= 90.0 - edge_on_deg) | (np.asarray(finger) <= axial_deg)
    return bool(out) if np.ndim(out) == 0 else out


# --- seeds ---------------------------------------------------------------------------------------

def rng(seed: int, index: int = 0, stream: str = "") -> np.random.Generator:
    """Independent, reproducible random stream for (seed, index, stream name).

    The stream name keeps e.g. pose and lighting draws independent: adding a lighting parameter
    never changes the poses of an existing job.
    """
    tag = int.from_bytes(hashlib.blake2b(stream.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), tag]))


def derive_seed(seed: int, index: int, stream: str = "sample") -> int:
    """A single 63-bit integer seed that reproduces sample ``index`` of a job seeded ``seed``."""
    return int(rng(seed, index, stream).integers(0, 2**63 - 1))
