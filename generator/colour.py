"""The project's one home of colour conversions, numpy only (checked against colour-science in
tests/test_postprocess.py): the sRGB transfer function (IEC 61966-2-1) between display sRGB and
linear light, linear sRGB <-> CIE XYZ (D65), and CIE 1976 L*a*b*. Used by the skin optics, the
lights' colours, the palettes and the background compositing.
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


LINEAR_SRGB_TO_XYZ = np.linalg.inv(XYZ_TO_LINEAR_SRGB)
LUMINANCE = LINEAR_SRGB_TO_XYZ[1]          # relative luminance Y of linear Rec.709 / sRGB RGB
_LAB_DELTA = 6.0 / 29.0


def xyz_to_linear_srgb(xyz) -> np.ndarray:
    return np.asarray(xyz) @ XYZ_TO_LINEAR_SRGB.T


def xyz_to_lab(xyz) -> np.ndarray:
    """CIE 1976 L*a*b* relative to the D65 white."""
    t = np.asarray(xyz) / D65_WHITE_XYZ
    f = np.where(t > _LAB_DELTA**3, np.cbrt(t), t / (3 * _LAB_DELTA**2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def linear_srgb_to_lab(rgb) -> np.ndarray:
    return xyz_to_lab(np.asarray(rgb) @ LINEAR_SRGB_TO_XYZ.T)


def lab_to_linear_srgb(lab) -> np.ndarray:
    """CIE 1976 L*a*b* (D65) -> linear sRGB (unclipped: out-of-gamut colours leave [0, 1])."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    t = np.where(f > _LAB_DELTA, f**3, 3 * _LAB_DELTA**2 * (f - 4.0 / 29.0))
    return xyz_to_linear_srgb(t * D65_WHITE_XYZ)
