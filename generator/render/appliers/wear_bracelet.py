"""Applier of the bracelet wear kind: polished metal or a coloured band."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.noise_material import set_noise_material


@register("wear", "bracelet")
def shade(nodes: dict, m: dict) -> None:
    set_noise_material(nodes, m["colors"], m["texture_scale"], m["roughness"], metallic=m.get("metallic", 0.0))
