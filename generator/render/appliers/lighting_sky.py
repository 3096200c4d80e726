"""Applier of the sky lighting kind: Blender's Nishita sky with its sun disc."""
from __future__ import annotations

from generator.render.appliers import Lit, register
from generator.render.nodes import link, require, set_if_changed


@register("lighting", "sky")
def apply(view, lighting: dict) -> Lit:
    w = view.world
    sky = w["sky"]
    set_if_changed(sky, "sun_elevation", float(require(lighting, "sun_elevation", "lighting")))
    set_if_changed(sky, "air_density", float(lighting.get("air", 1.0)))
    set_if_changed(sky, "dust_density", float(lighting.get("dust", 1.0)))
    set_if_changed(sky, "sun_rotation", float(lighting.get("sun_rotation", 0.0)))
    set_if_changed(sky, "sun_disc", True)
    link(w["tree"], sky.outputs["Color"], w["bg"].inputs["Color"])
    return Lit(scale=float(lighting.get("strength", 1.0)))
