"""Independent whole-mesh self-penetration check of a posed hand (tests and benchmarks only).

It shares no code with the sampler's meter (generator.hand.penetration): libigl's exact
generalized winding numbers (Jacobson et al., SIGGRAPH 2013) of the WHOLE closed mesh, trimesh
for distances, its own part grouping.

At every vertex v the winding number of the closed mesh is taken without v's own 3-ring
neighbourhood (the faces touching any vertex within two edges of v). On the surface and clear
of everything else it is about 0.5; where v lies inside another part of the hand as well, the
other part adds 1, so v is inside when the number exceeds 1. The part v has entered is the one
whose faces (outside the 3-ring) wind most around v; the depth is v's distance to that part's
surface. A vertex inside its own neighbour along the finger (the next segment, or the palm for
a first segment, or the arm for the palm) is skin folding at a bent joint; anything else is a
collision: a finger in the palm, in another finger, or in the arm.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import igl
import numpy as np
import trimesh

FINGERS = ("thumb", "index", "middle", "ring", "little")
SEGMENTS = ("proximal", "middle", "distal")
INSIDE = 1.0


def group_names(part_names: list[str], parts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-vertex group: 'palm' (palm, dorsum), the finger segments, 'arm' (anything else).
    Nail vertices join the distal segment they sit on (the most common group of their mesh
    neighbours, spread outward from the nail's rim)."""
    names = np.array([part_names[p] for p in parts], dtype=object)
    group = names.copy()
    group[np.isin(names, ["palm", "dorsum"])] = "palm"
    finger_parts = [f"{f}_{s}" for f in FINGERS for s in SEGMENTS]
    group[~np.isin(names, ["palm", "dorsum", "nail"] + finger_parts)] = "arm"
    neighbours = [set() for _ in range(len(parts))]
    for a, b, c in faces:
        neighbours[a] |= {b, c}
        neighbours[b] |= {a, c}
        neighbours[c] |= {a, b}
    todo = set(np.where(names == "nail")[0])
    while todo:
        settled = {}
        for v in todo:
            votes = Counter(group[u] for u in neighbours[v] if group[u] != "nail"
                            and str(group[u]).endswith("_distal"))
            if votes:
                settled[v] = votes.most_common(1)[0][0]
        if not settled:
            raise ValueError("nail vertices that touch no distal segment")
        for v, g in settled.items():
            group[v] = g
        todo -= set(settled)
    return group


def folding_pair(a: str, b: str) -> bool:
    """True when groups a and b meet at one joint (neighbours along a finger, the palm and a
    finger's first segment, the palm and the arm)."""
    chain_of = {}
    for f in FINGERS:
        chain = ["palm"] + [f"{f}_{s}" for s in SEGMENTS]
        for x, y in zip(chain[:-1], chain[1:]):
            chain_of[(x, y)] = chain_of[(y, x)] = True
    return (a, b) in chain_of or {a, b} == {"palm", "arm"}


def ring_faces(faces: np.ndarray, n_vertices: int, rings: int = 3) -> list[np.ndarray]:
    """Per vertex, the faces of its `rings`-ring neighbourhood: faces touching a vertex within
    rings - 1 edges of it (the 1-ring is the faces around the vertex itself)."""
    adj = igl.adjacency_matrix(faces.astype(np.int64)).tocsr()
    vf = [[] for _ in range(n_vertices)]
    for fi, f in enumerate(faces):
        for v in f:
            vf[v].append(fi)
    out = []
    for v in range(n_vertices):
        near = {v}
        frontier = {v}
        for _ in range(rings - 1):
            frontier = {int(u) for w in frontier for u in adj.indices[adj.indptr[w]:adj.indptr[w + 1]]} - near
            near |= frontier
        out.append(np.unique(np.concatenate([vf[u] for u in near])).astype(np.int64))
    return out


def _solid_angles(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Signed solid angle / 4 pi of each triangle (N, 3, 3) at its point (N, 3)."""
    a, b, c = (tris[:, i] - points for i in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    num = np.einsum("ij,ij->i", a, np.cross(b, c))
    den = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la
           + np.einsum("ij,ij->i", c, a) * lb)
    return np.arctan2(num, den) / (2 * np.pi)


@dataclasses.dataclass
class Finding:
    vertex: int
    group: str           # the vertex's own group
    entered: str         # the group it lies inside
    depth: float         # metres, to the entered group's surface
    kind: str            # "collision" or "folding"


class WholeMeshCheck:
    """Build once per topology (faces, part labels); `check(vertices)` per posed mesh."""

    def __init__(self, faces: np.ndarray, parts: np.ndarray, part_names: list[str]):
        self.faces = np.asarray(faces, dtype=np.int64)
        self.group = group_names(part_names, np.asarray(parts), self.faces)
        n = len(self.group)
        self.rings = ring_faces(self.faces, n)
        corner = self.group[self.faces]
        self.face_group = np.where(corner[:, 1] == corner[:, 2], corner[:, 1], corner[:, 0])
        self.groups = sorted(set(self.group))
        self._pairs = np.concatenate([np.full(len(r), v) for v, r in enumerate(self.rings)])
        self._pair_faces = np.concatenate(self.rings)

    def winding_numbers(self, vertices: np.ndarray) -> np.ndarray:
        """(V,) whole-mesh winding number at each vertex without its own 3-ring."""
        v = np.asarray(vertices, dtype=np.float64)
        full = igl.winding_number(v, self.faces, v)
        own = _solid_angles(v[self._pairs], v[self.faces[self._pair_faces]])
        return full - np.bincount(self._pairs, weights=own, minlength=len(v))

    def check(self, vertices: np.ndarray) -> list[Finding]:
        v = np.asarray(vertices, dtype=np.float64)
        inside = np.where(self.winding_numbers(v) > INSIDE)[0]
        if not len(inside):
            return []
        # per group, the winding number of its faces outside each inside vertex's 3-ring
        per_group = np.full((len(inside), len(self.groups)), -np.inf)
        for k, g in enumerate(self.groups):
            faces = np.where(self.face_group == g)[0]
            wg = igl.winding_number(v, self.faces[faces], v[inside])
            for row, i in enumerate(inside):
                near = np.intersect1d(self.rings[i], faces, assume_unique=True)
                if len(near):
                    wg[row] -= _solid_angles(np.repeat(v[i:i + 1], len(near), 0), v[self.faces[near]]).sum()
            own = self.group[inside] == g
            per_group[~own, k] = wg[~own]
        entered = np.array(self.groups, dtype=object)[per_group.argmax(1)]
        depth = np.empty(len(inside))
        for g in set(entered):
            sel = entered == g
            mesh = trimesh.Trimesh(v, self.faces[self.face_group == g], process=False)
            depth[sel] = trimesh.proximity.closest_point(mesh, v[inside[sel]])[1]
        return [Finding(int(i), str(self.group[i]), str(e), float(d),
                        "folding" if folding_pair(self.group[i], e) else "collision")
                for i, e, d in zip(inside, entered, depth)]


@dataclasses.dataclass
class Summary:
    collision: float          # deepest finger vertex inside another finger, the palm or the arm (m)
    folding: float            # deepest finger vertex inside its neighbour at a joint (m)
    worst: Finding | None     # the deepest collision


def summarise(findings: list[Finding]) -> Summary:
    finger = [f for f in findings if f.group not in ("palm", "arm")]
    coll = [f for f in finger if f.kind == "collision"]
    fold = [f for f in finger if f.kind == "folding"]
    worst = max(coll, key=lambda f: f.depth) if coll else None
    return Summary(collision=worst.depth if worst else 0.0,
                   folding=max((f.depth for f in fold), default=0.0), worst=worst)
