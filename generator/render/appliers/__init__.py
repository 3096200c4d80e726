"""One Blender applier per kind, registered under the kind's (family, name) as in
generator.sample.kinds: the Blender view looks the applier up by the sample's ``kind`` and
calls it with the kind's plain-data dict.

- lighting: ``apply(view, lighting) -> Lit`` sets the world (and says which area lights, what
  numpy light scale and what rig rotation the view must use);
- background: ``layer(background, env, W, H) -> (H, W, 3)`` linear float32 picture behind the
  hand (``env``: Cycles' environment pass, already scaled by the light);
- distractor: ``mesh(bm) -> smooth`` fills a bmesh with the kind's unit shape (the view scales,
  turns and places one object per distractor and gives it a textured material);
- wear: ``shade(nodes, material)`` sets a wear piece's material (generator.render.wear builds the
  pieces' meshes from generator.wear's geometry).
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import bpy  # noqa: F401  (the distractor appliers use bmesh, importable only once bpy is)

_APPLIERS: dict[str, dict[str, object]] = {}


@dataclasses.dataclass
class Lit:
    """What a lighting applier leaves for the view to do."""
    scale: float = 1.0          # multiplies the rendered light in numpy (exact when all light is the world's)
    rig: float = 0.0            # turn of the camera rig about the world's up axis, rad
    world_strength: float = 1.0
    area_lights: list = dataclasses.field(default_factory=list)   # [{"position", "power", ...}]


def register(family: str, name: str):
    def wrap(fn):
        _APPLIERS.setdefault(family, {})[name] = fn
        return fn
    return wrap


def applier(family: str, name: str):
    known = _APPLIERS.get(family, {})
    if name not in known:
        raise ValueError(f"{family}['kind'] must be one of {', '.join(known)}, not {name!r}")
    return known[name]


def registered(family: str) -> list[str]:
    return list(_APPLIERS.get(family, {}))


for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
