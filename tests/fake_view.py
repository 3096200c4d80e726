"""A render-free stand-in for BlenderView (same interface) for orchestration tests: a numpy z-buffer
rasteriser of the hand's triangles, so masks and depth are real geometry (not Cycles).

Set FAKE_VIEW_SLEEP (seconds per view) to slow it down; FAKE_VIEW_CRASH_AT=i makes the process
die (SIGKILL itself) when it starts rendering view number i of the process; FAKE_VIEW_ERROR=KIND:i
raises at view i instead: KIND "asset" a deterministic AssetError, "python" a RuntimeError.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from generator.conventions import project


def rasterize(vertices, faces, K, W, H, face_ids=None):
    """(depth (H, W) float32 with inf off the mesh, mask uint8[, ids uint8 of the nearest face])
    by z-buffering the triangles at pixel centres (integer coordinates, conventions.py)."""
    uv = project(K, vertices)
    z = vertices[:, 2]
    depth = np.full((H, W), np.inf)
    ids = np.zeros((H, W), np.uint8)
    for i, f in enumerate(faces):
        p = uv[f]
        x0, x1 = max(int(np.ceil(p[:, 0].min())), 0), min(int(np.floor(p[:, 0].max())), W - 1)
        y0, y1 = max(int(np.ceil(p[:, 1].min())), 0), min(int(np.floor(p[:, 1].max())), H - 1)
        if x0 > x1 or y0 > y1:
            continue
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        (ax, ay), (bx, by), (cx, cy) = p
        den = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        if abs(den) < 1e-12:
            continue
        l1 = ((by - cy) * (xs - cx) + (cx - bx) * (ys - cy)) / den
        l2 = ((cy - ay) * (xs - cx) + (ax - cx) * (ys - cy)) / den
        l3 = 1 - l1 - l2
        inside = (l1 >= 0) & (l2 >= 0) & (l3 >= 0)
        if not inside.any():
            continue
        # perspective-correct depth: interpolate 1/z
        zz = 1.0 / (l1 / z[f[0]] + l2 / z[f[1]] + l3 / z[f[2]])
        sub = depth[y0:y1 + 1, x0:x1 + 1]
        upd = inside & (zz < sub)
        sub[upd] = zz[upd]
        if face_ids is not None:
            ids[y0:y1 + 1, x0:x1 + 1][upd] = face_ids[i]
    mask = np.isfinite(depth)
    if face_ids is not None:
        return depth.astype(np.float32), (mask * 255).astype(np.uint8), ids
    return depth.astype(np.float32), (mask * 255).astype(np.uint8)


class FakeView:
    def __init__(self, device="auto", preset="default", resolution=None, samples=None, workdir=None):
        # the worker draws ahead on every device but "fake"; FAKE_VIEW_DEVICE=fake-gpu makes it do so
        self.device = os.environ.get("FAKE_VIEW_DEVICE", "fake")
        self.faces = None
        self.views = 0

    def set_topology(self, faces, uvs, parts, part_ids=None):
        self.faces = np.asarray(faces)
        self.part_ids = np.ones(len(self.faces), np.uint8) if part_ids is None else np.asarray(part_ids, np.uint8)

    def render(self, vertices, K, resolution, lighting=None, background=None, appearance=None,
               options=None, distractors=None, wear=None):
        self.views += 1
        if os.environ.get("FAKE_VIEW_CRASH_AT") and self.views == int(os.environ["FAKE_VIEW_CRASH_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)
        kind, _, at = os.environ.get("FAKE_VIEW_ERROR", "").partition(":")
        if kind and self.views == int(at):
            if kind == "asset":
                from generator.assets import AssetError
                raise AssetError("/fake/texture.png: does not decode (injected)")
            raise RuntimeError("injected failure in the renderer")
        t = time.perf_counter()
        time.sleep(float(os.environ.get("FAKE_VIEW_SLEEP", "0")))
        W, H = resolution
        depth, mask, ids = rasterize(np.asarray(vertices, np.float64), self.faces, np.asarray(K), W, H,
                                     self.part_ids)
        hand_cover = mask > 0
        scene_depth = depth
        for item in wear or []:            # what the arm wears, with its part id, in front or behind
            from generator.parts import PART_IDS
            for piece in item["pieces"]:
                f = np.asarray(piece["faces"])
                d, _, i = rasterize(np.asarray(piece["vertices"], np.float64), f, np.asarray(K), W, H,
                                    np.full(len(f), PART_IDS[item["part"]], np.uint8))
                nearer = d < scene_depth
                ids = np.where(nearer, i, ids)
                scene_depth = np.minimum(scene_depth, d)
                hand_cover &= ~nearer
        shade = np.where(mask > 0, 200, 40).astype(np.uint8)
        rgb = np.stack([shade, shade // 2, shade // 3], axis=-1)
        out = {"rgb": rgb, "mask": mask, "depth": depth, "alpha": hand_cover.astype(np.float32),
               "parts": ids, "parts_depth": scene_depth, "render_seconds": time.perf_counter() - t}
        if "normals" in (options or {}).get("passes", []):
            n = np.zeros((H, W, 3), np.float32)
            n[mask > 0, 2] = -1.0               # facing the camera: a stand-in, not real normals
            out["normals"] = n
        return out

    def close(self):
        pass
