"""Samples as plain data: ``draw_sample(job, index, ctx)`` -> Sample, a pure function of the job
and the index given the context's resources; ``build_views(sample, ctx)`` -> the hand of views a
and b in the camera frame.

A sample's own seed is ``derive_seed(job.seed, index)``; every draw comes from
``conventions.rng(sample_seed, 0, stream)`` with one named stream per aspect (side, shape, pose,
rotation, camera, texture, lighting, background, effects), so the sample is reproduced by
(job, seed) alone and adding a draw to one aspect never changes the others. Lighting and
background are drawn by their kinds (generator.sample.kinds). Appearance maps are looked up in one
place, ``appearance_for``, at render time.
"""
from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np

from generator.camera import place_camera
from generator.conventions import derive_seed, rng
from generator.sample import kinds
from generator.sample.context import SampleContext
from generator.sample.distractors import draw_distractors
from generator.sample.wear import draw_wear, sleeved
from generator.schema import JobError
from generator.views import ArmRegion, draw_pair_views


# --- the sample ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Sample:
    index: int
    seed: int                  # derive_seed(job seed, index): reproduces this sample with the job
    job_seed: int
    side: str
    model: str
    shape: dict
    pose: list                 # (20, 3) degrees, generator.hand.base.JOINTS order
    pose_kind: str             # how the pose sampler made it ("fist+claw" blend, "uniform")
    rotation_mode: str
    views: dict                # kinds of views a and b, natural views' arm_edge / facing, attempt
    R_a: list                  # (3, 3) canonical hand frame -> camera frame, view a
    R_ab: list                 # (3, 3) camera frame rotation of the hand about the wrist, a -> b
    wrist: list                # (3,) wrist position, camera frame, metres (shared by a and b)
    K: list                    # (3, 3)
    resolution: list           # [W, H]
    camera: dict               # focal_mm, fill, truncated
    texture: str
    skin_tone: int | None
    lighting: dict
    background: dict
    options: dict
    distractors: list = dataclasses.field(default_factory=list)   # the same in views a and b
    wear: list = dataclasses.field(default_factory=list)          # sleeves, watches, bracelets (generator.wear)

    @property
    def R_b(self) -> np.ndarray:
        return np.asarray(self.R_ab) @ np.asarray(self.R_a)

    def rotation(self, view: str) -> np.ndarray:
        """Canonical hand frame -> camera frame of view "a" or "b"."""
        return np.asarray(self.R_a) if view == "a" else self.R_b

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, d: dict) -> "Sample":
        return cls(**d)



def _effects(job: Job, r: np.random.Generator, seed: int, focus: float) -> dict:
    E = job.effects
    dof = {"fstop": kinds.uniform(r, E.fstop), "focus_distance": float(focus)} if r.uniform() < E.dof else None
    blur = kinds.uniform(r, E.motion_blur_amount) if r.uniform() < E.motion_blur else None
    noise = kinds.uniform(r, E.sensor_noise_sigma) if r.uniform() < E.sensor_noise else 0.0
    ev = kinds.uniform(r, E.exposure_ev)      # drawn last: the draws above keep their values
    passes = sorted(set(["depth"] + list(job.render.passes)))
    return {"samples": job.samples, "denoise": job.denoise, "dof": dof, "motion_blur": blur,
            "sensor_noise": noise, "seed": int(seed % (2**31 - 1)), "passes": passes,
            "preset": job.render.preset, "exposure": E.exposure, "exposure_ev": ev}


def _fit_points(batch, parts_forearm: int | None) -> np.ndarray:
    """Wrist-relative points that must be in frame: keypoints and all non-forearm vertices."""
    v = batch.vertices[0].astype(np.float64)
    if parts_forearm is not None:
        v = v[np.asarray(batch.parts) != parts_forearm]
    kp = batch.keypoints[0].astype(np.float64)
    return np.concatenate([kp, v]) - kp[0]


def draw_kind(job, family: str, r: np.random.Generator, stage: kinds.Stage) -> dict:
    """Choose one of the family's kinds by the job's weights (kinds the library cannot feed get
    weight 0), then let it draw itself from the same stream."""
    section = getattr(job, family)
    weights = dict(section.kinds)
    specs = {name: getattr(section, name) for name in weights}
    off = [n for n in weights if not specs[n].available(stage)]
    for n in off:
        weights[n] = 0.0
    if sum(weights.values()) <= 0:
        off = [n for n in off if section.kinds[n] > 0]
        names = ", ".join(repr(n) for n in off)
        why = "; ".join(specs[n].unavailable for n in off)
        raise JobError(f"{job.source}: {family}.kinds: only {names} has weight but {why}")
    return specs[kinds.choose(r, weights)].draw(r, stage)


def draw_sample(job, index: int, ctx: SampleContext) -> Sample:
    """Sample ``index`` of ``job`` (pure: same job, library files and index -> same Sample)."""
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    hand, lib = ctx.hand, ctx.library
    seed = derive_seed(job.seed, index)
    R = functools.partial(rng, seed, 0)

    side = kinds.choose(R("side"), job.hand.sides)
    shape = hand.sample_shape(R("shape"))
    from generator.hand.poses import sample_poses
    ps = sample_poses(hand, 1, int(R("pose").integers(0, 2**63 - 1)), shapes=[shape], meter=ctx.meter)
    pose = np.asarray(ps.poses[0], dtype=np.float64)
    shape = {k: np.asarray(v, dtype=float).tolist() for k, v in shape.items()}  # MANO: betas list
    batch = ctx.posed(pose, shape, side)
    from generator.hand.base import PART_INDEX
    C = job.camera
    res = job.resolution
    place = functools.partial(place_camera, resolution=(res, res), focal_mm=tuple(C.focal_mm),
                              fill=tuple(C.fill), truncation=C.truncation,
                              truncated_fill=tuple(C.truncated_fill))
    # what the arm wears comes first: a sleeve widens the arm, and its end must stay out of frame
    # with the arm's (its own stream: drawing it moves no other draw)
    arm = getattr(hand, "arm", None)
    wear = draw_wear(job.wear, R("wear")) if arm is not None and arm.rings else []
    worn = sleeved(batch, wear)
    # rotation and camera are drawn together, retried on streams (seed, attempt, name) until
    # every view keeps its kind's promise and the (sleeved) arm's end out of frame (generator.views)
    views = draw_pair_views(lambda stream, attempt: rng(seed, attempt, stream), job.rotation,
                            batch.keypoints[0], _fit_points(batch, PART_INDEX.get("forearm")), place,
                            ArmRegion.of(batch, arm, worn))
    R_a, R_ab, cam = views.R_a, views.R_ab, views.camera

    # texture: a skin tone first (uniform over the tones present), then a variant of that tone,
    # so reports per tone get balanced counts whatever the number of variants per tone
    tr = R("texture")
    tones = sorted({v.get("mst") for v in lib.textures}, key=lambda t: (t is None, t))
    tone = tones[int(tr.integers(len(tones)))]
    of_tone = [v for v in lib.textures if v.get("mst") == tone]
    variant = of_tone[int(tr.integers(len(of_tone)))]

    # every 8th vertex of hand and arm, in both views: what distractors must keep clear of (the
    # arm as wide as a sleeve it wears makes it)
    body = worn[::8] - batch.keypoints[0][0]
    stage = kinds.Stage(library=lib, wrist=cam.wrist, K=cam.K, resolution=(int(res), int(res)),
                        points_a=body @ R_a.T + cam.wrist, points_b=body @ (R_ab @ R_a).T + cam.wrist)
    return Sample(
        index=int(index), seed=int(seed), job_seed=int(job.seed), side=side, model=hand.name,
        shape=shape,
        pose=pose.tolist(), pose_kind=ps.kind[0],
        rotation_mode=job.rotation.mode,
        views={"kinds": list(views.kinds), "attempt": views.attempt,
               **{k: [d.get(k) for d in views.details] for k in ("arm_edge", "facing")}},
        R_a=R_a.tolist(), R_ab=R_ab.tolist(), wrist=[float(x) for x in cam.wrist],
        K=cam.K.tolist(), resolution=[int(res), int(res)],
        camera={"focal_mm": cam.focal_mm, "fill": cam.fill, "truncated": cam.truncated},
        texture=variant["name"], skin_tone=variant.get("mst"),
        lighting=draw_kind(job, "lighting", R("lighting"), stage),
        background=draw_kind(job, "background", R("background"), stage),
        options=_effects(job, R("effects"), seed, cam.wrist[2]),
        distractors=draw_distractors(job.distractors, R("distractors"), stage),
        wear=wear,
    )


def pose_hand(sample: Sample, ctx: SampleContext):
    """The posed hand of a sample in the canonical hand frame (a HandBatch of one)."""
    return ctx.posed(sample.pose, sample.shape, sample.side)


def build_views(sample: Sample, ctx: SampleContext, batch=None):
    """(verts_a, verts_b, kp_a, kp_b) in the camera frame, float64.

    Both views rotate the same wrist-relative points: D_a = R_a P, D_b = R_ab D_a, X = D + wrist,
    so X_b - X_b[0] == R_ab (X_a - X_a[0]) holds to float64 rounding of the one addition.
    """
    batch = batch if batch is not None else pose_hand(sample, ctx)
    kp = batch.keypoints[0].astype(np.float64)
    v = batch.vertices[0].astype(np.float64)
    origin = kp[0]
    R_a, R_ab = np.asarray(sample.R_a), np.asarray(sample.R_ab)
    t = np.asarray(sample.wrist)
    da_v, da_k = (v - origin) @ R_a.T, (kp - origin) @ R_a.T
    db_v, db_k = da_v @ R_ab.T, da_k @ R_ab.T
    return da_v + t, db_v + t, da_k + t, db_k + t


def appearance_for(sample: Sample, textures: dict) -> dict:
    """The appearance dict for BlenderView from the sample's variant name (the one place where
    texture names become map files). ``textures``: variant name -> manifest variant dict."""
    if sample.texture not in textures:
        raise KeyError(f"texture variant {sample.texture!r} is not in the texture set "
                       f"(have: {', '.join(sorted(textures))}); rebuild with `make textures`")
    v = textures[sample.texture]
    return {"texture": v["name"], "maps": dict(v["maps"]),
            "subsurface_radius_m": [float(x) for x in v["subsurface_radius_m"]],
            "skin_tone": v.get("mst")}
