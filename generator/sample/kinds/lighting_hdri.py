"""Lighting by an environment map (HDRI) from the job's library, turned about the up axis."""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


@register
@dataclasses.dataclass
class HdriLighting(Kind):
    """[lighting.hdri]: an HDRI of the job's library at a random rotation and strength"""
    family = "lighting"
    name = "hdri"
    unavailable = "lighting.hdris selects no HDRI"

    strength: list = field([0.5, 1.8], "HDRI strength range", range=(0.0, 1e4))

    def available(self, stage) -> bool:
        return bool(stage.library.hdris)

    def draw(self, rng, stage) -> dict:
        hdris = stage.library.hdris
        e = hdris[int(rng.integers(len(hdris)))]
        return {"kind": "hdri", "name": e.name, "path": e.path, "sha256": e.sha256,
                "rotation": uniform(rng, (0.0, 2 * np.pi)), "strength": uniform(rng, self.strength)}
