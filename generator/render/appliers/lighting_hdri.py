"""Applier of the hdri lighting kind: the environment texture lights the world; its rotation
turns the camera rig (not the world, which would rebuild the importance map) and its strength
scales the render in numpy."""
from __future__ import annotations

from generator.render.appliers import Lit, register
from generator.render.nodes import link, require, set_if_changed


@register("lighting", "hdri")
def apply(view, lighting: dict) -> Lit:
    w = view.world
    set_if_changed(w["env"], "image", view.image(require(lighting, "path", "lighting"), "Linear Rec.709"))
    link(w["tree"], w["env"].outputs["Color"], w["bg"].inputs["Color"])
    return Lit(scale=float(lighting.get("strength", 1.0)), rig=float(lighting.get("rotation", 0.0)))
