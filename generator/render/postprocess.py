"""Numpy post-processing of a rendered view (no bpy): backgrounds (user photos, procedural
pictures), compositing the hand over them in linear light, sensor noise, the depth pass.

Cycles renders the hand on a transparent film; the Blender view then calls ``composite_over``
with the background layer its kind's applier made, hands the linear result to Blender's display
transform (AgX) for the 8-bit image, and adds ``sensor_noise`` to that.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from generator import conventions
from generator.colour import srgb_to_linear


@functools.lru_cache(maxsize=64)
def load_background_image(path: str, width: int, height: int) -> np.ndarray:
    """A user image cover-fit (scaled to cover, centre-cropped) to (H, W, 3), linear float32."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"background image not found: {path}")
    with Image.open(path) as im:
        fitted = ImageOps.fit(im.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS)
    out = srgb_to_linear(np.asarray(fitted, dtype=np.float32) / 255.0, np.float32)
    out.setflags(write=False)
    return out


def procedural_background(width: int, height: int, seed: int, style: str = "gradient",
                          colors=None) -> np.ndarray:
    """A procedural background (H, W, 3) in linear float32; ``colors`` are sRGB in [0, 1]."""
    rng = conventions.rng(seed, 0, "procedural_background")
    if colors is None or len(colors) == 0:
        colors = rng.uniform(0.05, 0.95, size=(3, 3))
    colors = np.asarray(colors, dtype=np.float32).reshape(-1, 3)
    if len(colors) == 1:
        colors = np.concatenate([colors, colors])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    size = float(max(width, height))
    if style == "gradient":
        a = rng.uniform(0, 2 * np.pi)
        t = (xx - width / 2) * np.cos(a) + (yy - height / 2) * np.sin(a)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    elif style == "noise":
        t = np.zeros((height, width), np.float32)
        for octave, cells in enumerate((3, 7, 15)):
            grid = rng.uniform(0, 1, size=(cells + 1, cells + 1)).astype(np.float32)
            gx, gy = xx / size * cells, yy / size * cells
            x0, y0 = np.floor(gx).astype(int), np.floor(gy).astype(int)
            fx, fy = gx - x0, gy - y0
            fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)   # smoothstep: no grid seams
            x1, y1 = np.minimum(x0 + 1, cells), np.minimum(y0 + 1, cells)
            v = (grid[y0, x0] * (1 - fx) + grid[y0, x1] * fx) * (1 - fy) + \
                (grid[y1, x0] * (1 - fx) + grid[y1, x1] * fx) * fy
            t += v * 0.5 ** octave
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    elif style == "checker":
        cell = rng.uniform(size / 12, size / 4)
        a = rng.uniform(0, np.pi / 2)
        u = (xx * np.cos(a) + yy * np.sin(a)) / cell
        v = (-xx * np.sin(a) + yy * np.cos(a)) / cell
        idx = (np.floor(u) + np.floor(v)).astype(int) % len(colors)
        return srgb_to_linear(colors[idx], np.float32)
    else:
        raise ValueError(f"background['style'] must be gradient, noise or checker, not {style!r}")
    # piecewise-linear colour ramp through the given colours
    pos = t * (len(colors) - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(colors) - 2)
    w = (pos - i0)[..., None]
    return srgb_to_linear(colors[i0] * (1 - w) + colors[i0 + 1] * w, np.float32)


def composite_over(rgb_premultiplied: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The rendered layer (premultiplied, linear) 'over' the background (linear): in linear light,
    where light adds, so soft edges and motion blur blend as a camera would record them."""
    return rgb_premultiplied + (1.0 - alpha)[..., None] * background


def sensor_noise(rgb8: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise of ``sigma`` 8-bit units on a display image, seeded, clipped and rounded."""
    if sigma <= 0:
        return rgb8
    noise = conventions.rng(int(seed), 0, "sensor_noise").normal(0.0, sigma, size=rgb8.shape)
    return np.clip(np.rint(rgb8 + noise), 0, 255).astype(np.uint8)


def depth_from_pass(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cycles' Z pass -> camera-frame z, finite exactly where the mask is set.

    Cycles writes the Z pass from each pixel's *first* sample only (1e10 when that ray missed),
    so an edge pixel that is mostly hand may hold the background; fill such holes from the
    nearest hand pixels (3x3 minimum, a few rounds).
    """
    depth = np.where(mask & (z < 1e9), z, np.inf).astype(np.float32)
    for _ in range(4):
        holes = mask & ~np.isfinite(depth)
        if not holes.any():
            break
        depth[holes] = ndimage.minimum_filter(depth, size=3, mode="nearest")[holes]
    return depth
