"""Statistics that tell photographs from synthetic pictures, for checking the procedural
backgrounds against real photographs (benchmarks/background_stats.py, tests/test_postprocess.py):
the slope of the amplitude spectrum (natural images: about -1, i.e. 1/f) and colour saturation."""
from __future__ import annotations

import numpy as np


def spectral_slope(gray: np.ndarray, f_lo: int = 4, f_hi_fraction: float = 0.25) -> float:
    """Slope of log(radially averaged amplitude) against log(frequency) of a square grey image,
    Hann-windowed, fitted from f_lo cycles to f_hi_fraction of the size (clear of the blur and
    aliasing at the top of the band)."""
    g = np.asarray(gray, np.float64)
    n = min(g.shape)
    g = g[:n, :n] - g[:n, :n].mean()
    window = np.outer(np.hanning(n), np.hanning(n))
    amp = np.abs(np.fft.fftshift(np.fft.fft2(g * window)))
    yy, xx = np.indices(amp.shape) - n // 2
    r = np.rint(np.hypot(xx, yy)).astype(int)
    f = np.arange(f_lo, int(n * f_hi_fraction))
    radial = np.bincount(r.ravel(), amp.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    return float(np.polyfit(np.log(f), np.log(radial[f] + 1e-12), 1)[0])


def saturation(srgb: np.ndarray, min_value: float = 0.05) -> np.ndarray:
    """HSV saturation (max - min) / max per pixel of an sRGB image in [0, 1]; 0 where the pixel is
    darker than min_value (saturation of near-black pixels is noise)."""
    srgb = np.asarray(srgb, np.float64)
    hi, lo = srgb.max(-1), srgb.min(-1)
    return np.where(hi > min_value, (hi - lo) / np.maximum(hi, 1e-9), 0.0)


def luma(srgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an sRGB image (the grey image the spectrum is measured on)."""
    return np.asarray(srgb, np.float64) @ np.array([0.299, 0.587, 0.114])
