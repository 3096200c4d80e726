"""Lighting by a physical (Nishita) sky with its sun, over a diffuse ground.

Blender's Nishita sky is black below the horizon: seen as the background it is half a black
frame, and it lights the hand from above only. So the sky also draws a ground (an albedo and a
tint of natural ground: grass, soil, sand, asphalt, concrete) that the Blender view shows below
the horizon and that lights the hand from below."""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.colour import LUMINANCE
from generator.sample.kinds import Kind, register, uniform
from generator.schema import field

# Visible-band tints of natural grounds (grass, dry soil, sand, asphalt, concrete); the drawn
# albedo is their luminance.
GROUND_TINTS = {"grass": (0.85, 1.12, 0.55), "soil": (1.2, 0.97, 0.78), "sand": (1.12, 1.0, 0.8),
                "asphalt": (1.0, 1.0, 1.0), "concrete": (1.04, 1.0, 0.93)}


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
    ground_albedo: list = field([0.06, 0.35], "albedo range of the ground below the horizon (0: black, "
                                "as Blender's Nishita sky alone)", range=(0.0, 1.0))

    def draw(self, rng, stage) -> dict:
        return {"kind": "sky", "sun_elevation": float(np.radians(uniform(rng, self.sun_elevation_deg))),
                "sun_rotation": uniform(rng, (0.0, 2 * np.pi)), "strength": uniform(rng, self.strength),
                "air": uniform(rng, self.air), "dust": uniform(rng, self.dust),
                **self._ground(rng)}

    def _ground(self, rng) -> dict:
        # drawn after the sky's own values, so the sky of a seed is what it was before grounds
        names = sorted(GROUND_TINTS)
        name = names[int(rng.integers(len(names)))]
        albedo = uniform(rng, self.ground_albedo)
        tint = np.asarray(GROUND_TINTS[name])
        rgb = albedo * tint / float(LUMINANCE @ tint)
        return {"ground": name, "ground_albedo": [round(float(c), 6) for c in rgb]}
