"""Kinds of scene content (lighting, background, ...), one file each, registered by name.

A kind is a dataclass: its fields are the job keys of its own table (``[lighting.studio]``), made
with ``generator.schema.field`` so they validate like every job key; ``draw(rng, stage)`` returns
the plain-data dict a Sample carries (``{"kind": name, ...}``), and ``available(stage)`` says
whether the job's library can feed it (no HDRI, no photo: weight 0). The Blender side registers
one applier under the same (family, name) in ``generator.render.appliers``.

Adding a kind: one file here (``@register`` on the dataclass) plus its applier and its test. The
job schema (generator.jobs) picks up every registered kind of a family as a sub-table and as an
allowed key of the family's ``kinds`` weights.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import ClassVar

import numpy as np

_REGISTRY: dict[str, dict[str, type]] = {}


@dataclasses.dataclass
class Stage:
    """What a kind is drawn around: the job's asset library, the sample's camera and hand."""
    library: object            # generator.sample.library.Library
    wrist: np.ndarray          # (3,) wrist position, camera frame, metres (shared by views a and b)
    K: np.ndarray              # (3, 3)
    resolution: tuple          # (W, H)
    points_a: np.ndarray = None   # (N, 3) points of the hand and arm in view a, camera frame
    points_b: np.ndarray = None   # the same points in view b


class Kind:
    family: ClassVar[str]
    name: ClassVar[str]
    unavailable: ClassVar[str] = ""     # why available() may say no, for error messages

    def available(self, stage: Stage) -> bool:
        return True

    def draw(self, rng: np.random.Generator, stage: Stage) -> dict:
        raise NotImplementedError


def register(cls):
    """Class decorator: file ``cls`` under (cls.family, cls.name)."""
    family = _REGISTRY.setdefault(cls.family, {})
    if cls.name in family and family[cls.name] is not cls:
        raise ValueError(f"{cls.family} kind {cls.name!r} is registered twice")
    family[cls.name] = cls
    return cls


def registered(family: str) -> dict[str, type]:
    """name -> kind class for one family, in registration (file name) order."""
    return dict(_REGISTRY.get(family, {}))


def kind_class(family: str, name: str) -> type:
    kinds = _REGISTRY.get(family, {})
    if name not in kinds:
        raise KeyError(f"unknown {family} kind {name!r} (known: {', '.join(kinds) or 'none'})")
    return kinds[name]


def choose(rng: np.random.Generator, weights: dict) -> str:
    """A key of ``weights`` drawn with probability proportional to its (non-negative) weight."""
    keys = [k for k in weights if weights[k] > 0]
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def uniform(rng: np.random.Generator, lo_hi) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
