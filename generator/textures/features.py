"""Anatomical skin features evaluated per texel from the baked 3D surface (so they are continuous
across UV seams): palmar/dorsal weight, nails, knuckle wrinkles, palmar and digital flexion
creases, fingerprint ridges, pores, micro-relief, and a bank of solid noise fields.

Heights are in metres (a groove is negative); masks are in [0, 1]. Everything here depends on
the hand geometry and resolution only; per-individual variation is applied in ``builder``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from generator.conventions import FINGER_KEYPOINTS, FINGERS
from generator.hand.base import PART_INDEX

from .anatomy import HandAnatomy, palmar_crease_curves
from .noise import dots, fbm, value_noise
from .uv_bake import UVBake

NOISE_SCALES_M = (0.0015, 0.005, 0.015)   # mottling feature sizes
NOISE_BANK = 3                            # independent fields per scale (mixed per individual)
FOREARM_VENTRAL = 0.2                     # share of the palm's colour kept on the inner forearm
FOREARM_FADE_M = 0.03                     # from the wrist crease (canonical y = 0) into the arm


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _subsample_factor(feature_m: float, texel_mm: float) -> int:
    """Largest power of two keeping >= 6 samples per feature size."""
    f = 1
    while f < 8 and feature_m * 1000 / (2 * f * texel_mm) >= 6:
        f *= 2
    return f


def lowres_field(bake: UVBake, fn, factor: int) -> np.ndarray:
    """Evaluate a smooth solid field on every ``factor``-th texel of the (padded) position map and
    upsample bilinearly: exact enough for features many texels wide, ``factor``^2 times cheaper."""
    if factor <= 1:
        return np.asarray(fn(bake.position[bake.mask]), np.float32)
    from scipy import ndimage
    pos = bake.position[factor // 2::factor, factor // 2::factor]
    low = np.asarray(fn(pos.reshape(-1, 3)), np.float32).reshape(pos.shape[:2])
    H = bake.resolution
    # sample centres of the coarse grid sit at factor*i + factor//2 in fine texels
    ys = (np.arange(H) - factor // 2) / factor
    grid = np.meshgrid(ys, ys, indexing="ij")
    rows, cols = np.nonzero(bake.mask)
    return ndimage.map_coordinates(low, [grid[0][rows, cols], grid[1][rows, cols]], order=1, mode="nearest")


@dataclasses.dataclass
class SkinFields:
    """Per-texel fields over the island texels (flat arrays of length N = bake.mask.sum())."""

    texel_mm: float
    P: np.ndarray              # (N, 3) position
    Nrm: np.ndarray            # (N, 3) normal
    part: np.ndarray           # (N,) dominant part index
    finger: np.ndarray         # (N,) 0..4 or -1
    palmar: np.ndarray         # palmar weight (palm, finger pads) vs dorsal
    nail: np.ndarray           # nail coverage (part weight)
    nail_s: np.ndarray         # along the nail, 0 at the proximal fold, 1 at the tip
    nail_t: np.ndarray         # across the nail, -1 .. 1
    cuticle: np.ndarray        # skin band at the proximal nail fold
    tip: np.ndarray            # fingertip proximity (redness)
    knuckle: np.ndarray        # dorsal knuckle envelope (pigment, redness)
    h_knuckle: np.ndarray      # knuckle wrinkle grooves
    crease: np.ndarray         # palmar + digital flexion crease grooves, 0..1
    h_crease: np.ndarray
    h_ridges: np.ndarray       # fingerprint (papillary) ridges on the pads
    pores: np.ndarray          # 0..1 pore coverage
    h_micro: np.ndarray        # micro-relief (cross-hatched fine wrinkles)
    eminence: np.ndarray       # thenar / hypothenar pads (palm redness)
    dorsum_hand: np.ndarray    # back of the hand proper (veins live here)
    noise: dict                # scale -> (NOISE_BANK, N) fields in [-1, 1]


def compute_fields(bake: UVBake, parts: np.ndarray, a: HandAnatomy, progress=None) -> SkinFields:
    m = bake.mask
    P = bake.position[m].astype(np.float64)
    Nrm = bake.normal[m].astype(np.float64)
    N = len(P)
    texel_mm = float(np.median(bake.metres_per_uv[m]) / bake.resolution * 1000)
    step = progress or (lambda msg: None)

    corner = bake.faces[np.where(bake.face >= 0, bake.face, 0)][m]          # (N, 3)
    dom = corner[np.arange(N), np.argmax(bake.bary[m], axis=1)]
    part = np.asarray(parts)[dom]
    finger = a.vertex_finger[dom]
    nail_w = bake.interpolate((np.asarray(parts) == PART_INDEX["nail"]).astype(np.float32))[m]
    dorsal = bake.interpolate(a.vertex_dorsal)[m].astype(np.float64)
    dorsal /= np.maximum(np.linalg.norm(dorsal, axis=1, keepdims=True), 1e-9)
    cosd = (Nrm * dorsal).sum(1)
    palmar = smoothstep(-0.15, 0.35, -cosd)
    # Past the wrist crease the ventral side is forearm, not palm: palmar skin owes its light colour
    # to its thick stratum corneum and few active melanocytes, not to shade, while the inner
    # forearm is constitutive (sun-protected) skin, only a little lighter than the back of the
    # hand. So the palmar weight fades to FOREARM_VENTRAL over the first FOREARM_FADE_M of the arm
    # (with full weight an MST 10 arm showed a palm-coloured underside).
    palmar *= FOREARM_VENTRAL + (1 - FOREARM_VENTRAL) * smoothstep(-FOREARM_FADE_M, 0.0, P[:, 1])

    # --- nails: (s, t) in each finger's nail frame ------------------------------------------
    step("nails")
    nail_s = np.full(N, -9.0); nail_t = np.full(N, 9.0)
    for nl in a.nails:
        sel = finger == nl.finger
        d = P[sel] - nl.tip
        nail_s[sel] = ((d @ nl.axis) - nl.s0) / nl.length
        nail_t[sel] = ((d @ nl.lateral) - nl.centre_lat) / nl.half_width
    dorsal_side = smoothstep(0.2, 0.6, cosd)
    cuticle = (smoothstep(0.02, 0.25, nail_w) * (1 - smoothstep(0.5, 0.9, nail_w))
               * smoothstep(0.3, -0.05, nail_s) * smoothstep(1.3, 0.8, np.abs(nail_t)) * dorsal_side)

    # --- fingertips ------------------------------------------------------------------------
    tips = a.keypoints[[FINGER_KEYPOINTS[f][-1] for f in FINGERS]]
    tip_d = cKDTree(tips).query(P)[0]
    tip = np.exp(-(tip_d / 0.009) ** 2)

    # --- knuckles: dorsal wrinkles across the finger axis over MCP, PIP, DIP (thumb MCP, IP) ---
    step("knuckles")
    knuckle = np.zeros(N); h_knuckle = np.zeros(N)
    warp = value_noise(P, 0.003, seed=11) * 0.35
    for fi, f in enumerate(FINGERS):
        k = FINGER_KEYPOINTS[f]
        joints = [(k[1], k[0], k[2], 5.5, 0.2), (k[2], k[1], k[3], 3.5, 1.0)] if f == "thumb" else \
                 [(k[0], 0, k[1], 6.0, 0.35), (k[1], k[0], k[2], 4.5, 1.0), (k[2], k[1], k[3], 3.0, 0.7)]
        for j, pj, cj, sig_mm, depth in joints:
            J = a.keypoints[j]
            axis = a.keypoints[cj] - a.keypoints[pj]
            axis /= np.linalg.norm(axis)
            d = P - J
            ax = d @ axis
            radial = d - np.outer(ax, axis)
            near = (np.abs(ax) < 3 * sig_mm / 1000) & (np.linalg.norm(radial, axis=1) < 0.025)
            if not near.any():
                continue
            dn = dorsal[near]
            lat = np.linalg.norm(radial[near] - (radial[near] * dn).sum(1, keepdims=True) * dn, axis=1)
            env = (np.exp(-(ax[near] / (sig_mm / 1000)) ** 2) * np.exp(-(lat / 0.007) ** 2)
                   * dorsal_side[near])
            knuckle[near] = np.maximum(knuckle[near], env * min(1.0, depth + 0.2))  # MCPs fainter
            # transverse wrinkle lines, slightly bowed, ~1.2 mm apart, noise-jittered, fading
            # out laterally at random lengths (so they read as lines, not rings)
            phase = (ax[near] - 6.0 * lat ** 2) / 0.0012 + warp[near]
            groove = np.maximum(np.cos(2 * np.pi * phase), 0.0) ** 8
            wrinkle_env = (np.exp(-(ax[near] / (1.3 * sig_mm / 1000)) ** 4)
                           * smoothstep(0.011, 0.004, lat + 0.003 * warp[near]) * dorsal_side[near])
            h_knuckle[near] -= depth * 110e-6 * wrinkle_env * groove

    # --- palmar flexion creases (2D distance on the flat palm) and digital creases ------------
    step("creases")
    curves = palmar_crease_curves(a)
    crease = np.zeros(N)
    in_palm = np.isin(part, [PART_INDEX["palm"], PART_INDEX["thumb_proximal"], PART_INDEX["dorsum"]]) \
        & (palmar > 0.3)
    idx = np.nonzero(in_palm)[0]
    jitter = value_noise(P[idx], 0.004, seed=23) * 0.00025
    for name, curve in curves.items():
        dist, nearest = cKDTree(curve[:, :2]).query(P[idx, :2], distance_upper_bound=0.004)
        dist = np.minimum(dist, 1.0) + jitter
        width = 0.00045 if name != "thenar" else 0.0005
        # fade the ends so creases taper out
        nearest = np.minimum(nearest, len(curve) - 1)
        tpar = nearest / (len(curve) - 1)
        taper = smoothstep(0.0, 0.12, tpar) * smoothstep(1.0, 0.85, tpar)
        crease[idx] = np.maximum(crease[idx], np.exp(-(dist / width) ** 2) * taper * palmar[idx])
    # digital flexion creases: perpendicular to the finger at the joints, on the palmar side
    for fi, f in enumerate(FINGERS):
        k = FINGER_KEYPOINTS[f]
        kp = a.keypoints
        lines = [(kp[k[1]], kp[k[2]] - kp[k[0]], (0.0,)), (kp[k[2]], kp[k[3]] - kp[k[1]], (0.0,))] \
            if f == "thumb" else \
            [(kp[k[0]] + 0.42 * (kp[k[1]] - kp[k[0]]), kp[k[1]] - kp[k[0]], (0.0,)),
             (kp[k[1]], kp[k[2]] - kp[k[0]], (-0.0009, 0.0009)),
             (kp[k[2]], kp[k[3]] - kp[k[1]], (0.0,))]
        sel = np.nonzero((finger == fi) | ((part == PART_INDEX["palm"]) & (fi > 0)))[0]
        for C, ax, offsets in lines:
            ax = ax / np.linalg.norm(ax)
            d = (P[sel] - C) @ ax
            r = np.linalg.norm(P[sel] - C - np.outer(d, ax), axis=1)
            for o in offsets:
                g = np.exp(-((d - o) / 0.00035) ** 2) * palmar[sel] * (r < 0.013)
                crease[sel] = np.maximum(crease[sel], g)
    h_crease = -150e-6 * crease

    # --- fingerprint ridges on the distal pads (whorl/loop around a core) --------------------
    step("ridges")
    h_ridges = np.zeros(N)
    period = 0.00048
    band = smoothstep(2.0, 3.2, period * 1000 / texel_mm)     # fade out where a texel can't hold them
    if band > 0:
        for fi, f in enumerate(FINGERS):
            sel = np.nonzero((finger == fi) & np.isin(part, [PART_INDEX[f"{f}_distal"], PART_INDEX["nail"]])
                             & (palmar > 0.05))[0]
            if not len(sel):
                continue
            start, axis = a.segment_axis(fi, 2)
            seg_len = np.linalg.norm(a.keypoints[FINGER_KEYPOINTS[f][3]] - start)
            core = start + axis * 0.55 * seg_len
            d = P[sel] - core
            u = d @ axis
            lat_dir = np.cross(axis, [0, 0, 1.0]); lat_dir /= max(np.linalg.norm(lat_dir), 1e-9)
            v = d @ lat_dir
            r = np.sqrt((1.25 * u) ** 2 + v ** 2 + (0.4 * np.maximum(u, 0)) ** 2)
            phase = r / period + 1.5 * value_noise(P[sel], 0.002, seed=31 + fi)
            h_ridges[sel] = 25e-6 * band * palmar[sel] * (np.cos(2 * np.pi * phase) * 0.5 + 0.5)

    # papillary ridges over the rest of the palmar skin: roughly transverse, flowing lines
    pal = np.nonzero((palmar > 0.3) & (h_ridges == 0) & (part != PART_INDEX["forearm"]))[0]
    if band > 0 and len(pal):
        flow = 0.0015 * value_noise(P[pal], 0.006, seed=37)
        phase = (P[pal] @ a.x_radial + flow) / period
        h_ridges[pal] = 10e-6 * band * smoothstep(0.3, 0.7, palmar[pal]) * (np.cos(2 * np.pi * phase) * 0.5 + 0.5)

    # --- pores and micro-relief ------------------------------------------------------------
    step("pores")
    pores = dots(P, 0.0009, 0.00011, 0.55, seed=41) * (1 - palmar) * (1 - smoothstep(0.2, 0.5, nail_w))
    step("micro-relief")
    micro = np.zeros(N)
    dirs = np.array([[1, 0.35, 0.2], [-0.6, 1, 0.1], [0.3, -0.4, 1], [0.8, 0.8, -0.5]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    w = value_noise(P, 0.002, seed=53) * 0.6
    for i, dvec in enumerate(dirs):
        ph = (P @ dvec) / 0.0007 + w * (1 + i)
        micro -= np.abs(np.sin(np.pi * ph)) ** 0.3 * 0.25
    h_micro = 20e-6 * (micro - micro.mean()) * (1 - smoothstep(0.2, 0.5, nail_w))

    # --- palm eminences and dorsum-of-hand region -------------------------------------------
    kp = a.keypoints
    then = np.exp(-np.sum(((P - (0.5 * kp[1] + 0.3 * kp[0] + 0.2 * kp[9])) / [0.018, 0.022, 0.05]) ** 2, 1))
    hypo = np.exp(-np.sum(((P - (0.6 * kp[0] + 0.4 * kp[17] - 0.012 * a.x_radial)) / [0.015, 0.03, 0.05]) ** 2, 1))
    eminence = np.clip(then + hypo, 0, 1) * palmar
    dorsum_hand = (np.isin(part, [PART_INDEX["dorsum"], PART_INDEX["forearm"]]) * (1 - palmar)).astype(np.float64)

    step("noise bank")
    noise = {}
    for s in NOISE_SCALES_M:
        f = _subsample_factor(s, texel_mm)
        noise[s] = np.stack([lowres_field(bake, lambda q: fbm(q, s, octaves=2, seed=1000 * i + int(s * 1e5)), f)
                             for i in range(NOISE_BANK)])
    f32 = lambda x: np.asarray(x, np.float32)
    return SkinFields(texel_mm, f32(P), f32(Nrm), part.astype(np.int16), finger.astype(np.int8),
                      f32(palmar), f32(nail_w), f32(nail_s), f32(nail_t), f32(cuticle), f32(tip),
                      f32(knuckle), f32(h_knuckle), f32(crease), f32(h_crease), f32(h_ridges),
                      f32(pores), f32(h_micro), f32(eminence), f32(dorsum_hand), noise)
