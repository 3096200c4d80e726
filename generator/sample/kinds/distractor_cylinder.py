"""A cylinder (a cup, a bottle, a pen, a pole) near the hand, in front of it or behind it."""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


@register
@dataclasses.dataclass
class CylinderDistractor(Kind):
    """[distractors.cylinder]: a cylinder, upright or lying in any direction"""
    family = "distractor"
    name = "cylinder"

    radius: list = field([0.005, 0.05], "radius, m", range=(0.001, 10.0))
    length: list = field([0.04, 0.25], "length, m", range=(0.001, 10.0))

    def draw(self, rng, stage) -> dict:
        r, h = uniform(rng, self.radius), uniform(rng, self.length) / 2
        R = Rotation.random(random_state=rng).as_matrix()
        return {"kind": "cylinder", "half_extents": [round(r, 5), round(r, 5), round(h, 5)],
                "rotation": R.tolist(), "radius": float(np.hypot(r, h))}
