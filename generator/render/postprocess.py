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
from generator.colour import LUMINANCE, srgb_to_linear

MIDDLE_GREY = 0.18


def metered_exposure(light_rgb: np.ndarray, coverage: np.ndarray, mask: np.ndarray, frame_rgb: np.ndarray,
                     ev: float = 0.0, min_pixels: int = 16) -> tuple[float, str]:
    """The factor that exposes a linear frame (H, W, 3) as a photographer metering the hand would,
    and which meter gave it ("hand" or "scene").

    Hand: an incident-light reading at the hand. ``light_rgb`` is the light its diffuse (and
    subsurface) shading received, without its colour: Cycles' diffuse direct + indirect light
    passes, which a surface of albedo rho turns into rho x light. Their mean over the hand's
    pixels (both premultiplied by the hand's ``coverage``, so edge pixels count by their share)
    is the light at the hand, and the factor makes a surface of albedo rho in that light render
    at rho * 2**ev. Neither the skin's albedo nor its specular sheen enters the reading, so two
    skins in one light get one factor: an MST 10 hand stays dark, an MST 1 hand light, while the
    environment's brightness no longer decides whether the hand is a silhouette or blown out.
    (Reading the light as rendered luminance over albedo, as this meter first did, let the sheen,
    which does not darken with the skin, count as light: in one scene an MST 10 hand got as little
    as a third of an MST 5 hand's factor.) Scene (fewer than ``min_pixels`` hand pixels): an
    averaging reflected-light meter, the composited frame's log-mean luminance to middle grey."""
    light = np.asarray(light_rgb, dtype=np.float64) @ LUMINANCE
    cov = np.asarray(coverage, dtype=np.float64)
    m = np.asarray(mask, dtype=bool) & (cov > 0)
    if m.sum() >= min_pixels and light[m].sum() > 0:
        return float(2.0 ** ev * cov[m].sum() / light[m].sum()), "hand"
    frame = np.asarray(frame_rgb, dtype=np.float64) @ LUMINANCE
    log_mean = float(np.exp(np.log(np.maximum(frame, 1e-6)).mean()))
    return float(2.0 ** ev * MIDDLE_GREY / log_mean), "scene"


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


def pink_noise(rng: np.random.Generator, height: int, width: int, exponent: float) -> np.ndarray:
    """A zero-mean, unit-variance field whose amplitude spectrum falls as 1/f**exponent (natural
    images: exponent about 1), made by shaping white noise in the Fourier domain."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f**exponent
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(height, width))
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)


def _shape_coverage(kind: str, xx, yy, cx, cy, rx, ry, angle) -> np.ndarray:
    """Coverage (0/1, anti-aliased over about a pixel) of an ellipse or rectangle."""
    c, s = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * c + (yy - cy) * s) / rx
    v = (-(xx - cx) * s + (yy - cy) * c) / ry
    if kind == "ellipse":
        d = (np.sqrt(u * u + v * v) - 1.0) * min(rx, ry)       # ~ signed distance in pixels
    else:
        d = np.maximum((np.abs(u) - 1.0) * rx, (np.abs(v) - 1.0) * ry)
    return np.clip(0.5 - d, 0.0, 1.0).astype(np.float32)


WORK_SIZE = 256   # procedural pictures are made at most this large, then upsampled (they are out of focus)


@functools.lru_cache(maxsize=2)      # views a and b of a pair share their background
def _procedural_cached(width, height, seed, style, palette, blur):
    out = procedural_background(width, height, seed, style, palette, blur)
    out.setflags(write=False)
    return out


def procedural_layer(background: dict, width: int, height: int) -> np.ndarray:
    """The procedural picture of a background dict (read-only; the last two are remembered)."""
    palette = tuple(tuple(float(c) for c in rgb) for rgb in background.get("palette") or ())
    return _procedural_cached(int(width), int(height), int(background.get("seed", 0)),
                              background.get("style", "clutter"), palette, float(background.get("blur", 0.01)))


def procedural_background(width: int, height: int, seed: int, style: str = "clutter",
                          palette=None, blur: float = 0.01) -> np.ndarray:
    """A natural-looking picture behind the hand, (H, W, 3) linear float32, deterministic in seed.

    ``palette``: sRGB colours in [0, 1] (the first is the backdrop), drawn by the procedural kind
    from the colour statistics of photographs; ``blur``: defocus of the nearest layer as a
    fraction of the image width (the background is out of focus behind a focused hand).

    - ``clutter``: a textured backdrop, then out-of-focus objects (ellipses, boxes, bars) in three
      depth layers, sizes drawn from a scale-invariant law (the dead-leaves model of natural
      images, whose spectrum falls as about 1/f), each shaded by a linear ramp; farther layers
      are blurred more.
    - ``surface``: a wall or table close behind the hand: one or two surfaces meeting at a soft
      edge, with a stronger 1/f texture (plaster, wood, fabric at this scale).
    Both get a low-frequency illumination falloff. Colours are mixed in linear light. The picture
    is made at most WORK_SIZE pixels wide and upsampled: it is blurred anyway, and it stays cheap.
    """
    if style not in ("clutter", "surface"):
        raise ValueError(f"background['style'] must be clutter or surface, not {style!r}")
    rng = conventions.rng(seed, 0, "procedural_background")
    if palette is None or len(palette) == 0:
        palette = [[0.5, 0.5, 0.5]]
    colours = srgb_to_linear(np.clip(np.asarray(palette, np.float64).reshape(-1, 3), 0, 1)).astype(np.float32)
    scale = min(1.0, WORK_SIZE / float(max(width, height)))
    H, W = max(int(round(height * scale)), 1), max(int(round(width * scale)), 1)
    size = float(max(W, H))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    sigma = max(float(blur), 0.0) * size

    img = np.empty((H, W, 3), np.float32)
    img[:] = colours[0]
    if style == "surface" and len(colours) > 1 and rng.uniform() < 0.7:
        # a second surface (table top, floor, another wall) beyond a straight edge
        a = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(-0.35, 0.35) * size
        side = ((xx - W / 2) * np.cos(a) + (yy - H / 2) * np.sin(a) - off) > 0
        img[side] = colours[1]
    texture = pink_noise(rng, H, W, rng.uniform(0.8, 1.2))
    img *= np.exp(rng.uniform(0.05, 0.3) * texture)[..., None]

    if style == "clutter":
        n = int(rng.integers(10, 30))
        r_min, r_max = 0.07 * size, 0.8 * size
        roll = rng.normal(0.0, np.radians(4.0))             # the camera's roll: man-made edges tilt together
        # radius density ~ r^-3 between r_min and r_max (scale invariance of the dead-leaves model)
        u = rng.uniform(size=n)
        radius = r_min / np.sqrt(1.0 - u * (1.0 - (r_min / r_max) ** 2))
        layer_of = rng.integers(0, 3, size=n)                # 0 = farthest
        img = _blur(img, sigma * 1.3)                        # the backdrop: farthest of all
        for layer in range(3):
            premult = np.zeros((H, W, 3), np.float32)
            cover = np.zeros((H, W), np.float32)
            for i in np.flatnonzero(layer_of == layer):
                _draw_object(rng, premult, cover, xx, yy, float(radius[i]), colours, roll)
            s_layer = sigma * (1.3, 1.15, 1.0)[layer]
            premult, cover = _blur(premult, s_layer), _blur(cover, s_layer)
            img = premult + (1.0 - cover)[..., None] * img
    else:
        img = _blur(img, sigma)

    # light falls off across the scene: a linear ramp and a soft vignette
    a = rng.uniform(0, 2 * np.pi)
    ramp = ((xx - W / 2) * np.cos(a) + (yy - H / 2) * np.sin(a)) / size
    r2 = ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / (size / 2) ** 2
    img *= np.exp(rng.uniform(0.0, 1.2) * ramp - rng.uniform(0.0, 0.3) * r2)[..., None]
    if (H, W) != (height, width):
        img = np.stack([np.asarray(Image.fromarray(img[..., c], mode="F").resize(
            (int(width), int(height)), Image.Resampling.BILINEAR)) for c in range(3)], axis=-1)
    return np.clip(img, 0.0, None).astype(np.float32)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.3:
        return a
    return ndimage.gaussian_filter(a, (sigma, sigma) + (0,) * (a.ndim - 2), mode="nearest")


def _draw_object(rng, premult, cover, xx, yy, r: float, colours, roll: float) -> None:
    """One object of the clutter, painted over the layer: a box (furniture, a door, a window, a
    book), a bar (a shelf, a frame, a table leg) or an ellipse (a cup, a plant, a lamp), shaded
    by a linear ramp across it. Boxes and bars mostly stand upright (man-made scenes)."""
    H, W = cover.shape
    kind = ("box", "bar", "ellipse")[int(rng.choice(3, p=[0.55, 0.2, 0.25]))]
    rx, ry = (r, r * rng.uniform(0.3, 1.0)) if kind != "bar" else (r * 2.5, r * rng.uniform(0.04, 0.12))
    cx, cy = rng.uniform(-0.1, 1.1) * W, rng.uniform(-0.1, 1.1) * H
    if kind == "ellipse" or rng.uniform() < 0.15:
        angle = rng.uniform(0, np.pi)
    else:
        angle = roll + float(rng.choice([0.0, np.pi / 2])) + rng.normal(0.0, np.radians(2.0))
    colour = colours[int(rng.integers(len(colours)))] * np.exp(rng.normal(0.0, 0.08, 3)).astype(np.float32)
    g = rng.normal(0.0, 0.5, 2) / max(rx, ry)
    reach = rx + ry + 2
    x0, x1 = int(max(cx - reach, 0)), int(min(cx + reach + 1, W))
    y0, y1 = int(max(cy - reach, 0)), int(min(cy + reach + 1, H))
    if x0 >= x1 or y0 >= y1:
        return
    sl = np.s_[y0:y1, x0:x1]
    a = _shape_coverage("ellipse" if kind == "ellipse" else "box", xx[sl], yy[sl], cx, cy, rx, ry, angle)
    shade = np.clip(1.0 + g[0] * (xx[sl] - cx) + g[1] * (yy[sl] - cy), 0.3, 1.7)
    premult[sl] = premult[sl] * (1 - a[..., None]) + (a * shade)[..., None] * colour
    cover[sl] = cover[sl] * (1 - a) + a


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
