"""Monk Skin Tone (MST) levels -> biophysical parameters of the dorsum and palm.

How the mapping is chosen (docs/TEXTURES.md has the long form and the table):
- The MST swatches are *display* colours, not albedo: they give the order and spacing only.
  Each level's swatch L* is mapped linearly onto the lightness range of *measured* backs of
  hands (``measured``: ISSA spectra, from the lightest group's 97.5th percentile to the darkest
  group's 2.5th percentile), forced strictly decreasing with the level.
- Chroma comes from the measurements, not the swatches: the target (a*, b*) at that lightness is
  the median of the measured backs of hands of similar L* (all groups pooled).
- The model reproduces the target: for each (blood, carotene) pair of a small grid the
  epidermal melanin C_m is solved by bisection for the target L*, and the pair closest in
  (a*, b*) wins. Colours are compared as the spectrophotometer saw them (specular included,
  ``skin_optics.measured_lab``).
- Palms: their measured lightness relative to the back of the hand is regressed over the groups
  measured at both sites (nearly equal for light skin, about 15 L* lighter for African
  subjects), and the palm's melanin, blood and carotene are fitted to that L* and the measured
  palm chroma, with the thicker palmar epidermis (0.2 mm).
"""
from __future__ import annotations

import functools

import numpy as np

from . import measured
from .skin_optics import SkinParams, measured_lab, srgb_hex_to_lab

MST_HEX = {1: "#f6ede4", 2: "#f3e7db", 3: "#f7ead0", 4: "#eadaba", 5: "#d7bd96",
           6: "#a07e56", 7: "#825c43", 8: "#604134", 9: "#3a312a", 10: "#292420"}
MST_LEVELS = tuple(MST_HEX)

DORSUM = dict(oxygenation=0.75, epidermis_mm=0.10)
PALM = dict(oxygenation=0.75, epidermis_mm=0.20)
EUMELANIN_GRID = (0.5, 0.7, 0.9)                                  # eumelanin share of melanin
BLOOD_GRID = tuple(np.round(np.linspace(0.01, 0.05, 9), 4))      # dermal blood volume fraction
CAROTENE_GRID = tuple(np.round(np.linspace(0.0, 0.6, 7), 3))      # mm^-1 at 450 nm
F0 = measured.F0


def check_level(mst) -> int:
    if isinstance(mst, bool) or not isinstance(mst, (int, np.integer)) or int(mst) not in MST_HEX:
        raise ValueError(f"unknown skin tone {mst!r}: Monk Skin Tone levels are the integers 1-10")
    return int(mst)


def measured_lightness_range() -> tuple[float, float]:
    """(lightest, darkest) back-of-hand L* of the scale's ends: the 97.5th percentile of the
    lightest measured group, and one standard deviation below the mean of the darkest group (the
    model loses chroma below that; docs/TEXTURES.md, Limits)."""
    g = measured.reference()["groups"]["back_of_hand"].values()
    darkest = min(g, key=lambda v: v["L"]["mean"])
    return max(v["L"]["p"][2] for v in g), darkest["L"]["mean"] - darkest["L"]["sd"]


@functools.lru_cache(maxsize=None)
def target_lab(mst: int) -> tuple[float, float, float]:
    """Measured-equivalent (L*, a*, b*) the dorsum of level ``mst`` is calibrated to."""
    mst = check_level(mst)
    sw = {k: srgb_hex_to_lab(h)[0] for k, h in MST_HEX.items()}
    hi, lo = measured_lightness_range()
    L, prev = {}, np.inf
    for k in MST_LEVELS:   # linear map of swatch L*, then force strictly decreasing order
        v = lo + (sw[k] - sw[10]) / (sw[1] - sw[10]) * (hi - lo)
        prev = min(v, prev - 0.8)
        L[k] = prev
    return (L[mst], *measured.target_chroma("back_of_hand", L[mst]))


def palm_lightening(L_dorsum: float) -> float:
    """Palm L* minus back-of-hand L*, linear in the back of hand's L*, fitted to the group means."""
    g = measured.reference()["groups"]
    both = [k for k in g["palm"] if k in g["back_of_hand"]]
    x = np.array([g["back_of_hand"][k]["L"]["mean"] for k in both])
    y = np.array([g["palm"][k]["L"]["mean"] for k in both]) - x
    slope, icpt = np.polyfit(x, y, 1)
    return float(icpt + slope * L_dorsum)


@functools.lru_cache(maxsize=None)
def palm_target_lab(mst: int) -> tuple[float, float, float]:
    L = target_lab(mst)[0]
    Lp = L + max(palm_lightening(L), 0.0)
    return (Lp, *measured.target_chroma("palm", Lp))


def _grid_lab(melanin: np.ndarray, grid: list[dict]) -> np.ndarray:
    """Measured-equivalent CIELAB of every grid point (vectorised over the grid)."""
    cols = {k: np.array([g[k] for g in grid], float)[:, None] for k in grid[0]}
    return measured_lab(SkinParams(melanin=np.asarray(melanin, float)[:, None], **cols), F0)


def _fit(target: tuple[float, float, float], site: dict) -> SkinParams:
    """Grid over blood, carotene and eumelanin share; melanin solved (bisection in log C_m) for
    the target L* at every grid point; the point closest to the target (a*, b*) wins."""
    L, a, b = target
    grid = [dict(site, blood=float(bl), carotene=float(c), eumelanin_ratio=float(e))
            for bl in BLOOD_GRID for c in CAROTENE_GRID for e in EUMELANIN_GRID]
    lo, hi = np.full(len(grid), np.log(1e-5)), np.full(len(grid), np.log(0.6))
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lighter = _grid_lab(np.exp(mid), grid)[:, 0] > L
        lo, hi = np.where(lighter, mid, lo), np.where(lighter, hi, mid)
    m = np.exp(0.5 * (lo + hi))
    lab = _grid_lab(m, grid)
    i = int(np.argmin((lab[:, 1] - a) ** 2 + (lab[:, 2] - b) ** 2))
    return SkinParams(melanin=float(m[i]), **grid[i])


@functools.lru_cache(maxsize=None)
def calibrated_dorsum(mst: int) -> SkinParams:
    """Dorsum parameters of MST level ``mst`` (deterministic; cached)."""
    return _fit(target_lab(check_level(mst)), DORSUM)


@functools.lru_cache(maxsize=None)
def calibrated_palm(mst: int) -> SkinParams:
    """Palm (and finger pad) parameters of MST level ``mst``."""
    return _fit(palm_target_lab(check_level(mst)), PALM)
