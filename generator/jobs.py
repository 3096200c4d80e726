"""Render jobs: TOML files (render_jobs/*.toml) loaded into dataclasses.

Every key is optional (the dataclass defaults are the embedded default job); unknown keys and bad
values fail with a JobError naming the file and the dotted key (generator.schema). Ranges are
[low, high] pairs; weights are tables of non-negative numbers. Command-line flags override job
values through ``Job.override({"render.samples": 4, ...})``, which validates the same way.

Lighting and background are families of kinds (generator.sample.kinds): ``lighting.kinds`` weighs
the registered lighting kinds, and each kind has its own table of settings (``[lighting.studio]``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path

from generator.hand.arm import DEFAULT_FOREARM_LENGTH_M, MAX_FOREARM_LENGTH_M
from generator.render.presets import DEVICES, PRESET_NAMES, preset
from generator.rotations import ARM_EDGES, FACINGS, MODES
from generator.sample import kinds as kind_registry
from generator.schema import JobError, build, describe as describe_table, field as _f, table

PASSES = ("depth", "normals")
SIDES = ("right", "left")


def with_kinds(family: str):
    """Class decorator: a section dataclass plus one table per registered kind of ``family``."""
    def wrap(cls):
        extra = [(name, k, table(k)) for name, k in kind_registry.registered(family).items()]
        return dataclasses.make_dataclass(cls.__name__, extra, bases=(cls,))
    return wrap


@dataclasses.dataclass
class HandSection:
    model: str = _f("anny", "hand model backend", choices=("anny", "mano"))
    sides: dict = _f({"right": 0.5, "left": 0.5}, "weights of right/left hands", keys=SIDES)
    forearm_length: float = _f(DEFAULT_FOREARM_LENGTH_M, "wrist to the arm's cut, metres for a 19 cm hand "
                               "(scaled with the hand; 0.27: the elbow, more: on into the upper arm; 0: a capped wrist)",
                               min=0.0, max=MAX_FOREARM_LENGTH_M)
    mano_dir: str = _f("", "folder with MANO_RIGHT.pkl for model = \"mano\" (empty: the backend's default search)")


@dataclasses.dataclass
class RotationSection:
    mode: str = _f("natural", "pair mode: kinds of views a and b (generator/rotations.py)", choices=MODES)
    hard_fraction: float = _f(0.5, "probability of a hard view in mixed mode", min=0.0, max=1.0)
    edge_on_deg: float = _f(15.0, "hard view: palm normal within this angle of perpendicular to the line of sight",
                            min=0.0, max=90.0)
    axial_deg: float = _f(30.0, "hard view: fingers within this angle of the line of sight",
                          min=0.0, max=90.0)
    easy_palm_deg: float = _f(45.0, "easy view: palm or back within this angle of the line of sight",
                              min=0.0, max=90.0)
    natural_edges: dict = _f({"bottom": 0.55, "left": 0.2, "right": 0.2, "top": 0.05},
                             "natural view: weights of the frame edge the forearm heads for", keys=ARM_EDGES)
    natural_facing: dict = _f({"palm": 0.35, "back": 0.35, "side": 0.3},
                              "natural view: weights of palm, back and side views", keys=FACINGS)
    natural_spread_deg: float = _f(40.0, "natural view: forearm direction in the image, at most this far off the edge's",
                                   min=0.0, max=90.0)
    natural_elevation_deg: list = _f([-30.0, 45.0], "natural view: forearm angle out of the image plane "
                                     "(positive: elbow toward the camera)", range=(-89.0, 89.0))


@dataclasses.dataclass
class CameraSection:
    resolution: int = _f(0, "image width = height in pixels (0: the preset's)", min=0, max=8192)
    focal_mm: list = _f([28.0, 85.0], "35 mm-equivalent focal length range", range=(4.0, 600.0))
    fill: list = _f([0.55, 0.85], "fraction of the image spanned by both views", range=(0.05, 1.0))
    truncation: float = _f(0.0, "probability that keypoints may leave the frame", min=0.0, max=1.0)
    truncated_fill: list = _f([0.9, 1.3], "fill range of truncated pairs", range=(0.05, 4.0))


@dataclasses.dataclass
class RenderSection:
    preset: str = _f("default", "quality preset", choices=PRESET_NAMES)
    samples: int = _f(0, "Cycles samples per pixel (0: the preset's)", min=0, max=1 << 16)
    denoise: str = _f("preset", "denoiser on/off", choices=("preset", "on", "off"))
    device: str = _f("auto", "render device", choices=DEVICES)
    workers: int = _f(1, "worker processes", min=1, max=256)
    pairs_per_process: int = _f(256, "restart a worker after this many pairs, rounded up to whole shards (bounds memory)",
                                min=1, max=1 << 20)
    shard_size: int = _f(64, "pairs per shard", min=1, max=1 << 20)
    image_format: str = _f("png", "RGB image encoding", choices=("png", "jpg"))
    jpeg_quality: int = _f(95, "JPEG quality", min=1, max=100)
    passes: list = _f([], "extra per-view outputs saved in the shards", items=PASSES)


@with_kinds("lighting")
@dataclasses.dataclass
class LightingSection:
    kinds: dict = _f({"hdri": 0.6, "sky": 0.2, "studio": 0.2}, "weights of lighting kinds",
                     keys=tuple(kind_registry.registered("lighting")))
    hdris: list = _f(["*"], "HDRI names or globs this job may use")
    exclude_hdris: list = _f([], "HDRI names or globs this job must not use")
    hdri_dirs: list = _f([], "HDRI folders to use instead of the repository's hdri/ (the bundled ones stay)")
    embedded_hdris: bool = _f(True, "include the 8 CC0 HDRIs shipped with bpy")


@with_kinds("background")
@dataclasses.dataclass
class BackgroundSection:
    kinds: dict = _f({"hdri": 0.4, "image": 0.3, "procedural": 0.3}, "weights of background kinds",
                     keys=tuple(kind_registry.registered("background")))
    image_dir: str = _f("", "folder of background images (image kind is skipped when empty)")


@with_kinds("distractor")
@dataclasses.dataclass
class DistractorSection:
    probability: float = _f(0.25, "share of pairs with distractors (textured primitives near the hand)",
                            min=0.0, max=1.0)
    count: list = _f([1, 2], "distractors in such a pair", range=(1, 32))
    kinds: dict = _f({"box": 1.0, "cylinder": 1.0, "sphere": 1.0}, "weights of distractor kinds",
                     keys=tuple(kind_registry.registered("distractor")))
    in_front: float = _f(0.5, "probability that a distractor is placed between the camera and the hand "
                         "(an occluder) rather than behind it", min=0.0, max=1.0)


@with_kinds("wear")
@dataclasses.dataclass
class WearSection:
    """[wear]: sleeves and wrist accessories, each kind with its own probability"""


@dataclasses.dataclass
class AppearanceSection:
    texture_dir: str = _f("textures", "texture set folder (make textures); relative: the working directory, else the checkout")
    textures: list = _f(["*"], "texture variant names or globs this job may use")
    exclude_textures: list = _f([], "texture variant names or globs this job must not use")
    skin_tones: list = _f([], "MST levels to use (empty: all)", items=tuple(range(1, 11)))


@dataclasses.dataclass
class EffectsSection:
    dof: float = _f(0.2, "probability of depth of field", min=0.0, max=1.0)
    fstop: list = _f([2.8, 11.0], "f-stop range (slight blur: 1-3 px at 256 px)", range=(0.5, 64.0))
    motion_blur: float = _f(0.1, "probability of motion blur", min=0.0, max=1.0)
    motion_blur_amount: list = _f([1.0, 6.0], "blur length range, pixels at the hand's depth",
                                  range=(0.0, 256.0))
    sensor_noise: float = _f(0.5, "probability of sensor noise", min=0.0, max=1.0)
    sensor_noise_sigma: list = _f([0.5, 3.0], "noise sigma in 8-bit units", range=(0.0, 64.0))
    exposure: str = _f("hand", "how the frame is exposed: hand (an incident-light meter at the hand, as a "
                       "photographer would) or fixed (the lighting's own strength)", choices=("hand", "fixed"))
    exposure_ev: list = _f([-0.7, 0.7], "exposure compensation range around the meter, EV", range=(-8.0, 8.0))


@dataclasses.dataclass
class Job:
    name: str = _f("default", "job name")
    seed: int = _f(0, "job seed: sample i is a pure function of (seed, i)", min=0, max=2**63 - 1)
    views: int = _f(64, "cyclic pairs to render when --views is not given", min=1, max=1 << 40)
    hand: HandSection = table(HandSection, "the hand model")
    rotation: RotationSection = table(RotationSection, "the hand's orientation in views a and b")
    camera: CameraSection = table(CameraSection, "camera and framing")
    render: RenderSection = table(RenderSection, "Cycles settings and shard layout")
    lighting: LightingSection = table(LightingSection, "lighting kinds and the HDRI library")
    background: BackgroundSection = table(BackgroundSection, "background kinds")
    distractors: DistractorSection = table(DistractorSection, "objects in front of and behind the hand")
    wear: WearSection = table(WearSection, "what the arm wears: sleeves, watches, bracelets")
    appearance: AppearanceSection = table(AppearanceSection, "skin texture variants")
    effects: EffectsSection = table(EffectsSection, "camera effects")
    source: str = dataclasses.field(default="(embedded defaults)", metadata={"internal": True})

    # --- derived values -------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.camera.resolution or int(preset(self.render.preset)["resolution"][0])

    @property
    def samples(self) -> int:
        return self.render.samples or int(preset(self.render.preset)["samples"])

    @property
    def denoise(self) -> bool:
        if self.render.denoise == "preset":
            return bool(preset(self.render.preset)["denoise"])
        return self.render.denoise == "on"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d

    def fingerprint(self) -> str:
        """What a shard directory's content depends on (everything but how it is computed)."""
        d = job_from_dict(self.to_dict()).to_dict()   # validated form: 4 and 4.0 hash alike
        for k in ("device", "workers", "pairs_per_process"):
            d["render"].pop(k)
        d.pop("views")
        # the preset's settings, not only its name: a folder rendered before a preset changed
        # (samples, subsurface method) is not resumed with the new one
        d["render"]["preset_settings"] = preset(d["render"]["preset"])
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def override(self, values: dict) -> "Job":
        """A copy with dotted keys replaced ({"render.samples": 4}); None values are ignored."""
        d = self.to_dict()
        for key, value in values.items():
            if value is None:
                continue
            parts = key.split(".")
            node = d
            for p in parts[:-1]:
                node = node[p]
            node[parts[-1]] = value
        return job_from_dict(d, source=f"{self.source} + command-line flags")


# --- loading ---------------------------------------------------------------------------------------

# Keys that moved into their kind's own table, so old job files get a pointer instead of a guess.
MOVED = {"lighting": {"hdri_strength": "lighting.hdri.strength",
                      **{f"sky_{k}": f"lighting.sky.{k}" for k in ("strength", "air", "dust")},
                      "sun_elevation_deg": "lighting.sky.sun_elevation_deg",
                      **{f"studio_{k}": f"lighting.studio.{k}" for k in
                         ("lights", "distance", "size", "irradiance", "kelvin", "ambient")}},
         "background": {"styles": "background.procedural.styles"}}


def job_from_dict(data: dict, source: str = "(dict)") -> Job:
    for section, moved in MOVED.items():
        given = data.get(section) if isinstance(data, dict) else None
        for key in sorted(moved.keys() & set(given)) if isinstance(given, dict) else ():
            raise JobError(f"{source}: {section}.{key}: moved to {moved[key]}")
    job = build(Job, data, source)
    job.source = source
    return job


def load_job(path: str | Path | None) -> Job:
    """A job file, or the embedded defaults when path is None."""
    if path is None:
        return job_from_dict({}, source="(embedded defaults)")
    path = Path(path)
    if not path.is_file():
        raise JobError(f"job file {path} does not exist")
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise JobError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the job file as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise JobError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise JobError(f"job file {path} cannot be read: {e.strerror or e}") from None
    return job_from_dict(data, source=str(path))


def describe() -> str:
    """Every job key with its default and doc (for docs and --help)."""
    return "\n".join(describe_table(Job))
