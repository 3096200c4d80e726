"""Where a real-photo hand landmarker puts each joint relative to our keypoints, in the hand frame.

    .venv/bin/python benchmarks/keypoint_offsets.py SHARD_DIR [--mp-python .venv-realism/bin/python]

Runs MediaPipe Hands 0.10.14 (legacy `solutions.hands`, static images, one hand, detection
confidence 0.3; its own environment, which pins numpy<2) on the easy views of a render directory
(palm or back within 45 deg of the line of sight, all keypoints in frame). For each detected
hand, the 2D offset landmark - label of every joint is expressed in the hand's own frame: the
image offset is solved for a displacement along the radial (x) and distal (y, wrist -> middle
MCP) axes of the hand at that joint (least squares through the projection's Jacobian). Prints
the mean offset per joint in mm and in units of the hand size (longer side of the 2D keypoint
box), so a systematic convention difference (e.g. a wrist placed more distally) shows as a
consistent direction. MediaPipe assumes a mirrored (selfie) image: our right hands should come
back labelled "Left"; the agreement is printed.

Then, per joint, the offset along the joint's own bone (parent -> joint; for a fingertip the distal
segment, which the hand's distal axis misses when a finger curls), median over the views where
that bone is not foreshortened; and what-ifs: PCK@0.2 (generator.audit.metrics, the realism
audit's measure) with our MCPs, or our fingertips, moved along their bones by the given
millimetres, MediaPipe's landmarks fixed. They say whether a keypoint convention moves the
agreement figure before anyone moves a joint (`--what-if-mm`, default 9: about the offsets seen).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from generator.audit.cli import iter_views, realism_python, run_landmarker
from generator.audit.metrics import mediapipe_to_pixels, pck
from generator.conventions import KEYPOINT_NAMES, KEYPOINT_PARENTS, project, view_vectors

def easy_views(shard_dir: Path):
    """(name, RGB image, camera-frame keypoints, K, side, visible flags) of every easy view of a
    render directory's shards (the audit's reader and definition)."""
    for ann, view, rgb, _ in iter_views(shard_dir, easy_only=True):
        v = ann[view]
        kp = np.asarray(v["keypoints_3d"])
        vis = np.asarray(v.get("visible", [True] * len(kp)), bool)
        yield f"{ann['index']}.{view}", rgb, kp, np.asarray(v["K"]), ann["hand"]["side"], vis


def projection_jacobian(X: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(2, 3) pixels per metre of a camera-frame point X's projection (square pixels, no skew)."""
    fx, fy, z = K[0, 0], K[1, 1], X[2]
    return np.array([[fx / z, 0, -fx * X[0] / z ** 2], [0, fy / z, -fy * X[1] / z ** 2]])


def hand_frame_offsets(kp: np.ndarray, K: np.ndarray, uv_mp: np.ndarray) -> np.ndarray:
    """(21, 2) offsets (radial, distal) in metres whose projection best explains uv_mp - uv."""
    n, y, _ = view_vectors(kp)                                            # palm normal, distal
    x = np.cross(y, n)                                                    # radial, either side
    uv = project(K, kp)
    out = np.empty((len(kp), 2))
    for k, X in enumerate(kp):
        basis = projection_jacobian(X, K) @ np.stack([x, y], axis=1)      # (2, 2) px per metre
        out[k] = np.linalg.lstsq(basis, uv_mp[k] - uv[k], rcond=None)[0]
    return out


MCPS, TIPS = (5, 9, 13, 17), (4, 8, 12, 16, 20)


def along_bone_offsets(kp: np.ndarray, K: np.ndarray, uv_mp: np.ndarray) -> np.ndarray:
    """(21,) offset (metres) of each landmark along its joint's bone (parent -> joint), solved
    with the offset across the bone in the hand's plane; NaN for the wrist and where the bone is
    too foreshortened in the image to tell along from across."""
    n, _, _ = view_vectors(kp)
    uv = project(K, kp)
    out = np.full(len(kp), np.nan)
    for k in range(1, len(kp)):
        d = kp[k] - kp[KEYPOINT_PARENTS[k]]
        d /= np.linalg.norm(d)
        across = np.cross(d, n)
        across /= np.linalg.norm(across)
        basis = projection_jacobian(kp[k], K) @ np.stack([d, across], axis=1)
        cols = np.linalg.norm(basis, axis=0)
        if abs(np.linalg.det(basis)) < 0.3 * cols[0] * cols[1]:
            continue                                      # the bone points too near the camera
        out[k] = np.linalg.lstsq(basis, uv_mp[k] - uv[k], rcond=None)[0][0]
    return out


def moved_along_bones(kp: np.ndarray, joints, mm: float) -> np.ndarray:
    """Keypoints with ``joints`` moved ``mm`` along their bones (negative: proximal)."""
    out = kp.copy()
    for k in joints:
        d = kp[k] - kp[KEYPOINT_PARENTS[k]]
        out[k] = kp[k] + d / np.linalg.norm(d) * mm / 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", type=Path)
    ap.add_argument("--mp-python", default=None,
                    help="the realism environment's Python (default: $CYCLEHAND_REALISM_PYTHON, .venv-realism)")
    ap.add_argument("--what-if-mm", type=float, default=9.0,
                    help="how far the what-ifs move our MCPs / fingertips proximally along their bones")
    args = ap.parse_args()
    views = list(easy_views(args.shards))
    if not views:
        sys.exit(f"no easy views in {args.shards}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, rgb, *_ in views:
            p = Path(tmp) / f"{name}.png"
            Image.fromarray(rgb).save(p)
            paths.append(str(p))
        found = run_landmarker(paths, realism_python(args.mp_python), Path(tmp))
    offsets, sizes, mirrored, along, detected, visible = [], [], [], [], [], []
    for (name, rgb, kp, K, side, vis), det in zip(views, found):
        if det is None:
            continue
        uv_mp = mediapipe_to_pixels(det["landmarks"], rgb.shape[1], rgb.shape[0])
        detected.append((kp, K, uv_mp))
        visible.append(vis)
        along.append(along_bone_offsets(kp, K, uv_mp))
        uv = project(K, kp)
        sizes.append((uv.max(0) - uv.min(0)).max())
        off = hand_frame_offsets(kp, K, uv_mp)          # the palm normal flips with the side,
        offsets.append(off)                             # so +x is radial for either hand
        mirrored.append(det["handedness"].lower() != side)
        px = np.linalg.norm(uv_mp - uv, axis=1) / sizes[-1]
        offsets[-1] = np.concatenate([off, px[:, None]], axis=1)
    off = np.array(offsets)                                               # (N, 21, 3)
    print(f"{len(views)} easy views, MediaPipe found {len(off)} ({len(off) / len(views):.0%}); "
          f"handedness reported mirrored (as expected) on {np.mean(mirrored):.0%}")
    print(f"hand size (longer side of the keypoint box): median {np.median(sizes):.0f} px")
    along = np.array(along) * 1000                                      # (N, 21) mm
    print(f"{'joint':<12} {'radial mm':>10} {'distal mm':>10} {'|2D|/size':>10}   (mean +- sd over views)"
          f"   along its bone, mm (median, views)")
    for k, name in enumerate(KEYPOINT_NAMES):
        r, d, s = off[:, k, 0] * 1000, off[:, k, 1] * 1000, off[:, k, 2]
        a = along[:, k][np.isfinite(along[:, k])]
        bone = f"{np.median(a):>6.1f} ({len(a)})" if len(a) else "     -"
        print(f"{name:<12} {r.mean():>5.1f}+-{r.std():<4.1f} {d.mean():>5.1f}+-{d.std():<4.1f} "
              f"{s.mean():>6.3f}   {bone}")
    # a hidden joint (our `visible` flag: behind the hand, a finger or a distractor) is the
    # landmarker's guess: its offsets apart from the visible ones'
    vis = np.array(visible)                                               # (N, 21)
    ok = off[:, :, 2] <= 0.2
    print("by our visibility flag: distal offset, mm (mean) and PCK@0.2, visible | hidden (views)")
    for k, name in enumerate(KEYPOINT_NAMES):
        cols = []
        for m in (vis[:, k], ~vis[:, k]):
            cols.append(f"{off[m, k, 1].mean() * 1000:>6.1f} {ok[m, k].mean():.2f} ({m.sum():>3})" if m.any()
                        else f"{'-':>6} {'-':>4} (  0)")
        print(f"  {name:<12} {cols[0]}   | {cols[1]}")
    mm = -abs(args.what_if_mm)
    print(f"PCK@0.2 on these {len(detected)} views (MediaPipe's landmarks fixed, our labels moved):")
    for label, joints in (("our labels", ()), (f"MCPs {mm:+.0f} mm toward the wrist", MCPS),
                          (f"fingertips {mm:+.0f} mm along the distal segment", TIPS)):
        hits = np.array([pck(uv_mp, project(K, moved_along_bones(kp, joints, mm))) for kp, K, uv_mp in detected])
        print(f"  {label:<44} all {hits.mean():.3f}   MCPs {hits[:, MCPS].mean():.3f}   "
              f"fingertips {hits[:, TIPS].mean():.3f}")


if __name__ == "__main__":
    main()
