"""The one sRGB transfer function of the project (IEC 61966-2-1), for every module that converts
between display sRGB and linear light: the skin optics, the lights' colours, the background
compositing. Numpy only; checked against colour-science in tests/test_postprocess.py.
"""
from __future__ import annotations

import numpy as np


def srgb_to_linear(x, dtype=np.float64) -> np.ndarray:
    """Display sRGB in [0, 1] -> linear light."""
    x = np.asarray(x, dtype=dtype)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(dtype, copy=False)


def linear_to_srgb(x, dtype=np.float64) -> np.ndarray:
    """Linear light -> display sRGB in [0, 1] (clipped to the gamut's range first)."""
    x = np.clip(np.asarray(x, dtype=dtype), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(dtype, copy=False)


# CIE XYZ (D65 white, Y = 1) -> linear sRGB primaries (IEC 61966-2-1).
XYZ_TO_LINEAR_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                               [-0.9692660, 1.8760108, 0.0415560],
                               [0.0556434, -0.2040259, 1.0572252]])
D65_WHITE_XYZ = np.array([0.95047, 1.0, 1.08883])


def lab_to_linear_srgb(lab) -> np.ndarray:
    """CIE 1976 L*a*b* (D65) -> linear sRGB (unclipped: out-of-gamut colours leave [0, 1])."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    d = 6.0 / 29.0
    t = np.where(f > d, f**3, 3 * d * d * (f - 4.0 / 29.0))
    return (t * D65_WHITE_XYZ) @ XYZ_TO_LINEAR_SRGB.T
