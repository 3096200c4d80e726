"""A quick software picture of posed hands (flat-shaded, painter's algorithm, PIL) with the
21-keypoint skeleton: for looking at poses without Blender."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from generator.conventions import bones

FINGER_COLOURS = [(230, 60, 60), (240, 160, 40), (60, 170, 60), (50, 120, 230), (160, 70, 200)]


def _view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    ry = np.array([[np.cos(az), 0, np.sin(az)], [0, 1, 0], [-np.sin(az), 0, np.cos(az)]])
    rx = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    return rx @ ry


def draw_hand(vertices, faces, keypoints, size: int = 256, azimuth: float = 200.0,
              elevation: float = -20.0, skeleton: bool = True) -> Image.Image:
    """Orthographic view of one hand; the default looks at the palm, fingers up."""
    r = _view_rotation(azimuth, elevation)
    v = np.asarray(vertices) @ r.T
    kp = np.asarray(keypoints) @ r.T
    lo, hi = v[:, :2].min(0), v[:, :2].max(0)
    scale = 0.9 * size / (hi - lo).max()
    centre = (lo + hi) / 2

    def to_px(p):
        xy = (p[..., :2] - centre) * scale
        return np.stack([size / 2 + xy[..., 0], size / 2 - xy[..., 1]], -1)

    img = Image.new("RGB", (size, size), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    facing = normal[:, 2] > 0                          # toward the viewer (+z)
    light = np.clip(normal @ np.array([0.3, 0.5, 0.81]), 0, 1)
    order = np.argsort(tri[:, :, 2].mean(1))           # far (small z) first
    px = to_px(tri)
    for f in order:
        if not facing[f]:
            continue
        shade = int(90 + 150 * light[f])
        draw.polygon([tuple(p) for p in px[f]], fill=(shade, int(shade * 0.82), int(shade * 0.7)))
    if skeleton:
        kpx = to_px(kp)
        for p, c in bones():
            colour = FINGER_COLOURS[(c - 1) // 4]
            draw.line([tuple(kpx[p]), tuple(kpx[c])], fill=colour, width=max(1, size // 128))
        for k, q in enumerate(kpx):
            rad = max(1.5, size / 120)
            colour = (20, 20, 20) if k == 0 else FINGER_COLOURS[(k - 1) // 4]
            draw.ellipse([q[0] - rad, q[1] - rad, q[0] + rad, q[1] + rad], fill=colour)
    return img


def contact_sheet(images: list[Image.Image], columns: int = 4, labels: list[str] | None = None) -> Image.Image:
    if not images:
        raise ValueError("no images for the contact sheet")
    w, h = images[0].size
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, im in enumerate(images):
        x, y = (i % columns) * w, (i // columns) * h
        sheet.paste(im, (x, y))
        if labels:
            draw.text((x + 4, y + 4), labels[i], fill=(0, 0, 0))
    return sheet
