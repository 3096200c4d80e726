"""Applier of the sky lighting kind: Blender's Nishita sky with its sun disc, over a diffuse ground
(generator.render.blender_view builds the ground's nodes)."""
from __future__ import annotations

from generator.render.appliers import Lit, register
from generator.render.nodes import link, require, set_if_changed

# Ground radiance is albedo x E / pi, E the horizontal irradiance of sun and sky. We read the sky
# without its sun at the mirrored elevation. Under a clear sky with the sun at 30 deg, E is about
# 65 klx (sun 50, sky 15) and the sky near the horizon about 10 kcd/m2, so E / pi is about twice
# that sky radiance: the ground's albedo is scaled by this gain (albedo 0.1 comes out about 2.3 EV
# below the sky near the horizon, as in daylight photographs).
GROUND_GAIN = 2.0


@register("lighting", "sky")
def apply(view, lighting: dict) -> Lit:
    w = view.world
    values = {"sun_elevation": float(require(lighting, "sun_elevation", "lighting")),
              "air_density": float(lighting.get("air", 1.0)),
              "dust_density": float(lighting.get("dust", 1.0)),
              "sun_rotation": float(lighting.get("sun_rotation", 0.0))}
    for node in (w["sky"], w["sky_up"]):
        for attr, value in values.items():
            set_if_changed(node, attr, value)
    set_if_changed(w["sky"], "sun_disc", True)
    # samples drawn before the sky had a ground have none: black below the horizon, as they rendered
    albedo = [GROUND_GAIN * float(c) for c in lighting.get("ground_albedo", (0.0, 0.0, 0.0))]
    set_if_changed(w["ground"].inputs["Vector"], "default_value", tuple(albedo))
    link(w["tree"], w["sky_ground"], w["bg"].inputs["Color"])
    return Lit(scale=float(lighting.get("strength", 1.0)))
