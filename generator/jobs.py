"""Render jobs: TOML files (render_jobs/*.toml) loaded into dataclasses.

Every key is optional (the dataclass defaults are the embedded default job); unknown keys and bad
values fail with a JobError naming the file and the dotted key. Ranges are [low, high] pairs;
weights are tables of non-negative numbers. Command-line flags override job values through
``Job.override({"render.samples": 4, ...})``, which validates the same way.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
from pathlib import Path

from generator.rotations import MODES

PRESET_NAMES = ("draft", "default", "high")


def preset(name: str) -> dict:
    """The quality preset table lives with the renderer (generator.blender_view.PRESETS, one
    table: samples, denoiser, resolution, light paths); imported lazily because it loads bpy."""
    from generator.blender_view import PRESETS
    return PRESETS[name]

LIGHTING_KINDS = ("hdri", "sky", "studio")
BACKGROUND_KINDS = ("hdri", "image", "procedural")
PROCEDURAL_STYLES = ("gradient", "noise", "checker")
DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "metal")
PASSES = ("depth", "normals")
SIDES = ("right", "left")


class JobError(ValueError):
    pass


def _f(default, doc="", **check):
    """A field with a default (copied for mutables), a doc string and validation rules."""
    kw = {"default_factory": (lambda d=default: json.loads(json.dumps(d)))} if isinstance(
        default, (list, dict)) else {"default": default}
    return dataclasses.field(metadata={"doc": doc, **check}, **kw)


@dataclasses.dataclass
class HandSection:
    model: str = _f("anny", "hand model backend", choices=("anny", "mano"))
    sides: dict = _f({"right": 0.5, "left": 0.5}, "weights of right/left hands", keys=SIDES)
    forearm_length: float = _f(0.08, "metres of forearm kept on the mesh", min=0.0, max=0.3)
    mano_dir: str = _f("", "folder with MANO_RIGHT.pkl for model = \"mano\" (empty: the backend's default search)")


@dataclasses.dataclass
class RotationSection:
    mode: str = _f("uniform", "per-view orientation distribution", choices=MODES)
    hard_fraction: float = _f(0.5, "probability of a hard view in mixed mode", min=0.0, max=1.0)
    edge_on_deg: float = _f(15.0, "hard view: palm plane within this angle of the line of sight",
                            min=0.0, max=90.0)
    axial_deg: float = _f(30.0, "hard view: fingers within this angle of the optical axis",
                          min=0.0, max=90.0)


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


@dataclasses.dataclass
class LightingSection:
    kinds: dict = _f({"hdri": 0.6, "sky": 0.2, "studio": 0.2}, "weights of lighting kinds",
                     keys=LIGHTING_KINDS)
    hdris: list = _f(["*"], "HDRI names or globs this job may use")
    exclude_hdris: list = _f([], "HDRI names or globs this job must not use")
    hdri_dirs: list = _f([], "HDRI folders to use instead of the repository's hdri/ (the bundled ones stay)")
    embedded_hdris: bool = _f(True, "include the 8 CC0 HDRIs shipped with bpy")
    hdri_strength: list = _f([0.5, 1.8], "HDRI strength range", range=(0.0, 1e4))
    sun_elevation_deg: list = _f([5.0, 75.0], "sky: sun elevation range", range=(-10.0, 90.0))
    sky_strength: list = _f([0.05, 0.3], "sky: world strength range", range=(0.0, 1e4))
    sky_air: list = _f([0.5, 2.0], "sky: air density range", range=(0.0, 10.0))
    sky_dust: list = _f([0.0, 3.0], "sky: dust density range", range=(0.0, 10.0))
    studio_lights: list = _f([1, 4], "studio: number of area lights", range=(1, 16))
    studio_distance: list = _f([0.4, 1.5], "studio: light distance from the hand, m", range=(0.01, 100.0))
    studio_size: list = _f([0.1, 1.0], "studio: area light size, m", range=(0.001, 100.0))
    studio_irradiance: list = _f([1.0, 4.0], "studio: total irradiance of the area lights at the hand, W/m^2",
                                 range=(0.0, 1e4))
    studio_kelvin: list = _f([2700.0, 7500.0], "studio: colour temperature range", range=(1000.0, 40000.0))
    studio_ambient: list = _f([0.02, 0.3], "studio: world grey strength", range=(0.0, 100.0))


@dataclasses.dataclass
class BackgroundSection:
    kinds: dict = _f({"hdri": 0.4, "image": 0.3, "procedural": 0.3}, "weights of background kinds",
                     keys=BACKGROUND_KINDS)
    image_dir: str = _f("", "folder of background images (image kind is skipped when empty)")
    styles: list = _f(list(PROCEDURAL_STYLES), "procedural styles", items=PROCEDURAL_STYLES)


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


SECTIONS = {"hand": HandSection, "rotation": RotationSection, "camera": CameraSection,
            "render": RenderSection, "lighting": LightingSection, "background": BackgroundSection,
            "appearance": AppearanceSection, "effects": EffectsSection}


@dataclasses.dataclass
class Job:
    name: str = _f("default", "job name")
    seed: int = _f(0, "job seed: sample i is a pure function of (seed, i)", min=0, max=2**63 - 1)
    views: int = _f(64, "cyclic pairs to render when --views is not given", min=1, max=1 << 40)
    hand: HandSection = dataclasses.field(default_factory=HandSection)
    rotation: RotationSection = dataclasses.field(default_factory=RotationSection)
    camera: CameraSection = dataclasses.field(default_factory=CameraSection)
    render: RenderSection = dataclasses.field(default_factory=RenderSection)
    lighting: LightingSection = dataclasses.field(default_factory=LightingSection)
    background: BackgroundSection = dataclasses.field(default_factory=BackgroundSection)
    appearance: AppearanceSection = dataclasses.field(default_factory=AppearanceSection)
    effects: EffectsSection = dataclasses.field(default_factory=EffectsSection)
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
        import hashlib
        d = job_from_dict(self.to_dict()).to_dict()   # validated form: 4 and 4.0 hash alike
        for k in ("device", "workers", "pairs_per_process"):
            d["render"].pop(k)
        d.pop("views")
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


# --- validation -----------------------------------------------------------------------------------

def _fail(source, key, msg):
    raise JobError(f"{source}: {key}: {msg}")


def _check_number(source, key, value, typ):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(source, key, f"expected a number, got {value!r}")
    if typ is int and not float(value).is_integer():
        _fail(source, key, f"expected an integer, got {value!r}")
    return int(value) if typ is int else float(value)


def _check_value(source, key, f: dataclasses.Field, value):
    meta = f.metadata
    typ = f.type if not isinstance(f.type, str) else {"int": int, "float": float, "str": str,
                                                       "bool": bool, "list": list, "dict": dict}[f.type]
    if typ in (int, float):
        value = _check_number(source, key, value, typ)
        if "min" in meta and value < meta["min"]:
            _fail(source, key, f"{value} is below the minimum {meta['min']}")
        if "max" in meta and value > meta["max"]:
            _fail(source, key, f"{value} is above the maximum {meta['max']}")
    elif typ is bool:
        if not isinstance(value, bool):
            _fail(source, key, f"expected true or false, got {value!r}")
    elif typ is str:
        if not isinstance(value, str):
            _fail(source, key, f"expected a string, got {value!r}")
        if "choices" in meta and value not in meta["choices"]:
            _fail(source, key, f"{value!r} is not one of {', '.join(map(str, meta['choices']))}")
    elif typ is list:
        if not isinstance(value, list):
            _fail(source, key, f"expected a list, got {value!r}")
        if "range" in meta:
            if len(value) != 2:
                _fail(source, key, f"expected a [low, high] pair, got {value!r}")
            lo, hi = (_check_number(source, key, v, float) for v in value)
            if lo > hi:
                _fail(source, key, f"low {lo} is above high {hi}")
            rlo, rhi = meta["range"]
            if lo < rlo or hi > rhi:
                _fail(source, key, f"{value} is outside the allowed range [{rlo}, {rhi}]")
            value = [lo, hi]
        elif "items" in meta:
            for v in value:
                if v not in meta["items"] or isinstance(v, bool):
                    _fail(source, key, f"{v!r} is not one of {', '.join(map(str, meta['items']))}")
        else:
            for v in value:
                if not isinstance(v, str):
                    _fail(source, key, f"expected a list of strings, got {v!r}")
    elif typ is dict:
        if not isinstance(value, dict):
            _fail(source, key, f"expected a table, got {value!r}")
        for k, v in value.items():
            if k not in meta["keys"]:
                _fail(source, f"{key}.{k}", f"unknown key (known: {', '.join(meta['keys'])})")
            v = _check_number(source, f"{key}.{k}", v, float)
            if v < 0:
                _fail(source, f"{key}.{k}", f"weight {v} is negative")
            value[k] = v
        if sum(value.values()) <= 0:
            _fail(source, key, "the weights must not all be zero")
    return value


def _build(cls, data: dict, source: str, prefix: str):
    if not isinstance(data, dict):
        _fail(source, prefix.rstrip(".") or "(top level)", f"expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            near = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(fields)})"
            _fail(source, prefix + key, f"unknown key{hint}")
        f = fields[key]
        if key in SECTIONS and cls is Job:
            kwargs[key] = _build(SECTIONS[key], value, source, prefix + key + ".")
        else:
            kwargs[key] = _check_value(source, prefix + key, f, value)
    return cls(**kwargs)


def job_from_dict(data: dict, source: str = "(dict)") -> Job:
    job = _build(Job, data, source, "")
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
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise JobError(f"{path}: not valid TOML: {e}") from None
    return job_from_dict(data, source=str(path))


def describe() -> str:
    """Every job key with its default and doc (for docs and --help)."""
    lines = []
    for f in dataclasses.fields(Job):
        if f.name in SECTIONS:
            for g in dataclasses.fields(SECTIONS[f.name]):
                default = g.default if g.default is not dataclasses.MISSING else g.default_factory()
                lines.append(f"{f.name}.{g.name} = {json.dumps(default)}  # {g.metadata['doc']}")
        elif not f.metadata.get("internal"):
            lines.append(f"{f.name} = {json.dumps(f.default)}  # {f.metadata['doc']}")
    return "\n".join(lines)

