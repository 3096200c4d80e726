"""Applier of the watch wear kind: a leather, fabric or plastic strap and a metal case (the
pieces carry their own materials: band_material, case_material)."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.noise_material import set_noise_material


@register("wear", "watch")
def shade(nodes: dict, m: dict) -> None:
    set_noise_material(nodes, m["colors"], m["texture_scale"], m["roughness"], metallic=m.get("metallic", 0.0))
