"""Monk Skin Tone (MST) levels -> biophysical parameters of the dorsum and palm.

How the mapping is chosen (docs/TEXTURES.md has the long form):
- The MST swatches are *display* colours, not albedo, so they are used as an ordinal and hue
  reference. Each level's swatch lightness is mapped linearly onto the range of measured skin
  albedo lightness, L* ~ 70 (very light) to L* ~ 30 (very dark) (Chardon et al. 1991; Del Bino &
  Bernerd 2013), forced strictly decreasing with the level so the scale's order is kept.
- For each level, the epidermal melanin fraction C_m is solved (bisection) so the model's dorsum
  albedo has that L*, and the carotenoid term is chosen from a small range so the hue angle
  h_ab follows the swatch's (MST 3-5 are yellower). Blood, eumelanin share and oxygenation are
  held at typical values (Donner & Jensen 2006).
- Palms carry about one fifth of the dorsal melanin (palmoplantar melanocyte density, Yamaguchi
  et al. 2004) and a much thicker epidermis (stratum corneum), so they are lighter for every tone.
"""
from __future__ import annotations

import functools

import numpy as np

from .skin_optics import SkinParams, skin_lab, srgb_hex_to_lab

MST_HEX = {1: "#f6ede4", 2: "#f3e7db", 3: "#f7ead0", 4: "#eadaba", 5: "#d7bd96",
           6: "#a07e56", 7: "#825c43", 8: "#604134", 9: "#3a312a", 10: "#292420"}
MST_LEVELS = tuple(MST_HEX)

ALBEDO_L_RANGE = (70.0, 30.0)        # L* of the lightest and darkest dorsum albedo
DORSUM = dict(eumelanin_ratio=0.7, blood=0.02, oxygenation=0.75, epidermis_mm=0.10)
PALM_MELANIN_FACTOR = 0.2
PALM = dict(epidermis_mm=0.20, blood=0.04)
CAROTENE_RANGE = (0.0, 0.6)


def check_level(mst) -> int:
    if isinstance(mst, bool) or not isinstance(mst, (int, np.integer)) or int(mst) not in MST_HEX:
        raise ValueError(f"unknown skin tone {mst!r}: Monk Skin Tone levels are the integers 1-10")
    return int(mst)


def target_lab(mst: int) -> tuple[float, float]:
    """(L*, hue angle in degrees) the dorsum albedo of level ``mst`` is calibrated to."""
    labs = {k: srgb_hex_to_lab(h) for k, h in MST_HEX.items()}
    l_hi, l_lo = labs[1][0], labs[10][0]
    a_hi, a_lo = ALBEDO_L_RANGE
    L, prev = {}, np.inf
    for k in MST_LEVELS:   # linear map of swatch L*, then force strictly decreasing order
        v = a_lo + (labs[k][0] - l_lo) / (l_hi - l_lo) * (a_hi - a_lo)
        prev = min(v, prev - 0.8)
        L[k] = prev
    lab = labs[check_level(mst)]
    return float(L[mst]), float(np.degrees(np.arctan2(lab[2], lab[1])))


def _solve_melanin(L_target: float, **kw) -> float:
    lo, hi = 1e-4, 0.6
    for _ in range(48):
        m = np.sqrt(lo * hi)
        if skin_lab(SkinParams(melanin=m, **kw))[0] > L_target:
            lo = m
        else:
            hi = m
    return float(np.sqrt(lo * hi))


@functools.lru_cache(maxsize=None)
def calibrated_dorsum(mst: int) -> SkinParams:
    """Dorsum parameters of MST level ``mst`` (deterministic; cached)."""
    L, hue = target_lab(check_level(mst))
    best = None
    for car in np.linspace(*CAROTENE_RANGE, 13):
        m = _solve_melanin(L, carotene=float(car), **DORSUM)
        lab = skin_lab(SkinParams(melanin=m, carotene=float(car), **DORSUM))
        err = abs(np.degrees(np.arctan2(lab[2], lab[1])) - hue)
        if best is None or err < best[0] - 1e-9:
            best = (err, m, float(car))
    return SkinParams(melanin=best[1], carotene=best[2], **DORSUM)


def palm_of(dorsum: SkinParams) -> SkinParams:
    return dorsum.replace(melanin=dorsum.melanin * PALM_MELANIN_FACTOR, **PALM)
