"""Materials of what the arm wears, as plain data for the wear appliers: colours (sRGB, two mixed
by a noise texture), roughness, metallic, sheen."""
from __future__ import annotations

import numpy as np

from generator.colour import linear_to_srgb
from generator.sample.palette import natural_palette

# Typical specular colours (F0, linear RGB) of silver, gold, aluminium and chromium, as listed
# in physically based material charts.
METALS_LINEAR = ((0.972, 0.960, 0.915), (1.000, 0.766, 0.336), (0.913, 0.922, 0.924), (0.550, 0.556, 0.554))


def _colors(rgb) -> list:
    return [[round(float(c), 4) for c in x] for x in rgb]


def metal_material(rng: np.random.Generator) -> dict:
    base = np.asarray(METALS_LINEAR[int(rng.integers(len(METALS_LINEAR)))])
    return {"colors": _colors(linear_to_srgb(np.stack([base, base * rng.uniform(0.85, 1.0)]))), "texture_scale": 50.0,
            "roughness": round(float(rng.uniform(0.1, 0.4)), 3), "metallic": 1.0, "sheen": 0.0}


def band_material(rng: np.random.Generator) -> dict:
    """Leather, fabric or plastic: a photo-like colour, rough."""
    return {"colors": _colors(natural_palette(rng, 2, lightness=(10.0, 70.0))),
            "texture_scale": round(float(rng.uniform(30.0, 300.0)), 2),
            "roughness": round(float(rng.uniform(0.35, 0.9)), 3), "metallic": 0.0, "sheen": 0.0}


def cloth_material(rng: np.random.Generator, colors) -> dict:
    """Woven cloth in two photo-like colours drawn by the caller (sRGB): rough, with sheen."""
    return {"colors": _colors(colors), "texture_scale": round(float(rng.uniform(20.0, 200.0)), 2),
            "roughness": round(float(rng.uniform(0.6, 0.95)), 3), "metallic": 0.0,
            "sheen": round(float(rng.uniform(0.2, 0.8)), 3)}
