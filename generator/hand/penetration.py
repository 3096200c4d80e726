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

How it is answered fast: each body's faces are closed by a fan over each hole where it meets its
neighbours, so the body becomes a closed surface whose winding number is exactly 1 inside it and
0 outside (the whole mesh's winding number is the sum of the closed bodies', the fans cancelling
in pairs). A finger vertex collides when the closed winding number of a body it could collide
with exceeds 1/2. Because that number is an integer off the surface, it may be approximated
coarsely: faces near the vertex count exactly (their solid angles), clusters of ~16 faces far
from it as one dipole each (as fast winding numbers do, Barill et al., SIGGRAPH 2018). Only finger
vertices within a body's 13-direction bounding polytope, and not clearly outside it (off its
nearest vertex along that vertex's normal), are tested against it. Only the suspects (inside a
closed body) get the whole mesh's winding number, which decides, as in the check.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from generator.conventions import FINGERS, TIP_KEYPOINTS
from generator.hand.base import PART_INDEX, PARTS
from generator.hand.exact import matmul

SEGMENTS = ("proximal", "middle", "distal")
BODY_NAMES = ("palm", "arm") + tuple(f"{f}_{s}" for f in FINGERS for s in SEGMENTS)
PALM, ARM = 0, 1
INSIDE = 1.0        # the whole mesh's winding number (without the own 3-ring) inside another part
SCREEN = 0.4        # a closed body's winding number above which a vertex is a suspect
CLUSTER = 16        # faces per far-field cluster
CLUSTER_FAR = 2.0   # a cluster is one dipole beyond CLUSTER_FAR x its radius
SCREEN_FAR = 1.5    # the same while screening (an integer is sought there, not its fraction)
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
    d2 = np.einsum("pk,pk->p", points, points)[:, None] - 2 * matmul(points, cen.T) + np.einsum("tk,tk->t", cen, cen)[None]
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


def _clusters(centres: np.ndarray) -> list[np.ndarray]:
    """Groups of ~CLUSTER neighbouring faces (k-means on their centroids), as index arrays."""
    k = max(1, round(len(centres) / CLUSTER))
    lab = kmeans2(centres, k, seed=0, minit="++")[1] if k > 1 else np.zeros(len(centres), int)
    return [np.where(lab == c)[0] for c in np.unique(lab)]


def _padded(groups: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(groups), max(len(g) for g in groups)), -1)
    for i, g in enumerate(groups):
        out[i, :len(g)] = g
    return out


@dataclasses.dataclass
class ClosedBodies:
    """Each body's faces closed by fans over its holes, so that its winding number is 1 inside
    it and 0 outside. A hole is where the body meets one neighbour (one run of shared edges);
    both bodies close it with the same fan, about the mean of its vertices, turned opposite ways,
    so the fans cancel in the sum over all bodies. Faces are grouped in clusters (far field)."""

    faces: list[np.ndarray]       # per body, indices into the mesh's faces
    vertices: list[np.ndarray]    # per body, the vertices of those faces
    clusters: np.ndarray          # (K, m) face indices per cluster, -1 padded
    cluster_range: np.ndarray     # (bodies + 1,) the clusters of body b are range[b]:range[b + 1]
    rim: np.ndarray               # (E, 2) fan edges (u, v) as they run in their body's faces
    rim_fan: np.ndarray           # (E,) the fan (one body's side of one hole) of each edge
    fan_hole: np.ndarray          # (N,) the hole of each fan
    fan_range: np.ndarray         # (bodies + 1,) the fans of body b are range[b]:range[b + 1]
    fan_edges: np.ndarray         # (N, m) rim edges per fan, -1 padded
    hole_centre: sp.csr_matrix    # (H, V) averaging matrix: the holes' centres from the vertices
    body_clusters: np.ndarray = None   # (bodies, m) cluster indices per body, -1 padded
    body_fans: np.ndarray = None       # (bodies, m) fan indices per body, -1 padded

    def __post_init__(self):
        self.body_clusters = _padded_ranges(self.cluster_range)
        self.body_fans = _padded_ranges(self.fan_range)

    @classmethod
    def build(cls, faces: np.ndarray, face_body: np.ndarray, n_bodies: int, rest: np.ndarray) -> "ClosedBodies":
        n = len(rest)
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edge_body = np.tile(face_body, 3)
        key = edges[:, 0] * n + edges[:, 1]
        order = np.argsort(key)
        pos = np.searchsorted(key[order], edges[:, 1] * n + edges[:, 0])
        other = edge_body[order][np.minimum(pos, len(key) - 1)]         # body of the reversed edge
        rim = other != edge_body
        lo, hi = np.minimum(edge_body, other)[rim], np.maximum(edge_body, other)[rim]
        graph = sp.coo_matrix((np.ones(rim.sum()), (edges[rim, 0], edges[rim, 1])), shape=(n, n))
        comp = connected_components(graph, directed=False)[1]
        hole = np.unique((lo * n_bodies + hi) * n + comp[edges[rim, 0]], return_inverse=True)[1]
        members = sp.coo_matrix((np.ones(2 * rim.sum()), (np.tile(hole, 2), edges[rim].T.ravel())),
                                shape=(hole.max() + 1 if len(hole) else 0, n)).tocsr()
        members.data[:] = 1.0
        centre = (sp.diags(1.0 / np.maximum(np.asarray(members.sum(1)).ravel(), 1)) @ members).tocsr()
        rim_edges, rim_body = edges[rim], edge_body[rim]
        fan = np.unique(rim_body * (hole.max() + 1 if len(hole) else 1) + hole, return_inverse=True)[1]
        order = np.argsort(fan, kind="stable")
        rim_edges, rim_body, fan, hole = rim_edges[order], rim_body[order], fan[order], hole[order]
        n_fans = fan.max() + 1 if len(fan) else 0
        fan_body = np.zeros(n_fans, int)
        fan_body[fan] = rim_body
        fan_hole = np.zeros(n_fans, int)
        fan_hole[fan] = hole
        body_faces = [np.where(face_body == b)[0] for b in range(n_bodies)]
        groups = [[fb[g] for g in _clusters(rest[faces[fb]].mean(1))] if len(fb) else [] for fb in body_faces]
        return cls(faces=body_faces, vertices=[np.unique(faces[fb]) for fb in body_faces],
                   clusters=_padded([g for gs in groups for g in gs]),
                   cluster_range=np.cumsum([0] + [len(gs) for gs in groups]),
                   rim=rim_edges, rim_fan=fan, fan_hole=fan_hole,
                   fan_range=np.searchsorted(fan_body, np.arange(n_bodies + 1)),
                   fan_edges=_padded([np.where(fan == f)[0] for f in range(n_fans)]) if n_fans else np.zeros((0, 1), int),
                   hole_centre=centre)

    def pose(self, verts: np.ndarray) -> "PosedBodies":
        return PosedBodies(self, verts)


class PosedBodies:
    """The closed bodies of one posed mesh: far-field clusters and fans, computed once."""

    def __init__(self, bodies: ClosedBodies, verts: np.ndarray):
        self.b, self.verts = bodies, verts
        cf = bodies.clusters
        valid = cf >= 0
        cfi = np.where(valid, cf, 0)
        self.valid, self.cfi = valid, cfi

    def setup(self, tri: np.ndarray, area_n: np.ndarray):
        """tri (F, 3, 3) the posed faces, area_n (F, 3) their area vectors."""
        self.tri = tri
        centre = tri.mean(1)
        valid, cfi = self.valid, self.cfi
        w = np.linalg.norm(area_n, axis=1)[cfi] * valid                   # (K, m) face areas
        self.cl_centre = np.einsum("km,kmj->kj", w, centre[cfi]) / w.sum(1)[:, None]
        self.cl_an = np.einsum("km,kmj->kj", valid.astype(float), area_n[cfi])
        edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=-1).max(1)
        spread = np.linalg.norm(centre[cfi] - self.cl_centre[:, None], axis=-1) + edge[cfi] / 2
        self.cl_reach = np.where(valid, spread, 0).max(1)
        b, v = self.b, self.verts
        self.hole_centre = b.hole_centre @ v
        # fan triangles (v, u, centre) per rim edge (u, v): each hole closed the other way round
        self.fan_tri = np.stack([v[b.rim[:, 1]], v[b.rim[:, 0]], self.hole_centre[b.fan_hole[b.rim_fan]]], 1)
        n_fans = len(b.fan_hole)
        an = 0.5 * np.cross(self.fan_tri[:, 1] - self.fan_tri[:, 0], self.fan_tri[:, 2] - self.fan_tri[:, 0])
        self.fan_an = np.stack([np.bincount(b.rim_fan, weights=an[:, k], minlength=n_fans) for k in range(3)], 1)
        self.fan_centre = self.hole_centre[b.fan_hole]
        reach = np.zeros(n_fans)
        np.maximum.at(reach, b.rim_fan, np.linalg.norm(self.fan_tri[:, 0] - self.fan_centre[b.rim_fan], axis=1))
        self.fan_reach = reach
        return self

    def winding(self, body: np.ndarray, p: np.ndarray, far_factor: float) -> tuple[np.ndarray, np.ndarray]:
        """(closed, fans) winding numbers at points p (P, 3), each of its own body's (`body`, (P,))
        closed surface and of that body's fans alone: a cluster (fan) beyond far_factor x its
        radius as one dipole, else triangle by triangle exactly."""
        b = self.b
        closed = _far_near(p, b.body_clusters[body], self.cl_centre, self.cl_an, self.cl_reach * far_factor,
                           b.clusters, self.tri)
        fans = _far_near(p, b.body_fans[body], self.fan_centre, self.fan_an, self.fan_reach * far_factor,
                         b.fan_edges, self.fan_tri)
        return closed + fans, fans


def _padded_ranges(starts: np.ndarray) -> np.ndarray:
    """(bodies, m) the indices range[b]:range[b + 1] of each body, -1 padded."""
    return _padded([np.arange(a, b) for a, b in zip(starts[:-1], starts[1:])])


def _far_near(p, groups, centre, area_n, far_radius, members, tri) -> np.ndarray:
    """Winding number at points p (P, 3) of the triangle groups `groups` (P, G) (-1 padded) of
    each: a group whose centre lies beyond far_radius as a dipole (its summed area vector), a
    nearer one triangle by triangle (members: (groups, m) triangle indices, -1 padded)."""
    valid = groups >= 0
    g = np.where(valid, groups, 0)
    r = centre[g] - p[:, None]                                             # (P, G, 3)
    d = np.sqrt(np.einsum("pkj,pkj->pk", r, r))
    far = d > far_radius[g]
    out = np.where(far & valid, np.einsum("pkj,pkj->pk", r, area_n[g]) / (4 * np.pi * d ** 3), 0.0).sum(1)
    rows, cols = np.nonzero(~far & valid)
    if len(rows):
        idx = members[g[rows, cols]]
        rows = np.broadcast_to(rows[:, None], idx.shape)[idx >= 0]
        idx = idx[idx >= 0]
        a, b, c = (tri[idx, k] - p[rows] for k in range(3))
        out += np.bincount(rows, weights=solid_angles_paired(a, b, c), minlength=len(p))
    return out


class PenetrationMeter:
    """Measures penetration for a fixed topology; build once per hand model."""

    def __init__(self, parts, faces, rest_vertices, rest_keypoints):
        self.faces = np.asarray(faces, dtype=np.int64)
        rest = np.asarray(rest_vertices, dtype=np.float64)
        self.vertex_body = vertex_bodies(np.asarray(parts), rest, np.asarray(rest_keypoints))
        corner = self.vertex_body[self.faces]
        self.face_body = np.where(corner[:, 1] == corner[:, 2], corner[:, 1], corner[:, 0])
        self.neighbour = neighbours()
        self.fingers = np.where(self.vertex_body > ARM)[0]
        self.bodies = ClosedBodies.build(self.faces, self.face_body, len(BODY_NAMES), rest)
        self.rings = ring_matrix(self.faces, len(rest))
        # the bounding polytopes: each body's vertices, concatenated, for one reduceat per pose
        self._poly_vertices = np.concatenate(self.bodies.vertices)
        self._poly_start = np.cumsum([0] + [len(v) for v in self.bodies.vertices])[:-1]
        self._has_faces = np.array([len(f) > 0 for f in self.bodies.faces])
        # a vertex on a body's own faces is on its surface, never inside it
        self._on_surface = np.zeros((len(rest), len(BODY_NAMES)), dtype=bool)
        for k, v in enumerate(self.bodies.vertices):
            self._on_surface[v, k] = True
        self._finger_of = np.array([n.split("_")[0] for n in BODY_NAMES])
        f = len(self.faces)
        self._vertex_faces = sp.csr_matrix((np.ones(3 * f), (self.faces.ravel(), np.repeat(np.arange(f), 3))),
                                           shape=(len(rest), f))

    @classmethod
    def for_model(cls, hand) -> "PenetrationMeter":
        rest = hand.forward(np.zeros((1, 20, 3)))
        return cls(rest.parts, rest.faces, rest.vertices[0], rest.keypoints[0])

    def measure(self, vertices: np.ndarray, with_contacts: bool = False, folding: bool = False,
                moving=None) -> Penetration:
        """Deepest collision per pose (and deepest folding when `folding`); contacts per pose
        with `with_contacts`. `moving`: finger names; when given, only collisions that involve
        them are looked for (the rest of the hand is known to be clear)."""
        vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.ndim == 2:
            vertices = vertices[None]
        depth, fold, contacts = np.zeros(len(vertices)), np.zeros(len(vertices)), []
        for i, verts in enumerate(vertices):
            found = self._inside(verts, folding, moving)
            coll = [c for c in found if c[3] == "collision"]
            depth[i] = max((c[2] for c in coll), default=0.0)
            fold[i] = max((c[2] for c in found if c[3] == "folding"), default=0.0)
            contacts.append([Contact(int(v), BODY_NAMES[self.vertex_body[v]], BODY_NAMES[b], int(f), bary, d)
                             for v, b, d, _, f, bary in coll] if with_contacts else [])
        return Penetration(depth=depth, folding=fold, contacts=contacts)

    def _inside(self, verts: np.ndarray, folding: bool, moving=None):
        """[(vertex, entered body, depth, kind, nearest face, barycentric)] for one posed mesh."""
        n = len(BODY_NAMES)
        proj = matmul(verts, KDOP.T)                                        # (V, 13)
        poly = proj[self._poly_vertices]
        lo = np.full((len(BODY_NAMES), len(KDOP)), np.inf)
        hi = np.full((len(BODY_NAMES), len(KDOP)), -np.inf)
        has = self._has_faces
        lo[has] = np.minimum.reduceat(poly, self._poly_start[has])
        hi[has] = np.maximum.reduceat(poly, self._poly_start[has])
        q = proj[self.fingers].T                                            # (13, Q)
        in_range = self._has_faces[:, None] & (q[0] >= lo[:, 0, None]) & (q[0] <= hi[:, 0, None])
        for k in range(1, len(KDOP)):                                        # (bodies, Q): in its polytope
            in_range &= (q[k] >= lo[:, k, None]) & (q[k] <= hi[:, k, None])
        in_range = in_range.T
        own = self.vertex_body[self.fingers]
        may = in_range & ~self._on_surface[self.fingers] & (folding | ~self.neighbour[own])
        if moving is not None:
            moved = np.isin(self._finger_of, list(moving))
            may &= moved[own][:, None] | moved[None]
        if not may.any():
            return []
        tri = verts[self.faces]
        area_n = 0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals = self._vertex_faces @ area_n                               # area-weighted
        for b in np.where(may.any(0))[0]:
            # clearly outside body b: off its nearest vertex, along that vertex's normal
            rows = np.where(may[:, b])[0]
            vb = self.bodies.vertices[b]
            p = verts[self.fingers[rows]]
            dist, near = cKDTree(verts[vb]).query(p)
            near = vb[near]
            along = np.einsum("rk,rk->r", p - verts[near], normals[near])
            may[rows[along > OUTSIDE_COS * dist * np.linalg.norm(normals[near], axis=1)], b] = False
        if not may.any():
            return []
        posed = self.bodies.pose(verts).setup(tri, area_n)
        closed = np.full(may.shape, np.nan)
        patch = np.zeros(may.shape)

        def wind(mask, far_factor):               # fill closed / patch where mask and not yet done
            rows, bs = np.nonzero(mask & np.isnan(closed))
            if len(rows):
                c, f = posed.winding(bs, verts[self.fingers[rows]], far_factor)
                closed[rows, bs], patch[rows, bs] = c, c - f

        # screening: inside the closed surface of a body it may collide with (or fold into); an
        # integer off the surface, so a coarse far field will do
        wind(may, SCREEN_FAR)
        suspect = np.where((np.nan_to_num(closed) > SCREEN).any(1))[0]
        if not len(suspect):
            return []
        # the whole mesh's winding number there: the sum of every closed body whose polytope
        # holds the vertex (the others' are 0, the fans cancel), less the vertex's own 3-ring
        sel = np.zeros_like(may)
        sel[suspect] = in_range[suspect]
        wind(sel, SCREEN_FAR)
        cand = self.fingers[suspect]
        ring_rows, ring_faces = self.rings[cand].nonzero()
        a, b, c = (tri[ring_faces, k] - verts[cand][ring_rows] for k in range(3))
        ring = np.bincount(ring_rows * n + self.face_body[ring_faces], weights=solid_angles_paired(a, b, c),
                           minlength=len(cand) * n).reshape(len(cand), n)
        total = np.where(sel[suspect], closed[suspect], 0.0).sum(1) - ring.sum(1)
        inside = total > INSIDE
        if not inside.any():
            return []
        cand, rows, ring = cand[inside], suspect[inside], ring[inside]
        own = self.vertex_body[cand]
        body_w = np.where(sel[rows], patch[rows], 0.0) - ring       # each body's own faces, less the ring
        body_w[np.arange(len(cand)), own] = -np.inf
        entered = body_w.argmax(1)
        out = []
        for e in np.unique(entered):
            pick = entered == e
            kinds = np.where(self.neighbour[own[pick], e], "folding", "collision")
            if not folding:
                pick &= ~self.neighbour[own, e]
                kinds = kinds[kinds == "collision"]
                if not pick.any():
                    continue
            fb = self.bodies.faces[e]
            face, bary, dist = closest_points(verts[cand[pick]], tri[fb])
            out += [(int(x), int(e), float(d), str(k), int(fb[f]), wb)
                    for x, d, k, f, wb in zip(cand[pick], dist, kinds, face, bary)]
        return out
