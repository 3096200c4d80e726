"""The embedded default hand: anny's right hand (Apache-2.0 code, CC0 MakeHuman assets).

anny gives the rest shape (phenotype blendshapes), skin weights and bone heads; posing uses our
own compact LBS with anatomical joint frames (generator.hand.skinning), so that joint angles
mean flexion / abduction / twist and the limits in generator.hand.limits apply directly.

`python -m generator.hand.anny_backend --build-cache` builds anny's model once into the project
cache and keeps only the compact file it loads from (~4 MB of ~590 MB written during the build),
then the rest model as plain arrays (generator.hand.anny_rest), which is all the hand loads: a
render worker never imports anny, torch or warp for it.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from functools import cached_property

import numpy as np

from generator.conventions import FINGERS, NUM_KEYPOINTS
from generator.hand import mesh_ops
from generator.hand import anny_rest
from generator.hand.arm import DEFAULT_FOREARM_LENGTH_M, MAX_FOREARM_LENGTH_M, build_arm
from generator.hand.base import JOINTS, PART_INDEX, HandBatch, broadcast_shapes, checked_pose, sided_batch
from generator.hand.frames import anatomical_frames, bone_directions, canonical_frame
from generator.hand.skinning import forward_kinematics, skin, smooth_weights
from generator.native_output import native_output_silenced
from generator.paths import anny_cache_dir

RIG, TOPOLOGY = "anny-hand.R", "hand.R"
# anny bone order: root, wrist, thumb (finger1-1..3), then per finger metacarpal + 3 phalanges.
BONE_OF_JOINT = np.arange(1, len(JOINTS) + 1)            # JOINTS[j] is anny bone j + 1
# Keypoints 0-20 from bone heads, fingertips (-1) from surface vertices. The wrist bone's head is
# moved from anny's (at the cut) to the wrist crease: see wrist_ring().
KEYPOINT_BONES = [1, 2, 3, 4, -1, 6, 7, 8, -1, 10, 11, 12, -1, 14, 15, 16, -1, 18, 19, 20, -1]
WRIST_BONE = 1
FINGER_BONES = {"thumb": (2, 3, 4), "index": (6, 7, 8), "middle": (10, 11, 12),
                "ring": (14, 15, 16), "little": (18, 19, 20)}
METACARPAL_BONES = (5, 9, 13, 17)

# Shape sampling ranges over anny's phenotypes (each in [0, 1]). age anchors: 1/3 = child,
# 2/3 = young adult, 1 = old; [0.45, 0.95] spans adolescent to elderly hands. gender: 0 = male.
SHAPE_RANGES = {
    "gender": (0.0, 1.0), "age": (0.45, 0.95), "muscle": (0.2, 0.8),
    "weight": (0.15, 0.85), "height": (0.2, 0.8), "proportions": (0.2, 0.8),
}
DEFAULT_SHAPE = {"gender": 0.5, "age": 2 / 3, "muscle": 0.5, "weight": 0.5, "height": 0.5,
                 "proportions": 0.5}


def _quiet_import_anny():
    """anny imports NVIDIA warp, which prints a device banner and, on machines without a GPU, a
    "Warp CUDA warning" from its native CUDA probe on every run; initialise warp silently first
    (the probe only runs once per process), so CLIs keep a clean console."""
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            import warp
            warp.config.quiet = True
            with native_output_silenced(1, 2):
                warp.init()
        except ImportError:
            pass
        import anny
        import anny.paths
    return anny


def build_cache(verbose: bool = True) -> None:
    """Build anny's hand model into the project cache, then prune everything it won't load."""
    cache = anny_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    say = (lambda m: print(f"[anny] {m}", file=sys.stderr, flush=True)) if verbose else (lambda m: None)
    compact = list(cache.glob("v*/build_compact_model_data_*.safetensors"))
    if compact:
        say(f"hand model cached: {compact[0]} ({compact[0].stat().st_size / 1e6:.1f} MB)")
    else:
        say(f"building the anny hand model into {cache} (first time only, about a minute)...")
        t0 = time.time()
        _load_anny()
        kept, freed = 0, 0
        for f in cache.rglob("*"):
            if f.is_file():
                if f.name.startswith("build_compact_model_data_"):
                    kept += f.stat().st_size
                else:
                    freed += f.stat().st_size
                    f.unlink()
        say(f"built in {time.time() - t0:.0f} s; kept {kept / 1e6:.1f} MB, removed {freed / 1e6:.0f} MB of build files")
    path = anny_rest.cache_path(RIG, TOPOLOGY)
    if not path.is_file():
        load_rest()                    # builds it
    say(f"rest model as arrays: {path} ({path.stat().st_size / 1e6:.1f} MB)")


def load_rest() -> anny_rest.AnnyRest:
    """The hand's rest model as arrays, built from anny into the cache the first time."""
    path = anny_rest.cache_path(RIG, TOPOLOGY)
    if path.is_file():
        return anny_rest.AnnyRest.load(path)
    rest = anny_rest.from_anny(_load_anny(), tuple(SHAPE_RANGES))
    rest.save(path)
    return rest


def _load_anny():
    anny = _quiet_import_anny()
    anny.paths.set_anny_cache_path(anny_cache_dir())
    with contextlib.redirect_stdout(io.StringIO()):
        return anny.Anny(rig=RIG, topology=TOPOLOGY)


def wrist_ring(faces: np.ndarray) -> np.ndarray:
    """The hand's first vertex loop above its cut at the wrist (the vertices one edge from the
    boundary loop): it runs round the distal wrist crease, where the palm starts to widen into
    the thenar and hypothenar eminences. Its centroid is the wrist keypoint: the centre of the
    wrist at the level of the styloids and the crease, which is where FreiHAND/MANO put the
    wrist (MANO's root joint) and where photographs are annotated. anny's own wrist bone head
    (MakeHuman's joint-r-hand) lies about 12 mm further into the forearm, at the cut; the wrist
    bone's head is moved here, so that the hand bends about its wrist keypoint as MANO's does
    about its root (the wrist's centre of rotation lies in the head of the capitate, just
    distal of the radiocarpal joint)."""
    loop = mesh_ops.boundary_loop(faces)
    on_loop = np.isin(faces, loop)
    touching = faces[on_loop.any(axis=1)]
    return np.setdiff1d(np.unique(touching), loop)


class AnnyHand:
    """HandModel backend on anny. forearm_length 0 gives a capped wrist; > 0 a forearm
    (generator.hand.arm: metres for a 19 cm hand, scaled with the hand)."""

    name = "anny"
    shape_names = tuple(SHAPE_RANGES)

    def __init__(self, forearm_length: float = DEFAULT_FOREARM_LENGTH_M):
        if forearm_length < 0 or forearm_length > MAX_FOREARM_LENGTH_M:
            raise ValueError(f"forearm_length must be in [0, {MAX_FOREARM_LENGTH_M}] m, got {forearm_length}")
        self._model = m = load_rest()
        self.forearm_length = float(forearm_length)
        self._parents = [int(p) for p in m.bone_parents]
        self._base_faces = m.faces
        self._n_base = m.template_vertices.shape[0]
        self._wrist_ring = wrist_ring(self._base_faces)
        bi, bw = m.bone_index, m.bone_weight
        self.arm = build_arm(self._base_faces, self._n_base, self.forearm_length)
        self.faces = np.concatenate([self._base_faces, self.arm.faces]).astype(np.int32)
        # Skin weights of the arm's vertices: root (the forearm) and the wrist bone by the arm's
        # wrist weight, so bending the wrist bends the skin near it and not the forearm.
        n_new = self.arm.n_new
        new_idx = np.zeros((n_new, bi.shape[1]), dtype=bi.dtype)
        new_w = np.zeros((n_new, bw.shape[1]))
        new_idx[:, 1] = 1
        new_w[:, 0], new_w[:, 1] = 1.0 - self.arm.wrist_weight, self.arm.wrist_weight
        self._bone_index = np.concatenate([bi, new_idx])
        self._bone_weight = np.concatenate([bw, new_w])
        self._joint_of_bone = np.full(len(self._parents), -1)
        self._joint_of_bone[BONE_OF_JOINT] = np.arange(len(JOINTS))
        rest, heads = self._rest(np.array([[DEFAULT_SHAPE[k] for k in self.shape_names]]))
        self._frames = self._anatomical_frames(heads[0])
        self._tips = self._tip_vertices(rest[0], heads[0])
        self.parts = self._part_labels(rest[0], heads[0])
        self.uvs = self._uv_layout(rest[0])
        # Wider blend zones at the finger joints (parts and tips above keep anny's own weights):
        # MakeHuman's narrow ones fold a flexed joint's inner skin into its neighbour (docs/HAND.md).
        fingers = np.isin(self._dominant_bone(), np.arange(2, len(self._parents)))
        self._bone_index, self._bone_weight = smooth_weights(
            self._base_faces, self._bone_index, self._bone_weight, len(self._parents), fingers)

    # --- shape -----------------------------------------------------------------------------------
    def default_shape(self) -> dict:
        return dict(DEFAULT_SHAPE)

    def sample_shape(self, rng: np.random.Generator) -> dict:
        return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in SHAPE_RANGES.items()}

    def _shape_array(self, shapes, batch: int) -> np.ndarray:
        rows = []
        for s in broadcast_shapes(shapes, DEFAULT_SHAPE, batch, "anny"):
            row = [float(s.get(k, DEFAULT_SHAPE[k])) for k in self.shape_names]
            if not all(0.0 <= v <= 1.0 for v in row):
                raise ValueError(f"anny shape parameters must lie in [0, 1], got {s}")
            rows.append(row)
        return np.asarray(rows)

    def _rest(self, phen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest vertices (incl. closure) and bone heads in the canonical frame, per shape."""
        verts, heads = self._model.rest(phen)      # the rest model only: anny's own skinning is not needed
        rot, origin = canonical_frame(verts[:, self._wrist_ring].mean(axis=1), heads[:, 10], heads[:, 6],
                                      heads[:, 18])
        verts = np.einsum("bij,bvj->bvi", rot, verts - origin[:, None])
        heads = np.einsum("bij,bvj->bvi", rot, heads - origin[:, None])
        heads[:, WRIST_BONE] = 0.0                         # the hand bends about the wrist keypoint
        verts = np.concatenate([verts, self.arm.new_vertices(verts)], axis=1)
        return verts, heads

    # --- rig-derived data (computed once on the default shape) -------------------------------------
    def _anatomical_frames(self, heads: np.ndarray) -> np.ndarray:
        """(K, 3, 3) frames with columns (flexion axis, bone direction, palmar direction)."""
        dirs = bone_directions(heads, self._parents)
        dirs[1] = (0.0, 1.0, 0.0)                                        # the wrist bends the whole hand
        thumb = np.isin(np.arange(len(self._parents)), FINGER_BONES["thumb"])
        frames = anatomical_frames(dirs, thumb, heads[18] - heads[3])
        frames[0] = np.eye(3)                                            # root: never posed
        return frames

    def _tip_vertices(self, rest: np.ndarray, heads: np.ndarray) -> list[int]:
        """Per finger the base-mesh vertex furthest along the distal bone: the nail end of the pad."""
        dominant = self._dominant_bone()
        tips = []
        for finger in FINGERS:
            bone = FINGER_BONES[finger][-1]
            cand = np.where(dominant == bone)[0]
            along = (rest[cand] - heads[bone]) @ self._frames[bone][:, 1]
            tips.append(int(cand[np.argmax(along)]))
        return tips

    def _dominant_bone(self) -> np.ndarray:
        return self._bone_index[np.arange(len(self._bone_index)), self._bone_weight.argmax(1)]

    def _part_labels(self, rest: np.ndarray, heads: np.ndarray) -> np.ndarray:
        import trimesh

        normals = trimesh.Trimesh(rest, self.faces, process=False).vertex_normals
        dominant = self._dominant_bone()
        parts = np.where(normals[:, 2] > 0, PART_INDEX["palm"], PART_INDEX["dorsum"]).astype(np.int8)
        for finger, bones in FINGER_BONES.items():
            for seg, bone in zip(("proximal", "middle", "distal"), bones):
                parts[dominant == bone] = PART_INDEX[f"{finger}_{seg}"]
            # Nail: dorsal side of the distal segment, its distal half (a plate of ~12-15 mm).
            bone = bones[-1]
            frame = self._frames[bone]
            on = dominant == bone
            length = (rest[self._tips[FINGERS.index(finger)]] - heads[bone]) @ frame[:, 1]
            along = (rest - heads[bone]) @ frame[:, 1] / length
            dorsal = -(normals @ frame[:, 2])
            parts[on & (along > 0.5) & (dorsal > 0.45)] = PART_INDEX["nail"]
        parts[self._n_base:] = PART_INDEX["forearm"]
        return parts

    def _uv_layout(self, rest: np.ndarray) -> np.ndarray:
        hand = mesh_ops.fit_unit_square(self._model.uv_atlas.astype(np.float64))
        extra = self.arm.uvs(hand, rest)
        return np.concatenate([hand, extra]).astype(np.float32)

    # --- posing ------------------------------------------------------------------------------------
    def rig(self, shapes) -> "AnnyRig":
        """The posable hands of these shapes (right side): vertices of any pose, cheaply, for
        the pose sampler's contact resolution."""
        return AnnyRig(self, *self._rest(self._shape_array(shapes, len(shapes))))

    def forward(self, pose: np.ndarray, shapes=None, side: str = "right") -> HandBatch:
        pose = checked_pose(pose, side)
        phen = self._shape_array(shapes, len(pose))
        rest, heads = self._rest(phen)
        transforms, posed_heads = forward_kinematics(heads, self._frames, self._parents,
                                                     self._joint_of_bone, pose)
        verts = skin(rest, transforms, self._bone_index, self._bone_weight)
        kp = np.empty((len(pose), NUM_KEYPOINTS, 3))
        tips = iter(self._tips)
        for k, bone in enumerate(KEYPOINT_BONES):
            kp[:, k] = posed_heads[:, bone] if bone >= 0 else verts[:, next(tips)]
        return sided_batch(side, vertices=verts, keypoints=kp, faces=self.faces, uvs=self.uvs,
                           parts=self.parts, pose=pose.astype(np.float32),
                           shape=[dict(zip(self.shape_names, map(float, row))) for row in phen],
                           model=self.name)

    @cached_property
    def tip_vertices(self) -> list[int]:
        return list(self._tips)


class AnnyRig:
    """Rest meshes and bone heads of a list of shapes, posed on demand (right hands)."""

    def __init__(self, hand: AnnyHand, rest: np.ndarray, heads: np.ndarray):
        self._hand, self.rest, self.heads = hand, rest, heads

    def vertices(self, pose: np.ndarray, rows, subset=None) -> np.ndarray:
        """(B, V or len(subset), 3) vertices of poses (B, 20, 3) on shapes `rows` (B,)."""
        h = self._hand
        transforms, _ = forward_kinematics(self.heads[rows], h._frames, h._parents, h._joint_of_bone, pose)
        sel = slice(None) if subset is None else subset
        return skin(self.rest[rows][:, sel], transforms, h._bone_index[sel], h._bone_weight[sel])


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-cache", action="store_true", help="build and prune the anny cache")
    args = ap.parse_args(argv)
    if args.build_cache:
        build_cache()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
