"""Tiny but valid CycleHand shards for tests and benchmarks, in the documented format
(CONVENTIONS.md "Shard format"), without Blender.

Each view is a drawn stick hand: the 3D keypoints of ``trainer.skeleton.hand_keypoints`` under a
random pose, rotated and placed in front of a pinhole camera, projected with K and painted far to
near (palm polygon, bones as thick lines, joints as discs) with one colour per finger and a palm
colour that differs between palm and back. So the images carry real 2D and 3D evidence a model can
learn from, and view b is exactly view a's hand rotated about the wrist by R_ab.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.spatial.transform import Rotation

from generator import dataset as D
from generator.conventions import FINGER_KEYPOINTS, FINGERS, intrinsics, project, rng
from generator.parts import PART_IDS, SEGMENTS
from trainer.skeleton import bones, hand_keypoints, palm_normal

FINGER_COLOURS = [(230, 60, 60), (240, 200, 40), (60, 200, 80), (50, 120, 230), (200, 70, 220)]
PALM = (0, 1, 5, 9, 13, 17)


def _random_hand(g: np.random.Generator, side: str) -> np.ndarray:
    flex = g.uniform(-10, 95, size=(5, 1)) * g.uniform(0.6, 1.0, size=(5, 3))
    flex[0] = g.uniform(-10, 50, size=3)
    spread = g.uniform(-12, 12, size=5)
    return hand_keypoints(flex, spread, scale=g.uniform(0.85, 1.15), side=side)


def write_prior_poses(path: str | Path, n: int = 64, seed: int = 0) -> Path:
    """An .npz of n random stick-hand keypoints (21, 3), canonical frame: a quick stand-in for the
    pose sampler's poses (TrainConfig.prior_file) in tests."""
    g = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, keypoints=np.stack([_random_hand(g, "right") for _ in range(n)]))
    return path


def draw_view(X: np.ndarray, K: np.ndarray, size: tuple[int, int], side: str,
              g: np.random.Generator, tone: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3), mask uint8 (H, W) and part ids uint8 (H, W) (generator.parts: palm or
    dorsum, each finger's proximal, middle and distal segment) of keypoints X (21, 3), camera frame
    metres."""
    W, H = size
    uv = project(K, X)
    bg = g.uniform(20, 235, size=3)
    img = np.clip(bg + g.normal(0, 12, size=(H, W, 3)), 0, 255).astype(np.uint8)
    im, mask, parts = Image.fromarray(img), Image.new("L", (W, H), 0), Image.new("L", (W, H), 0)
    d, dm, dp = ImageDraw.Draw(im), ImageDraw.Draw(mask), ImageDraw.Draw(parts)
    px_per_m = K[0, 0] / X[:, 2].mean()
    width = max(2, int(round(0.012 * px_per_m)))
    facing = palm_normal(X, side)[2] < 0             # palm toward the camera
    skin = np.array([225, 180, 150]) * tone
    palm_col = tuple(int(c) for c in (skin if facing else skin * 0.6 + np.array([0, 0, 60])))
    items = [(X[list(PALM), 2].mean(), "palm", None)]
    for p, c in bones():
        if p == 0 and c != 1:
            continue                                 # palm polygon covers wrist->MCP bones
        items.append(((X[p, 2] + X[c, 2]) / 2, "bone", (p, c)))
    for far in sorted(items, key=lambda t: -t[0]):   # painter's algorithm: far first
        if far[1] == "palm":
            poly = [tuple(uv[i]) for i in PALM]
            d.polygon(poly, fill=palm_col)
            dm.polygon(poly, fill=255)
            dp.polygon(poly, fill=PART_IDS["palm" if facing else "dorsum"])
            continue
        p, c = far[2]
        finger = (c - 1) // 4
        col = tuple(int(v) for v in np.array(FINGER_COLOURS[finger]) * (0.55 + 0.45 * (c % 4 == 0)))
        j = (c - 1) % 4                              # 0: wrist -> thumb CMC, in the palm
        pid = PART_IDS["palm"] if j == 0 else PART_IDS[f"{FINGERS[finger]}_{SEGMENTS[j - 1]}"]
        line = [tuple(uv[p]), tuple(uv[c])]
        d.line(line, fill=col, width=width)
        dm.line(line, fill=255, width=width)
        dp.line(line, fill=pid, width=width)
        r = width * 0.6
        for q in (p, c):
            box = [uv[q, 0] - r, uv[q, 1] - r, uv[q, 0] + r, uv[q, 1] + r]
            d.ellipse(box, fill=col)
            dm.ellipse(box, fill=255)
            dp.ellipse(box, fill=pid)
    return np.asarray(im), np.asarray(mask), np.asarray(parts)


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def make_pair(seed: int, index: int, resolution: int = 128, max_angle_deg: float = 120.0):
    """One cyclic pair as webdataset members (dict name-suffix -> bytes)."""
    g = rng(seed, index, "fixture")
    side = "right" if g.random() < 0.7 else "left"
    can = _random_hand(g, side)
    K = intrinsics(1.3 * resolution, resolution, resolution)
    R_a = Rotation.random(random_state=g.integers(2**31)).as_matrix()
    axis = g.normal(size=3)
    R_ab = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(g.uniform(20, max_angle_deg))).as_matrix()
    depth = g.uniform(0.45, 0.6)
    wrist = np.array([g.uniform(-0.03, 0.03), g.uniform(-0.03, 0.03), depth])
    tone = g.uniform(0.45, 1.05)
    Xa = can @ R_a.T + wrist                          # canonical wrist is the origin
    Xb = (Xa - Xa[0]) @ R_ab.T + Xa[0]
    members, ann = {}, {"R_ab": R_ab.tolist(), "seed": int(seed), "index": int(index),
                        "hand": {"side": side, "shape": {}, "pose": {}, "model": "fixture"},
                        "appearance": {"texture": "drawn", "skin_tone": int(round(10 - 8 * (tone - 0.45) / 0.6)),
                                       "hdri": None, "hdri_rotation": 0.0, "background": "noise"}}
    for view, X in (("a", Xa), ("b", Xb)):
        rgb, mask, parts = draw_view(X, K, (resolution, resolution), side, g, tone)
        ys, xs = np.nonzero(mask)
        uv = project(K, X)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= resolution - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= resolution - 1)
        ann[view] = {"K": K.tolist(), "resolution": [resolution, resolution],
                     "keypoints_3d": X.tolist(), "keypoints_2d": uv.tolist(),
                     "visible": inside.tolist(),
                     "bbox": [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]}
        members[D.image_member(view)] = _png(rgb)
        members[D.member(view, D.MASK)] = _png(mask)
        members[D.member(view, D.PARTS)] = _png(parts)
        members[D.member(view, D.VERTS)] = D.encode_npy(X.astype(np.float32))  # the fixture's "mesh" is its keypoints
    ann["job_fingerprint"] = f"fixture-{seed}-{resolution}-{max_angle_deg:g}"
    members[D.JSON] = D.encode_json(ann)
    return members


def write_fixture_shards(out: str | Path, pairs: int = 16, per_shard: int = 8, seed: int = 0,
                         resolution: int = 128, manifest: bool = True, max_angle_deg: float = 120.0) -> Path:
    """Write ``OUT/shard-%06d.tar`` + ``OUT/manifest.json`` holding ``pairs`` cyclic pairs, with
    the same writer and manifest as `cyclehand-gen render` (generator.dataset)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = f"fixture-{seed}-{resolution}-{max_angle_deg:g}"
    m = D.Manifest(shards=[], job={"name": "fixture", "seed": seed}, job_fingerprint=fingerprint,
                   shard_size=per_shard, pairs_requested=pairs)
    for spec in D.plan_shards(pairs, per_shard):
        with D.ShardWriter(out, spec, fingerprint, record=False) as w:
            for i in range(spec["first"], spec["first"] + spec["count"]):
                w.write({"__key__": D.sample_key(i), **make_pair(seed, i, resolution, max_angle_deg)})
            m.shards.append(w.commit())
    if manifest:
        D.write_manifest(out, m)
    return out
