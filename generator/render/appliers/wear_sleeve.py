"""Applier of the sleeve wear kind: woven cloth (a fine noise pattern, rough, with sheen)."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.noise_material import set_noise_material


@register("wear", "sleeve")
def shade(nodes: dict, m: dict) -> None:
    set_noise_material(nodes, m["colors"], m["texture_scale"], m["roughness"], sheen=m.get("sheen", 0.5))
