"""Topology operations on the hand mesh: its boundary loop, UV layout helpers (the arm that closes
the wrist is generator.hand.arm)."""
from __future__ import annotations

import numpy as np


def boundary_loop(faces: np.ndarray) -> np.ndarray:
    """The single boundary loop of a mesh, ordered so that each (loop[i], loop[i+1]) is an edge
    as it appears in its face (so new faces on the other side must run the opposite way)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = {tuple(e) for e in edges.tolist()}
    boundary = [e for e in edges.tolist() if (e[1], e[0]) not in key]
    if not boundary:
        raise ValueError("mesh has no boundary: nothing to close")
    nxt = {a: b for a, b in boundary}
    if len(nxt) != len(boundary):
        raise ValueError("boundary is not a simple loop")
    start = boundary[0][0]
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
        if len(loop) > len(boundary):
            raise ValueError("boundary loop does not close")
    if len(loop) != len(boundary):
        raise ValueError(f"mesh has {len(boundary)} boundary edges but the first loop has {len(loop)}: "
                         "more than one hole")
    return np.asarray(loop)


def largest_empty_rectangle(occupied: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, col0, rows, cols) of the largest all-False axis-aligned rectangle (histogram method)."""
    n_rows, n_cols = occupied.shape
    heights = np.zeros(n_cols, dtype=int)
    best = (0, 0, 0, 0)
    for r in range(n_rows):
        heights = np.where(occupied[r], 0, heights + 1)
        stack: list[int] = []
        for c in range(n_cols + 1):
            h = heights[c] if c < n_cols else 0
            while stack and heights[stack[-1]] >= h:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                height, width = heights[top], c - left
                if height * width > best[2] * best[3]:
                    best = (r - height + 1, left, int(height), int(width))
            stack.append(c)
    return best


def rasterize_occupancy(uvs: np.ndarray, size: int = 64, pad: int = 1) -> np.ndarray:
    """Boolean (size, size) grid [v-row, u-col] of cells touched by UV triangles (F, 3, 2)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for tri in uvs * size:
        draw.polygon([tuple(p) for p in tri], fill=255, outline=255)
    occ = np.asarray(img) > 0
    for _ in range(pad):
        occ = occ | np.roll(occ, 1, 0) | np.roll(occ, -1, 0) | np.roll(occ, 1, 1) | np.roll(occ, -1, 1)
    return occ


def fit_unit_square(uvs: np.ndarray, margin: float = 0.01) -> np.ndarray:
    """Scale and translate UVs uniformly so that their bounding box fills the unit square."""
    lo, hi = uvs.reshape(-1, 2).min(0), uvs.reshape(-1, 2).max(0)
    scale = (1 - 2 * margin) / (hi - lo).max()
    return (uvs - lo) * scale + margin
