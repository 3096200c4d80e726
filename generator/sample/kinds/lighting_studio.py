"""Lighting by a few disc area lights around the hand plus a grey ambient world."""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.colour import srgb_to_linear
from generator.sample.kinds import Kind, register, uniform
from generator.schema import field


def kelvin_to_rgb(kelvin: float) -> list[float]:
    """Approximate blackbody colour (linear RGB, max channel 1) - T. Helland's fit to CIE data."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    lin = srgb_to_linear(np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0))
    return [round(float(c), 6) for c in lin / lin.max()]


@register
@dataclasses.dataclass
class StudioLighting(Kind):
    """[lighting.studio]: 1-4 disc area lights, exposed by their irradiance at the hand"""
    family = "lighting"
    name = "studio"

    lights: list = field([1, 4], "number of area lights", range=(1, 16))
    distance: list = field([0.4, 1.5], "light distance from the hand, m", range=(0.01, 100.0))
    size: list = field([0.1, 1.0], "area light size, m", range=(0.001, 100.0))
    irradiance: list = field([1.0, 4.0], "total irradiance of the area lights at the hand, W/m^2",
                             range=(0.0, 1e4))
    kelvin: list = field([2700.0, 7500.0], "colour temperature range", range=(1000.0, 40000.0))
    ambient: list = field([0.02, 0.3], "world grey strength", range=(0.0, 100.0))

    def draw(self, rng, stage) -> dict:
        n = int(rng.integers(int(self.lights[0]), int(self.lights[1]) + 1))
        # Exposure is set by the irradiance at the hand, not by watts: a Lambertian disc light of
        # power P gives E = P / (pi d^2) on its axis at distance d, so P = E pi d^2 keeps near and
        # far lights equally bright instead of blowing the skin out when a light comes close.
        share = rng.dirichlet(np.ones(n)) * uniform(rng, self.irradiance)
        lights = []
        for e in share:
            # mostly from the camera's side of the hand (z toward the camera), sometimes a rim light
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            d[2] = -abs(d[2]) if rng.uniform() < 0.8 else abs(d[2])
            dist = uniform(rng, self.distance)
            pos = stage.wrist + d * dist
            lights.append({"position": [float(x) for x in pos], "size": uniform(rng, self.size),
                           "power": float(e * np.pi * dist**2), "color": kelvin_to_rgb(uniform(rng, self.kelvin))})
        return {"kind": "studio", "lights": lights, "ambient": uniform(rng, self.ambient)}
