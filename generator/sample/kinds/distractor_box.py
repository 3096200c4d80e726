"""A box (a book, a phone, a carton) near the hand, in front of it or behind it."""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


@register
@dataclasses.dataclass
class BoxDistractor(Kind):
    """[distractors.box]: a box of random proportions and orientation"""
    family = "distractor"
    name = "box"

    size: list = field([0.02, 0.08], "half of the longest edge, m", range=(0.001, 10.0))
    aspect: list = field([0.2, 1.0], "the other edges relative to the longest", range=(0.01, 1.0))

    def draw(self, rng, stage) -> dict:
        a = uniform(rng, self.size)
        half = [a, a * uniform(rng, self.aspect), a * uniform(rng, self.aspect)]
        R = Rotation.random(random_state=rng).as_matrix()
        return {"kind": "box", "half_extents": [round(x, 5) for x in half], "rotation": R.tolist(),
                "radius": float(np.linalg.norm(half))}
