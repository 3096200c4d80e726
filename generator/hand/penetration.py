"""Self-penetration of a posed hand, measured on the mesh.

The hand is split into rigid-ish bodies: the palm (with dorsum and forearm) and each finger
segment. A vertex of body P penetrates body Q (Q not adjacent to P) when it lies inside Q's
surface; "inside" uses the generalized winding number (Jacobson, Kavan & Sorkine-Hornung,
"Robust inside-outside segmentation using generalized winding numbers", SIGGRAPH 2013), which
stays meaningful for Q's open surface patch (a finger segment is a tube open at its joints).
The depth is the exact distance from the vertex to Q's triangles. Skin folding at a flexed
joint (adjacent segments) is a skinning artefact, not fingers passing through each other, and
is not counted.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from generator.conventions import FINGERS
from generator.hand.base import PART_INDEX, PARTS

SEGMENTS = ("proximal", "middle", "distal")
BODY_NAMES = ("palm",) + tuple(f"{f}_{s}" for f in FINGERS for s in SEGMENTS)
INSIDE_THRESHOLD = 0.5


def _body_of_part() -> dict[int, int]:
    out = {PART_INDEX[p]: 0 for p in ("palm", "dorsum", "forearm")}
    for p in PARTS:
        if p in BODY_NAMES:
            out[PART_INDEX[p]] = BODY_NAMES.index(p)
    return out


def adjacency() -> np.ndarray:
    """(n_bodies, n_bodies) bool: pairs that touch by construction (excluded from the test):
    each body with itself, consecutive segments of a finger, each finger's first segment with the
    palm, and the webbed first segments of neighbouring fingers (incl. thumb and index)."""
    n = len(BODY_NAMES)
    adj = np.eye(n, dtype=bool)
    idx = BODY_NAMES.index
    for f in FINGERS:
        chain = ["palm"] + [f"{f}_{s}" for s in SEGMENTS]
        for a, b in zip(chain[:-1], chain[1:]):
            adj[idx(a), idx(b)] = adj[idx(b), idx(a)] = True
    # the thumb's first segment (metacarpal / thenar) also borders the palm skin of the thumb web
    adj[idx("thumb_middle"), idx("palm")] = adj[idx("palm"), idx("thumb_middle")] = True
    for a, b in zip(FINGERS[:-1], FINGERS[1:]):
        pa, pb = idx(f"{a}_proximal"), idx(f"{b}_proximal")
        adj[pa, pb] = adj[pb, pa] = True
    return adj


@dataclasses.dataclass
class BodyMap:
    vertex_body: np.ndarray   # (V,) body index per vertex
    face_body: np.ndarray     # (F,) body index per face (majority of its corners)


def body_map(parts: np.ndarray, faces: np.ndarray, rest_vertices: np.ndarray,
             rest_keypoints: np.ndarray) -> BodyMap:
    """Assign vertices (nails go to the nearest fingertip's distal segment) and faces to bodies."""
    from generator.conventions import TIP_KEYPOINTS

    table = _body_of_part()
    vb = np.array([table.get(int(p), -1) for p in parts])
    nails = np.where(parts == PART_INDEX["nail"])[0]
    if len(nails):
        d = np.linalg.norm(rest_vertices[nails, None] - rest_keypoints[None, list(TIP_KEYPOINTS)], axis=-1)
        vb[nails] = [BODY_NAMES.index(f"{FINGERS[k]}_distal") for k in d.argmin(1)]
    if (vb < 0).any():
        raise ValueError("some vertices have parts that map to no body")
    corner = vb[faces]
    # majority vote; ties go to the first corner's body
    fb = np.where(corner[:, 1] == corner[:, 2], corner[:, 1], corner[:, 0])
    return BodyMap(vertex_body=vb, face_body=fb)


def winding_numbers(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Generalized winding number of the triangle soup `tris` (F, 3, 3) at `points` (N, 3)."""
    abc = tris[None] - points[:, None, None, :]                               # (N, F, 3, 3)
    a, b, c = abc[..., 0, :], abc[..., 1, :], abc[..., 2, :]
    la, lb, lc = (np.sqrt(np.einsum("nfi,nfi->nf", x, x)) for x in (a, b, c))
    det = np.einsum("nfi,nfi->nf", a, np.cross(b, c))
    den = (la * lb * lc + np.einsum("nfi,nfi->nf", a, b) * lc
           + np.einsum("nfi,nfi->nf", b, c) * la + np.einsum("nfi,nfi->nf", c, a) * lb)
    return (np.arctan2(det, den).sum(axis=1) / (2 * np.pi))


def _point_triangle_distance(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Exact distance from each point (N, 3) to the nearest of the triangles (F, 3, 3)."""
    import trimesh

    n, f = len(points), len(tris)
    closest = trimesh.triangles.closest_point(np.repeat(tris[None], n, 0).reshape(-1, 3, 3),
                                              np.repeat(points, f, 0))
    return np.linalg.norm(closest.reshape(n, f, 3) - points[:, None], axis=-1).min(1)


def _max_depth(points: np.ndarray, tris: np.ndarray, batch: int = 8) -> tuple[float, np.ndarray]:
    """max over points of the exact point-to-surface distance, plus per-point distances where
    computed (upper bounds elsewhere). The distance to the nearest vertex bounds the exact one
    from above, so exact distances are needed only for the points with the largest bounds."""
    corners = tris.reshape(-1, 3)
    bound = np.sqrt(((points[:, None] - corners[None]) ** 2).sum(-1)).min(1)
    dist = bound.astype(np.float64).copy()
    best = 0.0
    for start in range(0, len(points), batch):
        idx = np.argsort(-bound)[start:start + batch]
        if bound[idx[0]] <= best:
            break
        dist[idx] = _point_triangle_distance(points[idx].astype(np.float64), tris.astype(np.float64))
        best = max(best, float(dist[idx].max()))
    return best, dist


@dataclasses.dataclass
class Penetration:
    depth: np.ndarray          # (B,) deepest penetration per pose, metres (0 if none)
    pairs: list[list[tuple[str, str, float]]]   # per pose: (body of vertex, body entered, depth m)


class PenetrationMeter:
    """Measures penetration for a fixed topology; build once per hand model."""

    def __init__(self, parts, faces, rest_vertices, rest_keypoints):
        self.faces = np.asarray(faces)
        self.bodies = body_map(parts, self.faces, rest_vertices, rest_keypoints)
        self.adjacent = adjacency()
        vb, n = self.bodies.vertex_body, len(BODY_NAMES)
        self._faces_of = [self.faces[self.bodies.face_body == b] for b in range(n)]
        self._vertices_of = [np.where(vb == b)[0] for b in range(n)]
        # query only finger vertices (palm vertices entering a finger are caught the other way)
        self.query = np.where(vb > 0)[0]
        self._candidates = [self.query[~self.adjacent[b][vb[self.query]]] for b in range(n)]

    @classmethod
    def for_model(cls, hand) -> "PenetrationMeter":
        rest = hand.forward(np.zeros((1, 20, 3)))
        return cls(rest.parts, rest.faces, rest.vertices[0], rest.keypoints[0])

    def measure(self, vertices: np.ndarray, with_pairs: bool = False) -> Penetration:
        """Deepest penetration per pose. A vertex is tested against a body only when it lies in
        the body's bounding box (a point inside a body lies within its hull), which keeps this to
        a few ms per pose without contact."""
        vertices = np.asarray(vertices, dtype=np.float32)
        if vertices.ndim == 2:
            vertices = vertices[None]
        vb = self.bodies.vertex_body
        depths, pairs = np.zeros(len(vertices)), []
        for i, verts in enumerate(vertices):
            pose_pairs = []
            for body in range(len(BODY_NAMES)):
                cand = self._candidates[body]
                own = verts[self._vertices_of[body]]
                lo, hi = own.min(0), own.max(0)
                p = verts[cand]
                cand = cand[np.all((p > lo) & (p < hi), axis=1)]
                if not len(cand):
                    continue
                tris = verts[self._faces_of[body]]
                inside = cand[winding_numbers(verts[cand], tris) > INSIDE_THRESHOLD]
                if not len(inside):
                    continue
                deepest, d = _max_depth(verts[inside], tris)
                depths[i] = max(depths[i], deepest)
                if with_pairs:
                    pose_pairs += [(BODY_NAMES[vb[v]], BODY_NAMES[body], float(x)) for v, x in zip(inside, d)]
            pairs.append(pose_pairs)
        return Penetration(depth=depths, pairs=pairs)
