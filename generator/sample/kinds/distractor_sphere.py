"""A ball (a fruit, a toy) near the hand, in front of it or behind it."""
from __future__ import annotations

import dataclasses

from scipy.spatial.transform import Rotation

from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


@register
@dataclasses.dataclass
class SphereDistractor(Kind):
    """[distractors.sphere]: a sphere (its texture turns with it)"""
    family = "distractor"
    name = "sphere"

    size: list = field([0.015, 0.06], "radius, m", range=(0.001, 10.0))

    def draw(self, rng, stage) -> dict:
        r = uniform(rng, self.size)
        R = Rotation.random(random_state=rng).as_matrix()
        return {"kind": "sphere", "half_extents": [round(r, 5)] * 3, "rotation": R.tolist(), "radius": r}
