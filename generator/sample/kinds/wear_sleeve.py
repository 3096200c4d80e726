"""A sleeve over the forearm, its cuff somewhere between the wrist and mid-forearm."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register, uniform
from generator.sample.palette import natural_palette
from generator.sample.wear_materials import cloth_material
from generator.schema import field


@register
@dataclasses.dataclass
class Sleeve(Kind):
    """[wear.sleeve]: a sleeve (shirt, jumper, jacket) from its cuff to the arm's cut"""
    family = "wear"
    name = "sleeve"

    probability: float = field(0.3, "share of pairs whose arm wears a sleeve", min=0.0, max=1.0)
    start: list = field([0.03, 0.12], "the cuff's distance from the wrist keypoint, m", range=(0.0, 1.0))
    looseness: list = field([1.08, 1.35], "sleeve radius over the arm's", range=(1.0, 3.0))
    thickness: list = field([0.002, 0.006], "cloth thickness, m", range=(0.0, 0.05))

    def draw(self, rng, stage=None) -> dict:
        colors = natural_palette(rng, 2, lightness=(15.0, 85.0))
        return {"kind": "sleeve", "start_m": round(uniform(rng, self.start), 5),
                "looseness": round(uniform(rng, self.looseness), 4),
                "thickness_m": round(uniform(rng, self.thickness), 5),
                "folds": round(float(rng.uniform(0, 6.283)), 4),
                "material": cloth_material(rng, colors)}
