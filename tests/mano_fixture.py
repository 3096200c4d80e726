"""Write a MANO-format pickle (the keys smplx.MANO reads, the shapes of the real MANO_RIGHT.pkl)
without the licensed MANO data: a hand-like 778-vertex / 1538-face mesh made by decimating
anny's rest hand, anny's skin weights mapped onto MANO's 16 joints, a joint regressor fitted to
anny's joints, and smooth random shape / pose blend shapes. Vertices 744, 320, 443, 554, 671
are the fingertips, as in MANO. Used only by tests; not a substitute for MANO.
"""
from __future__ import annotations

import heapq
import pickle
import sys
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.spatial.transform

from generator.hand import mesh_ops

N_VERTS, N_FACES, N_LOOP = 778, 1538, 16
TIPS = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "little": 671}
# conventions keypoint of each MANO joint (0 wrist, 1-3 index, 4-6 middle, 7-9 little,
# 10-12 ring, 13-15 thumb)
KEYPOINT_OF_JOINT = [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]
PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
# anny bone -> MANO joint (root, wrist and the four metacarpals all ride on MANO's wrist)
ANNY_BONE_TO_JOINT = {0: 0, 1: 0, 2: 13, 3: 14, 4: 15, 5: 0, 6: 1, 7: 2, 8: 3, 9: 0, 10: 4, 11: 5,
                      12: 6, 13: 0, 14: 10, 15: 11, 16: 12, 17: 0, 18: 7, 19: 8, 20: 9}


def _normal(p, f):
    n = np.cross(p[f[1]] - p[f[0]], p[f[2]] - p[f[0]])
    return n / (np.linalg.norm(n) + 1e-20)


def decimate(verts: np.ndarray, faces: np.ndarray, n_target: int, loop_target: int):
    """Shortest-edge collapse (to the midpoint) of a disk-topology mesh down to n_target vertices
    and a wrist loop of loop_target vertices; the link condition keeps it a manifold disk and a
    normal check keeps triangles from flipping. Returns (vertices, faces, kept original ids)."""
    pos = np.array(verts, dtype=np.float64)
    faces = {i: list(map(int, f)) for i, f in enumerate(faces)}
    vf = defaultdict(set)
    for i, f in faces.items():
        for v in f:
            vf[v].add(i)
    loop = list(mesh_ops.boundary_loop(np.array(list(faces.values()))))
    boundary = set(loop)
    alive = set(range(len(pos)))

    def nbrs(v):
        return {u for fi in vf[v] for u in faces[fi]} - {v}

    def collapse(u, v, n_common):
        if len(nbrs(u) & nbrs(v)) != n_common:
            return False
        mid = (pos[u] + pos[v]) / 2
        moved = pos.copy()
        moved[u] = moved[v] = mid
        for fi in (vf[u] | vf[v]) - (vf[u] & vf[v]):
            if _normal(pos, faces[fi]) @ _normal(moved, faces[fi]) < 0.3:
                return False
        pos[u] = mid
        for fi in list(vf[v]):
            if u in faces[fi]:                                           # the two faces on the edge
                for w in faces[fi]:
                    vf[w].discard(fi)
                del faces[fi]
            else:
                faces[fi] = [u if w == v else w for w in faces[fi]]
                vf[u].add(fi)
        vf.pop(v, None)
        alive.discard(v)
        return True

    # 1) shorten the wrist loop along its shortest edges
    while len(boundary) > loop_target:
        order = sorted(range(len(loop)), key=lambda i: np.linalg.norm(pos[loop[i]] - pos[loop[i - 1]]))
        for i in order:
            u, v = loop[i - 1], loop[i]
            if collapse(u, v, 1):
                boundary.discard(v)
                loop.remove(v)
                break
        else:
            raise RuntimeError("cannot shorten the boundary loop")
    # 2) interior edges, shortest first (lazy heap)
    heap = []
    for f in faces.values():
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            heapq.heappush(heap, (np.linalg.norm(pos[a] - pos[b]), min(a, b), max(a, b)))
    while len(alive) > n_target:
        if not heap:
            raise RuntimeError(f"decimation stuck at {len(alive)} vertices")
        length, u, v = heapq.heappop(heap)
        if u not in alive or v not in alive or v not in nbrs(u) or u in boundary or v in boundary:
            continue
        now = np.linalg.norm(pos[u] - pos[v])
        if abs(now - length) > 1e-12:
            heapq.heappush(heap, (now, u, v))
            continue
        if collapse(u, v, 2):
            for w in nbrs(u):
                heapq.heappush(heap, (np.linalg.norm(pos[u] - pos[w]), min(u, w), max(u, w)))
    kept = np.array(sorted(alive))
    remap = np.full(len(pos), -1)
    remap[kept] = np.arange(len(kept))
    return pos[kept], remap[np.array(list(faces.values()))], kept


def _smooth_fields(points: np.ndarray, n: int, amplitude: float, rng: np.random.Generator):
    """(V, 3, n) smooth random displacement fields (low-frequency sines of position)."""
    freq = rng.normal(0.0, 15.0, (n, 3, 3))                              # rad per metre
    phase = rng.uniform(0, 2 * np.pi, (n, 3))
    return amplitude * np.sin(np.einsum("vk,nck->vcn", points, freq) + phase.T[None])


def _fake_chumpy(array: np.ndarray):
    """An object that pickles exactly like a plain chumpy.ch.Ch (class chumpy.ch.Ch, state a
    dict holding the array under 'x'), as in the official MANO files."""
    mod = types.ModuleType("chumpy.ch")

    class Ch:
        def __getstate__(self):
            return {"x": array, "_dirty_vars": set(), "_itr": None}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    return mod, Ch()


def fixture_pose() -> np.ndarray:
    """The anny pose the fixture hand is cut from: flatter than anny's relaxed rest (PIP and DIP
    extended by 12 degrees), so that the anny -> MANO alignment has work to do."""
    pose = np.zeros((1, 20, 3))
    for j in (6, 7, 10, 11, 14, 15, 18, 19):                            # PIP / DIP joints
        pose[0, j, 0] = -12.0
    return pose


def hard_pose() -> np.ndarray:
    """A fixture pose further from anny's rest (thumb swung and twisted, fingers spread, PIPs
    extended): the anny -> MANO transfer must still line up the two surfaces."""
    from generator.hand.base import JOINTS

    pose = fixture_pose()
    for name, angles in {"thumb_cmc": (-25, 20, 15), "thumb_mcp": (-15, 5, 0), "thumb_ip": (-20, 0, 0),
                         "index_mcp": (-10, 8, 0), "ring_mcp": (0, -6, 0), "little_mcp": (-10, -12, 0),
                         "index_pip": (-30, 0, 0), "middle_pip": (-30, 0, 0), "ring_pip": (-30, 0, 0),
                         "little_pip": (-30, 0, 0)}.items():
        pose[0, JOINTS.index(name)] = angles
    return pose


def build_mano_data(seed: int = 0, anny=None, pose: np.ndarray | None = None) -> dict:
    """The dict of a MANO_RIGHT.pkl (numpy arrays, J_regressor scipy-sparse as in MANO).
    anny: an AnnyHand with forearm_length=0 (loaded if not given); pose: the anny pose (1, 20, 3)
    to cut the hand from (default fixture_pose())."""
    from generator.hand import load_hand_model

    rng = np.random.default_rng(seed)
    if anny is None:
        anny = load_hand_model("anny", forearm_length=0.0)
    n_base = anny._n_base
    batch = anny.forward(fixture_pose() if pose is None else pose)
    verts, kp = batch.vertices[0, :n_base].astype(np.float64), batch.keypoints[0].astype(np.float64)
    v, f, kept = decimate(verts, anny.faces[:len(anny._base_faces)], N_VERTS, N_LOOP)
    if v.shape != (N_VERTS, 3) or f.shape != (N_FACES, 3):
        raise RuntimeError(f"decimated mesh has {len(v)} vertices / {len(f)} faces")
    # Put the fingertips at MANO's tip vertex ids.
    perm = np.arange(N_VERTS)
    for finger, tip in zip(TIPS, anny.tip_vertices):
        src = int(np.argmin(np.linalg.norm(v - verts[tip], axis=1)))
        target = TIPS[finger]
        i, j = np.where(perm == src)[0][0], target
        perm[i], perm[j] = perm[j], perm[i]
    inv = np.argsort(perm)
    v, f, kept = v[perm], inv[f], kept[perm]
    # Skin weights: anny's, summed onto MANO's joints.
    weights = np.zeros((N_VERTS, 16))
    bi, bw = anny._bone_index[kept], anny._bone_weight[kept]
    for k in range(bi.shape[1]):
        np.add.at(weights, (np.arange(N_VERTS), [ANNY_BONE_TO_JOINT[b] for b in bi[:, k]]), bw[:, k])
    weights /= weights.sum(1, keepdims=True)
    # Joint regressor: non-negative weights on the 16 nearest vertices, summing to one.
    joints = kp[KEYPOINT_OF_JOINT]
    reg = np.zeros((16, N_VERTS))
    for j, target in enumerate(joints):
        near = np.argsort(np.linalg.norm(v - target, axis=1))[:16]
        a = np.vstack([v[near].T, 10.0 * np.ones(16)])
        reg[j, near], _ = scipy.optimize.nnls(a, np.r_[target, 10.0])
        reg[j] /= reg[j].sum()
    # Model coordinates: MANO's template is not in our canonical frame; rotate and shift it.
    rot = scipy.spatial.transform.Rotation.from_rotvec([0.4, -1.1, 0.7]).as_matrix()
    shift = np.array([0.09, 0.005, -0.01])
    v_model = v @ rot.T + shift
    return {
        "v_template": v_model, "f": f.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(reg),
        "J": reg @ v_model,
        "weights": weights,
        "kintree_table": np.array([[4294967295] + PARENTS[1:], list(range(16))], dtype=np.int64),
        "shapedirs": _smooth_fields(v_model, 10, 0.003, rng),
        "posedirs": _smooth_fields(v_model, 135, 0.0005, rng),
        "hands_components": np.linalg.qr(rng.normal(size=(45, 45)))[0],
        "hands_mean": rng.normal(0.0, 0.1, 45),
        "hands_coeffs": rng.normal(0.0, 0.5, (1554, 45)),
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


def write_mano_pickle(folder: Path, seed: int = 0, chumpy: bool = False, data: dict | None = None) -> Path:
    """Write folder/MANO_RIGHT.pkl; chumpy=True stores shapedirs as a chumpy object like MANO's."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = dict(build_mano_data(seed) if data is None else data)
    path = folder / "MANO_RIGHT.pkl"
    if not chumpy:
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
        return path
    mod, ch = _fake_chumpy(np.asarray(data["shapedirs"]))
    data["shapedirs"] = ch
    pkg = types.ModuleType("chumpy")
    pkg.ch = mod
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": pkg, "chumpy.ch": mod})
    try:
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        for k, m in saved.items():
            if m is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = m
    return path
