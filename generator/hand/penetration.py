"""Self-penetration of a posed hand: the sampler's meter.

The question is the one the whole-mesh check asks (tests/whole_mesh_check.py, an independent
implementation): at a vertex v, the generalized winding number (Jacobson, Kavan & Sorkine-Hornung,
SIGGRAPH 2013) of the WHOLE closed hand mesh, without v's own 3-ring of faces, is about 0.5 on
the surface and about 1.5 where v also lies inside another part; v is inside when it exceeds 1.
The body v has entered is the one whose faces wind most around v, and the depth is v's distance
to that body's surface. Bodies: the palm (palm and dorsum), the arm (everything that is neither
palm nor finger), and the 15 finger segments (each nail joins its distal segment). A finger
vertex inside a non-neighbouring body is a collision (a finger in the palm, the arm or another
finger); inside its neighbour along the finger (the next segment, the palm for a first segment)
it is skin folding at a bent joint, a skinning artefact reported separately.

Speed: only finger vertices that lie within the extent of a body they could collide with (its
13-direction bounding polytope) are candidates (a point inside a part lies within its hull); for them each nearby
face's solid angle is exact and each far face adds its dipole term (its area vector seen from
afar), as fast winding numbers do (Barill et al., SIGGRAPH 2018).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2

from generator.conventions import FINGERS, TIP_KEYPOINTS
from generator.hand.base import PART_INDEX, PARTS

SEGMENTS = ("proximal", "middle", "distal")
BODY_NAMES = ("palm", "arm") + tuple(f"{f}_{s}" for f in FINGERS for s in SEGMENTS)
PALM, ARM = 0, 1
INSIDE = 1.0
NEAR = 2.5          # a face is evaluated exactly within NEAR x its longest edge, else as a dipole
CLUSTER = 24        # faces per far-field cluster
CLUSTER_FAR = 2.0   # a cluster is one dipole beyond CLUSTER_FAR x its radius
OUTSIDE_COS = 0.5   # a point is clearly outside a body when it lies off the body's nearest vertex
                    # within 60 deg of that vertex's outward normal
# 13 directions of a discrete-orientation polytope: a body's extent along them bounds its hull
KDOP = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1],
                 [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1]], dtype=float)
KDOP /= np.linalg.norm(KDOP, axis=1, keepdims=True)


def neighbours() -> np.ndarray:
    """(n, n) bool: bodies that meet at one joint (folding, not collision): consecutive segments,
    the palm and each first segment, the palm and the arm; each body with itself."""
    n = len(BODY_NAMES)
    adj = np.eye(n, dtype=bool)
    idx = BODY_NAMES.index
    for f in FINGERS:
        chain = ["palm"] + [f"{f}_{s}" for s in SEGMENTS]
        for a, b in zip(chain[:-1], chain[1:]):
            adj[idx(a), idx(b)] = adj[idx(b), idx(a)] = True
    adj[PALM, ARM] = adj[ARM, PALM] = True
    return adj


def vertex_bodies(parts: np.ndarray, rest_vertices: np.ndarray, rest_keypoints: np.ndarray) -> np.ndarray:
    """(V,) body index per vertex; nail vertices go to the distal segment of the nearest tip."""
    names = [PARTS[p] for p in parts]
    vb = np.array([BODY_NAMES.index(n) if n in BODY_NAMES else (PALM if n in ("palm", "dorsum") else ARM)
                   for n in names])
    nails = np.where(np.asarray(parts) == PART_INDEX["nail"])[0]
    if len(nails):
        d = np.linalg.norm(rest_vertices[nails, None] - rest_keypoints[None, list(TIP_KEYPOINTS)], axis=-1)
        vb[nails] = [BODY_NAMES.index(f"{FINGERS[k]}_distal") for k in d.argmin(1)]
    return vb


def ring_matrix(faces: np.ndarray, n_vertices: int, rings: int = 3) -> sp.csr_matrix:
    """(V, F) sparse 0/1: the faces of each vertex's `rings`-ring (faces touching a vertex within
    rings - 1 edges of it)."""
    f = len(faces)
    vf = sp.csr_matrix((np.ones(3 * f), (faces.ravel(), np.repeat(np.arange(f), 3))), shape=(n_vertices, f))
    adj = (vf @ vf.T).astype(bool).astype(np.int8)                      # vertices sharing a face
    reach = sp.identity(n_vertices, dtype=np.int8, format="csr")
    for _ in range(rings - 1):
        reach = (reach + reach @ adj).astype(bool).astype(np.int8)
    return (reach @ vf).astype(bool).tocsr()


def solid_angles_paired(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Signed solid angle / 4 pi of triangles whose corners, relative to the query point, are
    a, b, c (N, 3) each (Van Oosterom & Strackee 1983)."""
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)                      # noqa: E731
    la, lb, lc = np.sqrt(dot(a, a)), np.sqrt(dot(b, b)), np.sqrt(dot(c, c))
    det = dot(a, np.cross(b, c))
    den = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
    return np.arctan2(det, den) / (2 * np.pi)


def closest_points(points: np.ndarray, tris: np.ndarray, shortlist: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point (P, 3), its nearest triangle among tris (T, 3, 3): (index (P,), barycentric
    coordinates (P, 3), distance (P,)) (Ericson, Real-Time Collision Detection, 5.1.5), searched
    among the `shortlist` triangles whose centroids lie nearest."""
    cen = tris.mean(1)
    d2 = np.einsum("pk,pk->p", points, points)[:, None] - 2 * points @ cen.T + np.einsum("tk,tk->t", cen, cen)[None]
    k = min(shortlist, len(tris))
    pick = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(tris) else np.broadcast_to(np.arange(k), (len(points), k))
    near = tris[pick]                                                   # (P, k, 3, 3)
    a, b, c = (near[:, :, i] for i in range(3))
    p = points[:, None]
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        den = va + vb + vc
        v_in, w_in = vb / den, vc / den
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    zero = np.zeros_like(d1)
    # barycentric (u, v, w) of the closest point for each Voronoi region, last match wins
    v, w = v_in, w_in
    edge_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    v, w = np.where(edge_bc, 1 - t_bc, v), np.where(edge_bc, t_bc, w)
    edge_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    v, w = np.where(edge_ac, zero, v), np.where(edge_ac, t_ac, w)
    edge_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    v, w = np.where(edge_ab, t_ab, v), np.where(edge_ab, zero, w)
    at_c = (d6 >= 0) & (d5 <= d6)
    v, w = np.where(at_c, zero, v), np.where(at_c, 1.0, w)
    at_b = (d3 >= 0) & (d4 <= d3)
    v, w = np.where(at_b, 1.0, v), np.where(at_b, zero, w)
    at_a = (d1 <= 0) & (d2 <= 0)
    v, w = np.where(at_a, zero, v), np.where(at_a, zero, w)
    q = a + v[..., None] * ab + w[..., None] * ac
    dist = np.sqrt(((q - p) ** 2).sum(-1))
    best = dist.argmin(1)
    rows = np.arange(len(points))
    bary = np.stack([1 - v[rows, best] - w[rows, best], v[rows, best], w[rows, best]], -1)
    return pick[rows, best], bary, dist[rows, best]


@dataclasses.dataclass
class Contact:
    """A finger vertex inside a non-neighbouring body, and where it should come out."""

    vertex: int
    body: str                 # the vertex's body
    entered: str              # the body it is inside
    face: int                 # nearest face of the entered body (index into faces)
    bary: np.ndarray          # (3,) barycentric coordinates of the nearest point on that face
    depth: float              # metres


@dataclasses.dataclass
class Penetration:
    depth: np.ndarray          # (B,) deepest collision per pose, metres (0 if none)
    folding: np.ndarray        # (B,) deepest finger vertex inside its neighbour at a joint (m)
    contacts: list[list[Contact]]   # per pose, the colliding vertices (when asked for)


class PenetrationMeter:
    """Measures penetration for a fixed topology; build once per hand model."""

    def __init__(self, parts, faces, rest_vertices, rest_keypoints):
        self.faces = np.asarray(faces, dtype=np.int64)
        self.vertex_body = vertex_bodies(np.asarray(parts), np.asarray(rest_vertices), np.asarray(rest_keypoints))
        corner = self.vertex_body[self.faces]
        self.face_body = np.where(corner[:, 1] == corner[:, 2], corner[:, 1], corner[:, 0])
        self.neighbour = neighbours()
        n = len(BODY_NAMES)
        self._faces_of = [np.where(self.face_body == b)[0] for b in range(n)]
        self._vertices_of = [np.where(self.vertex_body == b)[0] for b in range(n)]
        self.rings = ring_matrix(self.faces, len(self.vertex_body))
        self.fingers = np.where(self.vertex_body > ARM)[0]
        rest = np.asarray(rest_vertices, dtype=np.float64)[self.faces]
        edge = np.linalg.norm(rest - np.roll(rest, 1, axis=1), axis=-1).max(1)
        self._near2 = (NEAR * edge) ** 2
        # clusters of ~CLUSTER neighbouring faces of one body (k-means on rest centroids): the
        # far field of a whole cluster is one dipole
        labels, start = np.empty(len(self.faces), dtype=np.int64), 0
        for b, fb in enumerate(self._faces_of):
            if not len(fb):
                continue
            k = max(1, round(len(fb) / CLUSTER))
            lab = kmeans2(rest[fb].mean(1), k, seed=0, minit="++")[1] if k > 1 else np.zeros(len(fb), int)
            labels[fb] = start + np.unique(lab, return_inverse=True)[1]
            start += len(np.unique(lab))
        self._cluster = labels
        self._cluster_body = np.array([self.face_body[labels == c][0] for c in range(start)])
        size = np.bincount(labels, minlength=start)
        self._cluster_faces = np.full((start, size.max()), -1)
        for c in range(start):
            self._cluster_faces[c, :size[c]] = np.where(labels == c)[0]
        self._cluster_onehot = np.eye(n)[self._cluster_body]
        # cluster radius at rest (face centroids + the face's own size), with room for posing
        cen = rest.mean(1)
        cl_cen = np.stack([np.bincount(labels, weights=cen[:, k]) for k in range(3)], 1) / size[:, None]
        self._reach = np.zeros(start)
        np.maximum.at(self._reach, labels, np.linalg.norm(cen - cl_cen[labels], axis=1) + edge / 2)

    @classmethod
    def for_model(cls, hand) -> "PenetrationMeter":
        rest = hand.forward(np.zeros((1, 20, 3)))
        return cls(rest.parts, rest.faces, rest.vertices[0], rest.keypoints[0])

    def measure(self, vertices: np.ndarray, with_contacts: bool = False, folding: bool = False) -> Penetration:
        """Deepest collision per pose (and deepest folding when `folding`); contacts per pose
        with `with_contacts`."""
        vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.ndim == 2:
            vertices = vertices[None]
        depth, fold, contacts = np.zeros(len(vertices)), np.zeros(len(vertices)), []
        for i, verts in enumerate(vertices):
            found = self._inside(verts, folding)
            coll = [c for c in found if c[3] == "collision"]
            depth[i] = max((c[2] for c in coll), default=0.0)
            fold[i] = max((c[2] for c in found if c[3] == "folding"), default=0.0)
            contacts.append([Contact(int(v), BODY_NAMES[self.vertex_body[v]], BODY_NAMES[b], int(f), bary, d)
                             for v, b, d, _, f, bary in coll] if with_contacts else [])
        return Penetration(depth=depth, folding=fold, contacts=contacts)

    def _vertex_normals(self, verts: np.ndarray) -> np.ndarray:
        tri = verts[self.faces]
        fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])        # area-weighted
        vn = np.stack([np.bincount(self.faces.ravel(), weights=np.repeat(fn[:, k], 3),
                                   minlength=len(verts)) for k in range(3)], 1)
        return vn / (np.linalg.norm(vn, axis=1, keepdims=True) + 1e-20)

    def _winding(self, p: np.ndarray, tri: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """(P, bodies) winding number of each body's faces at points p (vertices cand), without
        each vertex's own 3-ring: a far cluster as one dipole, a far face as its dipole, a near
        face exactly."""
        n_cl = len(self._cluster_body)
        area_n = 0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area = np.linalg.norm(area_n, axis=1)
        cen = tri.mean(1)
        cl_area = np.bincount(self._cluster, weights=area, minlength=n_cl)
        cl_cen = np.stack([np.bincount(self._cluster, weights=cen[:, k] * area, minlength=n_cl)
                           for k in range(3)], 1) / cl_area[:, None]
        cl_an = np.stack([np.bincount(self._cluster, weights=area_n[:, k], minlength=n_cl) for k in range(3)], 1)
        r = cl_cen[None] - p[:, None]                                       # (P, C, 3)
        d = np.sqrt(np.einsum("pck,pck->pc", r, r))
        far = d > CLUSTER_FAR * self._reach[None]
        w_cl = np.where(far, np.einsum("pck,ck->pc", r, cl_an) / (4 * np.pi * d ** 3), 0.0)
        n, n_p = len(BODY_NAMES), len(p)
        contrib = w_cl @ self._cluster_onehot                               # (P, bodies)
        # near clusters, face by face
        rows, cls = np.nonzero(~far)
        faces = self._cluster_faces[cls]                                   # (N, maxF), -1 padded
        rows = np.repeat(rows, faces.shape[1])
        faces = faces.ravel()
        keep = faces >= 0
        rows, faces = rows[keep], faces[keep]
        rf = cen[faces] - p[rows]
        d2 = np.einsum("ik,ik->i", rf, rf)
        w = np.einsum("ik,ik->i", rf, area_n[faces]) / (4 * np.pi * d2 ** 1.5)
        exact = d2 < self._near2[faces]
        a, b, c = (tri[faces[exact], k] - p[rows[exact]] for k in range(3))
        w[exact] = solid_angles_paired(a, b, c)
        contrib += np.bincount(rows * n + self.face_body[faces], weights=w, minlength=n_p * n).reshape(n_p, n)
        # minus each vertex's own 3-ring (its faces are near: they were counted exactly)
        ring_rows, ring_faces = self.rings[cand].nonzero()
        a, b, c = (tri[ring_faces, k] - p[ring_rows] for k in range(3))
        contrib -= np.bincount(ring_rows * n + self.face_body[ring_faces], weights=solid_angles_paired(a, b, c),
                               minlength=n_p * n).reshape(n_p, n)
        return contrib

    def _inside(self, verts: np.ndarray, folding: bool):
        """[(vertex, entered body, depth, kind, nearest face, barycentric)] for one posed mesh."""
        n = len(BODY_NAMES)
        proj = verts @ KDOP.T                                               # (V, 13)
        empty = np.full(len(KDOP), np.inf)
        lo = np.array([proj[v].min(0) if len(v) else empty for v in self._vertices_of])
        hi = np.array([proj[v].max(0) if len(v) else -empty for v in self._vertices_of])
        q = proj[self.fingers]
        in_box = np.all((q[:, None] > lo[None]) & (q[:, None] < hi[None]), axis=-1)   # (Q, n)
        own = self.vertex_body[self.fingers]
        may = in_box & (folding | ~self.neighbour[own])
        normals = self._vertex_normals(verts)
        for b in np.where(may.any(0))[0]:
            # clearly outside body b: beyond its nearest vertex, along that vertex's normal
            rows = np.where(may[:, b])[0]
            vb = self._vertices_of[b]
            diff = verts[self.fingers[rows], None] - verts[vb][None]          # (R, Vb, 3)
            dist = np.linalg.norm(diff, axis=-1)
            near = dist.argmin(1)
            off = diff[np.arange(len(rows)), near]
            along = (off * normals[vb[near]]).sum(-1)
            may[rows[along > OUTSIDE_COS * dist[np.arange(len(rows)), near]], b] = False
        cand = self.fingers[may.any(1)]
        if not len(cand):
            return []
        p = verts[cand]
        tri = verts[self.faces]
        contrib = self._winding(p, tri, cand)
        inside = contrib.sum(1) > INSIDE
        if not inside.any():
            return []
        cand, p, contrib = cand[inside], p[inside], contrib[inside]
        own = self.vertex_body[cand]
        contrib[np.arange(len(cand)), own] = -np.inf
        entered = contrib.argmax(1)
        out = []
        for b in np.unique(entered):
            sel = np.where(entered == b)[0]
            kinds = np.where(self.neighbour[own[sel], b], "folding", "collision")
            if not folding:
                sel, kinds = sel[kinds == "collision"], kinds[kinds == "collision"]
                if not len(sel):
                    continue
            fb = self._faces_of[b]
            face, bary, dist = closest_points(p[sel], tri[fb])
            out += [(int(v), int(b), float(d), str(k), int(fb[f]), w)
                    for v, d, k, f, w in zip(cand[sel], dist, kinds, face, bary)]
        return out
