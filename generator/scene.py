"""Samples as plain data: ``draw_sample(job, index)`` -> Sample, a pure function of the job and the
index; ``build_views(sample, hand)`` -> the hand of views a and b in the camera frame.

A sample's own seed is ``derive_seed(job.seed, index)``; every draw comes from
``conventions.rng(sample_seed, 0, stream)`` with one named stream per aspect (side, shape, pose,
rotation, camera, texture, lighting, background, effects), so the sample is reproduced by
(job, seed) alone and adding a draw to one aspect never changes the others.

The library a job may draw from (HDRIs, texture variants, background images) is resolved once per
job by ``resolve_library`` from names/globs, sorted, so the same files give the same samples.
Appearance maps are looked up in one place, ``appearance_for``, at render time.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
from pathlib import Path

import numpy as np

from generator import hdri as hdri_lib
from generator.camera import place_camera
from generator.conventions import derive_seed, rng
from generator.jobs import Job, JobError
from generator.rotations import sample_pair_rotations

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


# --- what a job may draw from --------------------------------------------------------------------

@dataclasses.dataclass
class Library:
    hdris: list            # HdriEntry, sorted by name
    textures: list         # texture variant dicts (manifest entries with absolute map paths)
    images: list           # absolute background image paths, sorted

    @functools.cached_property
    def hdri_by_name(self):
        return {e.name: e for e in self.hdris}

    @functools.cached_property
    def texture_by_name(self):
        return {v["name"]: v for v in self.textures}


def _glob_filter(names, include, exclude, what, source):
    for p in list(include) + list(exclude):
        if not fnmatch.filter(names, p):
            raise JobError(f"{source}: {what} pattern {p!r} matches none of: {', '.join(names) or '(none)'}")
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include)
            and not any(fnmatch.fnmatchcase(n, p) for p in exclude)]


def load_textures(texture_dir: str | Path) -> list[dict]:
    """A relative folder that is not under the working directory is looked up in the checkout,
    so the default `textures` works from anywhere."""
    from generator.paths import REPO_ROOT
    from generator.textures import load_texture_set
    path = Path(texture_dir)
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path
    return list(load_texture_set(path).variants)


def resolve_library(job: Job, textures: list[dict] | None = None) -> Library:
    """The HDRIs, texture variants and background images this job may use."""
    L, A, B = job.lighting, job.appearance, job.background
    entries = hdri_lib.load_library(L.hdri_dirs or None, embedded=L.embedded_hdris)
    names = _glob_filter([e.name for e in entries], L.hdris, L.exclude_hdris, "lighting.hdris", job.source)
    by_name = {e.name: e for e in entries}
    hdris = [by_name[n] for n in names]
    if textures is None:
        textures = load_textures(A.texture_dir)
    tex_names = _glob_filter(sorted(v["name"] for v in textures), A.textures, A.exclude_textures,
                             "appearance.textures", job.source)
    tex = {v["name"]: v for v in textures}
    variants = [tex[n] for n in tex_names if not A.skin_tones or tex[n].get("mst") in A.skin_tones]
    if not variants:
        raise JobError(f"{job.source}: appearance: no texture variant left after the name and skin-tone filters")
    images = []
    if B.image_dir:
        d = Path(B.image_dir)
        if not d.is_dir():
            raise JobError(f"{job.source}: background.image_dir: folder {d} does not exist")
        images = sorted(str(p.resolve()) for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise JobError(f"{job.source}: background.image_dir: no images ({', '.join(IMAGE_EXTENSIONS)}) in {d}")
    if job.lighting.kinds.get("hdri", 0) > 0 and not hdris:
        raise JobError(f"{job.source}: lighting.hdris: no HDRI selected but lighting.kinds.hdri > 0")
    return Library(hdris=hdris, textures=variants, images=images)


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

    @property
    def R_b(self) -> np.ndarray:
        return np.asarray(self.R_ab) @ np.asarray(self.R_a)

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, d: dict) -> "Sample":
        return cls(**d)


@functools.lru_cache(maxsize=4)
def _hand_model(model: str, forearm_length: float, mano_dir: str = ""):
    from generator.hand import load_hand_model
    if model == "mano":
        return load_hand_model(model, mano_dir=mano_dir or None, forearm_length=forearm_length)
    return load_hand_model(model, forearm_length=forearm_length)


_METERS: dict[int, object] = {}


def _sample_pose(hand, seed: int):
    """One pose from the lead's sampler (joint limits, penetration relaxed), meter cached per hand."""
    from generator.hand.penetration import PenetrationMeter
    from generator.hand.poses import sample_poses
    if id(hand) not in _METERS:
        _METERS[id(hand)] = PenetrationMeter.for_model(hand)
    return sample_poses(hand, 1, seed, meter=_METERS[id(hand)])


def hand_for(job: Job):
    return _hand_model(job.hand.model, job.hand.forearm_length, job.hand.mano_dir)


_LIBRARIES: dict[str, Library] = {}


def library_for(job: Job) -> Library:
    key = job.fingerprint()
    if key not in _LIBRARIES:
        _LIBRARIES[key] = resolve_library(job)
    return _LIBRARIES[key]


def _choice(r: np.random.Generator, weights: dict) -> str:
    keys = [k for k in weights if weights[k] > 0]
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(r.choice(len(keys), p=p / p.sum()))]


def _u(r, lo_hi):
    return float(r.uniform(lo_hi[0], lo_hi[1]))


def kelvin_to_rgb(kelvin: float) -> list[float]:
    """Approximate blackbody colour (linear RGB, max channel 1) - T. Helland's fit to CIE data."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return [round(float(c), 6) for c in lin / lin.max()]


def _lighting(job: Job, lib: Library, r: np.random.Generator, wrist: np.ndarray) -> dict:
    L = job.lighting
    weights = dict(L.kinds)
    if not lib.hdris:
        weights["hdri"] = 0.0
    kind = _choice(r, weights)
    if kind == "hdri":
        e = lib.hdris[int(r.integers(len(lib.hdris)))]
        return {"kind": "hdri", "name": e.name, "path": e.path, "sha256": e.sha256,
                "rotation": _u(r, (0.0, 2 * np.pi)), "strength": _u(r, L.hdri_strength)}
    if kind == "sky":
        return {"kind": "sky", "sun_elevation": float(np.radians(_u(r, L.sun_elevation_deg))),
                "sun_rotation": _u(r, (0.0, 2 * np.pi)), "strength": _u(r, L.sky_strength),
                "air": _u(r, L.sky_air), "dust": _u(r, L.sky_dust)}
    n = int(r.integers(int(L.studio_lights[0]), int(L.studio_lights[1]) + 1))
    # Exposure is set by the irradiance at the hand, not by watts: a Lambertian disc light of power
    # P gives E = P / (pi d^2) on its axis at distance d, so P = E pi d^2 keeps near and far lights
    # equally bright instead of blowing the skin out when a light comes close.
    share = r.dirichlet(np.ones(n)) * _u(r, L.studio_irradiance)
    lights = []
    for e in share:
        # mostly from the camera's side of the hand (z toward the camera), sometimes a rim light
        d = r.normal(size=3)
        d /= np.linalg.norm(d)
        d[2] = -abs(d[2]) if r.uniform() < 0.8 else abs(d[2])
        dist = _u(r, L.studio_distance)
        pos = wrist + d * dist
        lights.append({"position": [float(x) for x in pos], "size": _u(r, L.studio_size),
                       "power": float(e * np.pi * dist**2), "color": kelvin_to_rgb(_u(r, L.studio_kelvin))})
    return {"kind": "studio", "lights": lights, "ambient": _u(r, L.studio_ambient)}


def _background(job: Job, lib: Library, r: np.random.Generator) -> dict:
    B = job.background
    weights = dict(B.kinds)
    if not lib.images:
        weights["image"] = 0.0
    if sum(weights.values()) <= 0:
        raise JobError(f"{job.source}: background.kinds: only 'image' has weight but "
                       "background.image_dir names no folder")
    kind = _choice(r, weights)
    if kind == "hdri":
        return {"kind": "hdri"}
    if kind == "image":
        return {"kind": "image", "path": lib.images[int(r.integers(len(lib.images)))]}
    style = B.styles[int(r.integers(len(B.styles)))]
    colors = [[round(float(c), 6) for c in r.uniform(0.0, 1.0, 3)] for _ in range(int(r.integers(2, 4)))]
    return {"kind": "procedural", "seed": int(r.integers(0, 2**31 - 1)), "style": style, "colors": colors}


def _effects(job: Job, r: np.random.Generator, seed: int, focus: float) -> dict:
    E = job.effects
    dof = {"fstop": _u(r, E.fstop), "focus_distance": float(focus)} if r.uniform() < E.dof else None
    blur = _u(r, E.motion_blur_amount) if r.uniform() < E.motion_blur else None
    noise = _u(r, E.sensor_noise_sigma) if r.uniform() < E.sensor_noise else 0.0
    passes = sorted(set(["depth"] + list(job.render.passes)))
    return {"samples": job.samples, "denoise": job.denoise, "dof": dof, "motion_blur": blur,
            "sensor_noise": noise, "seed": int(seed % (2**31 - 1)), "passes": passes,
            "preset": job.render.preset}


def _fit_points(batch, parts_forearm: int | None) -> np.ndarray:
    """Wrist-relative points that must be in frame: keypoints and all non-forearm vertices."""
    v = batch.vertices[0].astype(np.float64)
    if parts_forearm is not None:
        v = v[np.asarray(batch.parts) != parts_forearm]
    kp = batch.keypoints[0].astype(np.float64)
    return np.concatenate([kp, v]) - kp[0]


def draw_sample(job: Job, index: int, hand=None, library: Library | None = None) -> Sample:
    """Sample ``index`` of ``job`` (pure: same job, library files and index -> same Sample)."""
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    hand = hand if hand is not None else hand_for(job)
    lib = library if library is not None else library_for(job)
    seed = derive_seed(job.seed, index)
    R = functools.partial(rng, seed, 0)

    side = _choice(R("side"), job.hand.sides)
    shape = hand.sample_shape(R("shape"))
    ps = _sample_pose(hand, int(R("pose").integers(0, 2**63 - 1)))
    pose = np.asarray(ps.poses[0], dtype=np.float64)
    rot = job.rotation
    R_a, _, R_ab = sample_pair_rotations(R("rotation"), rot.mode, rot.hard_fraction,
                                         rot.edge_on_deg, rot.axial_deg)
    R_b = R_ab @ R_a
    shape = {k: np.asarray(v, dtype=float).tolist() for k, v in shape.items()}  # MANO: betas list
    batch = _posed(hand, pose, shape, side)
    from generator.hand.base import PART_INDEX
    pts = _fit_points(batch, PART_INDEX.get("forearm"))
    C = job.camera
    res = job.resolution
    cam = place_camera(pts @ R_a.T, pts @ R_b.T, R("camera"), (res, res), tuple(C.focal_mm),
                       tuple(C.fill), C.truncation, tuple(C.truncated_fill))

    # texture: a skin tone first (uniform over the tones present), then a variant of that tone,
    # so reports per tone get balanced counts whatever the number of variants per tone
    tr = R("texture")
    tones = sorted({v.get("mst") for v in lib.textures}, key=lambda t: (t is None, t))
    tone = tones[int(tr.integers(len(tones)))]
    of_tone = [v for v in lib.textures if v.get("mst") == tone]
    variant = of_tone[int(tr.integers(len(of_tone)))]

    return Sample(
        index=int(index), seed=int(seed), job_seed=int(job.seed), side=side, model=hand.name,
        shape=shape,
        pose=pose.tolist(), pose_kind=ps.kind[0],
        rotation_mode=rot.mode,
        R_a=R_a.tolist(), R_ab=R_ab.tolist(), wrist=[float(x) for x in cam.wrist],
        K=cam.K.tolist(), resolution=[int(res), int(res)],
        camera={"focal_mm": cam.focal_mm, "fill": cam.fill, "truncated": cam.truncated},
        texture=variant["name"], skin_tone=variant.get("mst"),
        lighting=_lighting(job, lib, R("lighting"), cam.wrist),
        background=_background(job, lib, R("background")),
        options=_effects(job, R("effects"), seed, cam.wrist[2]),
    )


_POSED: dict = {}


def _posed(hand, pose: np.ndarray, shape: dict, side: str):
    """hand.forward for one pose, remembering the last few (draw_sample frames the camera with
    the same posed hand the worker then renders)."""
    key = (id(hand), side, np.asarray(pose, np.float64).tobytes(), json.dumps(shape, sort_keys=True))
    batch = _POSED.get(key)
    if batch is None:
        batch = hand.forward(np.asarray(pose, np.float64)[None], shape, side)
        _POSED[key] = batch
        while len(_POSED) > 4:
            _POSED.pop(next(iter(_POSED)), None)
    return batch


def pose_hand(sample: Sample, hand):
    """The posed hand of a sample in the canonical hand frame (a HandBatch of one)."""
    return _posed(hand, np.asarray(sample.pose), sample.shape, sample.side)


def build_views(sample: Sample, hand, batch=None):
    """(verts_a, verts_b, kp_a, kp_b) in the camera frame, float64.

    Both views rotate the same wrist-relative points: D_a = R_a P, D_b = R_ab D_a, X = D + wrist,
    so X_b - X_b[0] == R_ab (X_a - X_a[0]) holds to float64 rounding of the one addition.
    """
    batch = batch if batch is not None else pose_hand(sample, hand)
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
