"""The hand-model interface shared by the anny and MANO backends.

Canonical hand frame (the frame every backend returns, before any camera or global rotation):
origin at the wrist keypoint, +y from the wrist toward the middle-finger MCP, +z out of the palm
(palmar normal), +x = y x z (radial, toward the thumb, for a right hand). A left hand is the
mirror image x -> -x of the right hand, with faces re-wound so normals still point outward.

Pose: ``(B, len(JOINTS), 3)`` angles in degrees per joint, ordered (flexion, abduction, twist):
flexion curls toward the palm, abduction turns about the palm normal (positive = radial, toward
the thumb), twist turns about the bone. Limits and their sources: ``generator.hand.limits``.
"""
from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

# Posable joints, proximal to distal per finger. "*_cmc" of the four fingers is the
# carpometacarpal joint (palm cupping); "wrist" bends the hand against the forearm.
JOINTS: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip",
    "index_cmc", "index_mcp", "index_pip", "index_dip",
    "middle_cmc", "middle_mcp", "middle_pip", "middle_dip",
    "ring_cmc", "ring_mcp", "ring_pip", "ring_dip",
    "little_cmc", "little_mcp", "little_pip", "little_dip",
)
NUM_JOINTS = len(JOINTS)
ANGLES = ("flexion", "abduction", "twist")

# Per-vertex part labels (what the texture builder and penetration test need).
PARTS: tuple[str, ...] = (
    "palm", "dorsum", "forearm",
    "thumb_proximal", "thumb_middle", "thumb_distal",
    "index_proximal", "index_middle", "index_distal",
    "middle_proximal", "middle_middle", "middle_distal",
    "ring_proximal", "ring_middle", "ring_distal",
    "little_proximal", "little_middle", "little_distal",
    "nail",
)
PART_INDEX = {name: i for i, name in enumerate(PARTS)}


@dataclasses.dataclass
class HandBatch:
    """A batch of posed hands of one side, in the canonical hand frame, metres."""

    vertices: np.ndarray      # (B, V, 3) float32
    faces: np.ndarray         # (F, 3) int32, outward winding for this side
    uvs: np.ndarray           # (F, 3, 2) float32 per-corner UVs in [0, 1]; the hand fills the square
    keypoints: np.ndarray     # (B, 21, 3) float32, conventions.KEYPOINT_NAMES order
    parts: np.ndarray         # (V,) int8 indices into PARTS
    pose: np.ndarray          # (B, NUM_JOINTS, 3) float32 joint angles in degrees
    shape: list[dict]         # per-sample shape parameters (backend specific names)
    side: str                 # "right" or "left"
    model: str                # "anny" or "mano"

    def __len__(self) -> int:
        return len(self.vertices)


class HandModel(Protocol):
    """What the rest of CycleHand needs of a hand model."""

    name: str                 # "anny" | "mano"
    shape_names: tuple[str, ...]

    def default_shape(self) -> dict: ...

    def sample_shape(self, rng: np.random.Generator) -> dict: ...

    def forward(self, pose: np.ndarray, shapes: list[dict] | dict | None = None,
                side: str = "right") -> HandBatch: ...

    def rig(self, shapes: list[dict]) -> "HandRig": ...


class HandRig(Protocol):
    """Right hands of fixed shapes, posed cheaply and repeatedly (the sampler's contact
    resolution): the same vertices as HandModel.forward for the same pose and shape."""

    def vertices(self, pose: np.ndarray, rows, subset=None) -> np.ndarray:
        """(B, V or len(subset), 3) float64 vertices of poses (B, 20, 3) on shapes `rows`."""


def checked_pose(pose, side: str) -> np.ndarray:
    """The (B, 20, 3) degree pose array both backends take (a single (20, 3) pose gets B = 1)."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim == 2:
        pose = pose[None]
    if pose.ndim != 3 or pose.shape[1:] != (len(JOINTS), 3):
        raise ValueError(f"pose must have shape (B, {len(JOINTS)}, 3) degrees, got {pose.shape}")
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return pose


def broadcast_shapes(shapes, default: dict, batch: int, model: str) -> list[dict]:
    """None / one dict / a list of dicts -> one dict per pose, rejecting unknown parameter names."""
    if shapes is None:
        shapes = default
    if isinstance(shapes, dict):
        shapes = [shapes] * batch
    if len(shapes) != batch:
        raise ValueError(f"got {len(shapes)} shapes for a batch of {batch} poses")
    for s in shapes:
        unknown = set(s) - set(default)
        if unknown:
            raise ValueError(f"unknown {model} shape parameter(s) {sorted(unknown)}; known: {sorted(default)}")
    return list(shapes)


def mirror_faces(faces: np.ndarray) -> np.ndarray:
    """Re-wind triangles so that a mirrored mesh keeps outward normals."""
    return np.ascontiguousarray(faces[:, ::-1])


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Right hand -> left hand in the canonical frame: x -> -x."""
    out = np.array(points, copy=True)
    out[..., 0] *= -1
    return out


def sided_batch(side: str, *, vertices, keypoints, faces, uvs, **rest) -> HandBatch:
    """A right hand's arrays as a HandBatch of `side`: a left hand is their mirror image, its
    triangles re-wound and each triangle's UV corners reordered to match."""
    if side == "left":
        vertices, keypoints = mirror_points(vertices), mirror_points(keypoints)
        faces, uvs = mirror_faces(faces), np.ascontiguousarray(uvs[:, ::-1])
    return HandBatch(vertices=vertices.astype(np.float32), faces=faces, uvs=uvs,
                     keypoints=keypoints.astype(np.float32), side=side, **rest)
