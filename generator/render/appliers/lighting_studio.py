"""Applier of the studio lighting kind: disc area lights (placed by the view) in a grey world."""
from __future__ import annotations

from generator.render.appliers import Lit, register
from generator.render.nodes import set_if_changed, unlink


@register("lighting", "studio")
def apply(view, lighting: dict) -> Lit:
    w = view.world
    unlink(w["tree"], w["bg"].inputs["Color"])
    set_if_changed(w["bg"].inputs["Color"], "default_value", (1.0, 1.0, 1.0, 1.0))
    return Lit(scale=1.0, world_strength=float(lighting.get("ambient", 0.1)),
               area_lights=list(lighting.get("lights", [])))
