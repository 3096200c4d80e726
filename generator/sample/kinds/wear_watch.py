"""A wristwatch: a strap round the wrist and a case, mostly on the back of the wrist."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register, uniform
from generator.sample.wear_materials import band_material, metal_material
from generator.schema import field


@register
@dataclasses.dataclass
class Watch(Kind):
    """[wear.watch]: a wristwatch just proximal of the wrist"""
    family = "wear"
    name = "watch"

    probability: float = field(0.12, "share of pairs with a watch", min=0.0, max=1.0)
    at: list = field([0.02, 0.04], "the strap's centre, distance from the wrist keypoint, m", range=(0.0, 0.5))
    band_width: list = field([0.014, 0.022], "strap width, m", range=(0.001, 0.1))
    case_radius: list = field([0.014, 0.022], "case radius, m", range=(0.001, 0.1))
    case_height: list = field([0.007, 0.013], "case height, m", range=(0.001, 0.1))
    palmar: float = field(0.1, "probability that the case sits on the palm side", min=0.0, max=1.0)

    def draw(self, rng, stage=None) -> dict:
        band = band_material(rng)
        return {"kind": "watch", "at_m": round(uniform(rng, self.at), 5),
                "band_width_m": round(uniform(rng, self.band_width), 5),
                "band_thickness_m": round(float(rng.uniform(0.002, 0.004)), 5),
                "case_radius_m": round(uniform(rng, self.case_radius), 5),
                "case_height_m": round(uniform(rng, self.case_height), 5),
                "palmar": bool(rng.uniform() < self.palmar),
                "band_material": band, "case_material": metal_material(rng)}
