"""Topology operations on the hand mesh: close the wrist (capped cut or forearm), lay out UVs."""
from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass
class WristClosure:
    """Extra vertices/faces that close the wrist: `rings` new rings of the boundary loop extruded
    along -y (a forearm of `length` metres), then a fan cap. Vertex positions are a linear map of
    the rest mesh, so they follow shape changes: new = weights @ [loop vertices; centre offset]."""

    loop: np.ndarray          # (L,) boundary vertex indices in the base mesh
    rings: int
    length: float
    flare: float              # relative widening of the forearm over its length
    faces: np.ndarray         # (F_new, 3) into the extended vertex array
    n_new: int                # number of new vertices

    def new_vertices(self, rest: np.ndarray) -> np.ndarray:
        """rest (B, V, 3) base-mesh rest vertices in the canonical frame -> (B, n_new, 3)."""
        ring0 = rest[:, self.loop]                                     # (B, L, 3)
        centre = ring0.mean(axis=1, keepdims=True)
        radial = ring0 - centre
        radial[..., 1] = 0.0                                           # rings lie across the forearm axis
        out = []
        for k in range(1, self.rings + 1):
            t = k / self.rings
            ring = centre + radial * (1.0 + self.flare * t)
            ring[..., 1] = (ring0[..., 1] * (1 - t) + (centre[..., 1] - self.length) * t) if self.length else ring0[..., 1]
            out.append(ring)
        last = out[-1] if out else ring0
        cap_centre = last.mean(axis=1, keepdims=True)
        cap_centre[..., 1] -= 0.004 if self.length == 0 else 0.0       # a slight dome on a bare cut
        return np.concatenate(out + [cap_centre], axis=1)


def close_wrist(faces: np.ndarray, n_vertices: int, length: float, rings: int = 4,
                flare: float = 0.1) -> WristClosure:
    loop = boundary_loop(faces)
    n_loop = len(loop)
    rings = rings if length > 0 else 0
    ring_ids = [loop] + [n_vertices + k * n_loop + np.arange(n_loop) for k in range(rings)]
    centre = n_vertices + rings * n_loop
    new_faces = []
    for cur, nxt in zip(ring_ids[:-1], ring_ids[1:]):
        a, b = cur, np.roll(cur, -1)
        a2, b2 = nxt, np.roll(nxt, -1)
        new_faces += [np.stack([b, a, a2], 1), np.stack([b, a2, b2], 1)]
    last = ring_ids[-1]
    new_faces.append(np.stack([np.roll(last, -1), last, np.full(n_loop, centre)], 1))
    return WristClosure(loop=loop, rings=rings, length=float(length), flare=flare,
                        faces=np.concatenate(new_faces).astype(np.int64), n_new=rings * n_loop + 1)


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


def closure_uvs(closure: WristClosure, hand_uvs: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Per-corner UVs for the closure faces: a forearm strip and a cap disk placed in the largest
    free rectangle of the hand island's atlas. rest: (V_total, 3) rest vertices of one hand."""
    occ = rasterize_occupancy(hand_uvs)
    r0, c0, nr, nc = largest_empty_rectangle(occ)
    size = occ.shape[0]
    box_lo = np.array([c0, r0], dtype=float) / size
    box_wh = np.array([nc, nr], dtype=float) / size
    n_loop = len(closure.loop)
    ring_pts = rest[closure.loop]
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(np.r_[ring_pts, ring_pts[:1]], axis=0), axis=1))]
    u_of = arc / arc[-1]                                                 # (L+1,) wraps to 1 at the seam
    n_ring_levels = closure.rings + 1
    # strip on the left of the box (width ∝ arc), cap disk to its right
    strip_w = box_wh[0] * 0.7 if closure.rings else 0.0
    uv_list = []
    faces = closure.faces
    n_base = rest.shape[0] - closure.n_new
    centre_id = rest.shape[0] - 1
    for f in faces:
        corners = []
        is_cap = centre_id in f
        # position of each corner within the loop and ring level
        levels = [0 if v < n_base else (v - n_base) // n_loop + 1 for v in f]
        idx = [int(np.where(closure.loop == v)[0][0]) if v < n_base else (v - n_base) % n_loop for v in f]
        if is_cap:
            cap_c = box_lo + np.array([strip_w + (box_wh[0] - strip_w) / 2, box_wh[1] / 2])
            rad = min(box_wh[0] - strip_w, box_wh[1]) / 2 * 0.9
            for v, i in zip(f, idx):
                if v == centre_id:
                    corners.append(cap_c)
                else:
                    ang = 2 * np.pi * i / n_loop
                    corners.append(cap_c + rad * np.array([np.cos(ang), np.sin(ang)]))
        else:
            # wrap: the corner at loop index 0 following index L-1 uses u = 1
            wrap = max(idx) == n_loop - 1 and min(idx) == 0
            for lev, i in zip(levels, idx):
                u = u_of[n_loop] if (wrap and i == 0) else u_of[i]
                corners.append(box_lo + np.array([u * strip_w, lev / max(n_ring_levels - 1, 1) * box_wh[1]]))
        uv_list.append(corners)
    return np.asarray(uv_list, dtype=np.float32)
