"""Lighting by a physical (Nishita) sky with its sun."""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


@register
@dataclasses.dataclass
class SkyLighting(Kind):
    """[lighting.sky]: a Nishita sky with a sun at a random elevation and azimuth"""
    family = "lighting"
    name = "sky"

    sun_elevation_deg: list = field([5.0, 75.0], "sun elevation range", range=(-10.0, 90.0))
    strength: list = field([0.05, 0.3], "world strength range", range=(0.0, 1e4))
    air: list = field([0.5, 2.0], "air density range", range=(0.0, 10.0))
    dust: list = field([0.0, 3.0], "dust density range", range=(0.0, 10.0))

    def draw(self, rng, stage) -> dict:
        return {"kind": "sky", "sun_elevation": float(np.radians(uniform(rng, self.sun_elevation_deg))),
                "sun_rotation": uniform(rng, (0.0, 2 * np.pi)), "strength": uniform(rng, self.strength),
                "air": uniform(rng, self.air), "dust": uniform(rng, self.dust)}
