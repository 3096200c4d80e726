"""A bracelet or bangle round the wrist: metal, or a coloured band."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register, uniform
from generator.sample.wear_materials import band_material, metal_material
from generator.schema import field


@register
@dataclasses.dataclass
class Bracelet(Kind):
    """[wear.bracelet]: a bracelet or bangle near the wrist"""
    family = "wear"
    name = "bracelet"

    probability: float = field(0.08, "share of pairs with a bracelet", min=0.0, max=1.0)
    at: list = field([0.015, 0.05], "its centre's distance from the wrist keypoint, m", range=(0.0, 0.5))
    width: list = field([0.003, 0.012], "width along the arm, m", range=(0.001, 0.1))
    thickness: list = field([0.0015, 0.005], "thickness, m", range=(0.0005, 0.05))
    gap: list = field([0.0, 0.008], "how far it hangs off the skin, m", range=(0.0, 0.05))
    metal: float = field(0.6, "probability of a metal bracelet (else a coloured band)", min=0.0, max=1.0)

    def draw(self, rng, stage=None) -> dict:
        material = metal_material(rng) if rng.uniform() < self.metal else band_material(rng)
        return {"kind": "bracelet", "at_m": round(uniform(rng, self.at), 5),
                "width_m": round(uniform(rng, self.width), 5),
                "thickness_m": round(uniform(rng, self.thickness), 5),
                "gap_m": round(uniform(rng, self.gap), 5), "material": material}
