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
