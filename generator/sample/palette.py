"""Colours drawn like the colours of photographs, for procedural backgrounds and distractors.

Palette statistics (CIELAB, D65), measured on 32 crops of 256 px from the 8 CC0 photographs
bundled with Blender (`benchmarks/background_stats.py`, 10th-90th percentile over crops): mean
L* 47-65; chroma of the mean colour 2.5-17 (median 6.8); that mean's hue yellow to orange
(40-120 deg) in 69% of crops and blue (-150..-60 deg) in 19%; within a crop L* varies with a
standard deviation of 19-30 and b* (yellow-blue, median 11) more than a* (median 4): colour in
photographs varies mostly along the daylight axis.
"""
from __future__ import annotations

import numpy as np

from generator.colour import lab_to_linear_srgb, linear_to_srgb


def natural_palette(rng: np.random.Generator, n: int, lightness=(35.0, 75.0)) -> np.ndarray:
    """(n, 3) sRGB colours in [0, 1]: a scene colour (low chroma, mostly warm, sometimes blue)
    and n - 1 variations of it, with the spreads measured on photographs (module docstring)."""
    L = rng.uniform(*lightness)
    chroma = abs(rng.normal(0.0, 10.0))
    pick = rng.uniform()
    hue = (rng.normal(80.0, 25.0) if pick < 0.7 else rng.normal(-100.0, 20.0) if pick < 0.9
           else rng.uniform(-180.0, 180.0))
    mean = np.array([L, chroma * np.cos(np.radians(hue)), chroma * np.sin(np.radians(hue))])
    lab = mean + rng.normal(0.0, 1.0, (n, 3)) * np.array([30.0, 4.0, 10.0])
    lab[0] = mean
    lab[:, 0] = np.clip(lab[:, 0], 8.0, 95.0)
    return linear_to_srgb(lab_to_linear_srgb(lab))
