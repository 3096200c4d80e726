"""Canonical hand frame and anatomical joint frames, shared by the anny and MANO backends.

Both backends must agree on what "wrist at origin, +y to the middle MCP, +z palmar" and
"flexion / abduction / twist" mean, so both build their frames here from their own skeletons.
"""
from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def canonical_frame(wrist: np.ndarray, middle_mcp: np.ndarray, index_mcp: np.ndarray,
                    little_mcp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (B, 3, 3) whose rows are the canonical axes in model coordinates, and the origin
    (B, 3) = the wrist, from (B, 3) rest joint positions of a right hand (see base.py)."""
    y = unit(middle_mcp - wrist)                                         # toward the middle MCP
    radial = index_mcp - little_mcp                                      # little MCP -> index MCP
    z = unit(np.cross(radial, y))                                        # palmar normal
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1), wrist


def bone_directions(heads: np.ndarray, parents: list[int]) -> np.ndarray:
    """(K, 3) unit direction of each bone: toward the mean of its children's heads; a distal bone
    (no children) continues its parent's direction. The root (parent -1) gets +y."""
    dirs = np.tile(np.array([0.0, 1.0, 0.0]), (len(parents), 1))
    for bone, parent in enumerate(parents):
        children = [c for c, p in enumerate(parents) if p == bone]
        if parent < 0:
            continue
        if children:
            dirs[bone] = unit(np.mean([heads[c] for c in children], axis=0) - heads[bone])
        else:
            dirs[bone] = unit(heads[bone] - heads[parent])
    return dirs


def anatomical_frames(directions: np.ndarray, thumb: np.ndarray, ulnar: np.ndarray) -> np.ndarray:
    """(K, 3, 3) frames with columns (flexion axis, bone direction, palmar direction), canonical
    frame. directions: (K, 3) unit bone directions; thumb: (K,) bool, True for thumb bones;
    ulnar: (3,) thumb MCP -> little MCP. Fingers flex toward +z; the thumb curls across the palm,
    so its 'palmar' side faces the palm and the little finger."""
    palmar = np.array([0.0, 0.0, 1.0])
    thumb_palmar = unit(palmar + unit(ulnar))
    frames = np.empty((len(directions), 3, 3))
    for k, d in enumerate(directions):
        n = thumb_palmar if thumb[k] else palmar
        n = unit(n - d * (n @ d))
        frames[k] = np.stack([np.cross(d, n), d, n], axis=1)
    return frames
