"""One individual's maps from the shared feature fields: base colour (sRGB), tangent-space
normal (OpenGL, +Y up), roughness and subsurface weight.

Colour: the two-layer skin model is evaluated exactly for the individual's dorsum and palm; local
variation (melanin patches, freckles, knuckle pigment, redness, veins) is applied in optical
density space, -ln(RGB), which is close to linear in the chromophore amounts (Tsumura et al.
2003, "Image-based skin color and texture analysis/synthesis by extracting hemoglobin and
melanin information in the skin"), using the model's own derivatives at the dorsum and palm.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .anatomy import HandAnatomy, bezier
from .features import SkinFields, smoothstep
from .skin_optics import SkinParams, linear_to_srgb, mean_free_path_m, skin_linear_rgb
from .uv_bake import UVBake

KERATIN_RGB = np.array([0.80, 0.77, 0.72])        # nail plate / free edge (linear)


_SRGB_LUT_SIZE = 1 << 14
_SRGB_LUT = np.clip(np.round(linear_to_srgb((np.arange(_SRGB_LUT_SIZE) + 0.5) / _SRGB_LUT_SIZE) * 255), 0, 255
                    ).astype(np.uint8)


def encode_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] -> 8-bit sRGB through a 16k-entry table (exact to the 8-bit step)."""
    idx = np.clip(linear * _SRGB_LUT_SIZE, 0, _SRGB_LUT_SIZE - 1).astype(np.uint16)
    return _SRGB_LUT[idx]


def skin_sites(params: dict) -> tuple[SkinParams, SkinParams]:
    return SkinParams(**params["dorsum"]), SkinParams(**params["palm"])


def density_basis(site: SkinParams) -> dict[str, np.ndarray]:
    """ln linear-RGB at the site and its derivatives w.r.t. ln melanin, ln blood and veins."""
    ln = lambda q: np.log(np.maximum(skin_linear_rgb(q), 1e-5))
    h = 0.25
    return {
        "base": ln(site),
        "melanin": (ln(site.replace(melanin=site.melanin * np.exp(h)))
                    - ln(site.replace(melanin=site.melanin * np.exp(-h)))) / (2 * h),
        "blood": (ln(site.replace(blood=site.blood * np.exp(h)))
                  - ln(site.replace(blood=site.blood * np.exp(-h)))) / (2 * h),
        # a dorsal vein: more, and deoxygenated, blood under the skin
        "vein": ln(site.replace(blood=site.blood * 2.5, oxygenation=0.4)) - ln(site),
    }


def vein_field(F: SkinFields, a: HandAnatomy, seed: int) -> np.ndarray:
    """Dorsal metacarpal veins from the web spaces converging to the wrist (random per seed)."""
    r = np.random.default_rng(seed)
    kp, L, x, y = a.keypoints, a.palm_length, a.x_radial, a.y_distal
    webs = [0.5 * (kp[2] + kp[5]), 0.5 * (kp[5] + kp[9]), 0.5 * (kp[9] + kp[13]), 0.5 * (kp[13] + kp[17])]
    width = np.linalg.norm(kp[5] - kp[17])
    ends = [kp[0] + 0.30 * width * x - 0.5 * L * y, kp[0] - 0.35 * width * x - 0.5 * L * y]
    pts = []
    for i, w in enumerate(webs):
        start = w - r.uniform(0.08, 0.16) * L * y
        end = ends[0] if i < 2 else ends[1]
        mid = 0.5 * (start + end) + r.normal(0, 0.08) * width * x + r.normal(0, 0.05) * L * y
        c = bezier(start, mid, end, 300)
        c += np.outer(np.sin(np.linspace(0, r.uniform(3, 7), len(c)) + r.uniform(0, 6)), x) * 0.004
        pts.append(c)
    arch = bezier(webs[1] - 0.45 * L * y, 0.5 * (webs[1] + webs[3]) - 0.5 * L * y + r.normal(0, 0.04) * L * y,
                  webs[3] - 0.5 * L * y, 200)
    pts.append(arch)
    curve = np.concatenate(pts)
    out = np.zeros(len(F.P), np.float32)
    lo, hi = curve[:, :2].min(0) - 0.006, curve[:, :2].max(0) + 0.006
    sel = np.nonzero((F.dorsum_hand > 0.3) & np.all((F.P[:, :2] > lo) & (F.P[:, :2] < hi), axis=1))[0]
    if len(sel):
        dist = cKDTree(curve[:, :2]).query(F.P[sel, :2], distance_upper_bound=0.006)[0]
        out[sel] = np.exp(-(np.minimum(dist, 1.0) / 0.0017) ** 2) * F.dorsum_hand[sel]
    return out


def _mix(F: SkinFields, params: dict, scale: float) -> np.ndarray:
    w = np.asarray(params["noise_mix"][f"{scale:g}"], np.float32)
    return np.tensordot(w, F.noise[scale], axes=1)


def compose(bake: UVBake, F: SkinFields, a: HandAnatomy, params: dict) -> dict[str, np.ndarray]:
    """Maps of one individual: {"base_color": uint8 (H,W,3) sRGB, "normal": uint8 (H,W,3),
    "roughness": uint8 (H,W), "subsurface": uint8 (H,W)} and "subsurface_radius_m"."""
    dors, palm = skin_sites(params)
    bd, bp = density_basis(dors), density_basis(palm)
    w = F.palmar[:, None]
    f32 = lambda x: np.asarray(x, np.float32)[None]
    # blended per-texel basis: dorsum + palmar weight * (palm - dorsum)
    basis = {k: f32(bd[k]) + w * f32(bp[k] - bd[k]) for k in bd}
    scales = sorted(F.noise)

    wd = params["wrinkle_depth"]
    veins = vein_field(F, a, params["vein_seed"]) * params["vein_visibility"]
    freckles = 0.0
    if params["freckles"] > 0:
        from .noise import dots
        freckles = dots(F.P, 0.004, 0.0008, params["freckles"], seed=params["vein_seed"] % 99991) \
            * (1 - F.palmar)
    ln_mel = (params["mottling"] * (_mix(F, params, scales[1]) + 0.6 * _mix(F, params, scales[2]))
              * (1 - 0.6 * F.palmar)
              + 0.9 * freckles
              + params["knuckle_pigment"] * F.knuckle
              + 0.25 * params["knuckle_pigment"] * F.crease
              + 0.35 * F.cuticle)
    ln_blood = params["redness"] * (0.55 * F.tip + 0.45 * F.knuckle
                                    + 0.45 * F.eminence * (0.6 + 0.4 * _mix(F, params, scales[0]))) \
        + 0.12 * _mix(F, params, scales[1]) + 0.25 * F.crease
    lnrgb = basis["base"]
    lnrgb += np.float32(1) * ln_mel.astype(np.float32)[:, None] * basis["melanin"]
    lnrgb += ln_blood.astype(np.float32)[:, None] * basis["blood"]
    lnrgb += veins[:, None] * basis["vein"]
    skin = np.exp(lnrgb, out=lnrgb)
    skin *= (1 - 0.10 * F.pores)[:, None]
    # cavities: the floor of a flexion crease or knuckle wrinkle receives and returns less light
    # than the skin around it; at 256 px this darkening, not the normal map, keeps them visible
    cavity = 0.30 * F.crease + 0.22 * wd * np.clip(-F.h_knuckle / 110e-6, 0.0, 1.0)
    skin *= (1 - np.clip(cavity, 0.0, 0.45))[:, None]

    # nails: nail bed seen through a translucent keratin plate; lunula and free edge whiter where
    # the plate scatters more. The bed has the palm's few melanocytes (so nails are lighter than
    # the dorsum at every tone, but brown, not grey, on dark skin) and more blood (pink).
    bed = skin_linear_rgb(palm.replace(blood=0.06, carotene=0.0))
    lun = smoothstep(1.0, 0.8, np.hypot(F.nail_s / max(params["lunula"], 1e-3), F.nail_t * 0.9))
    edge = smoothstep(1.0 - params["free_edge"] - 0.04, 1.0 - params["free_edge"] + 0.02, F.nail_s) \
        if params["free_edge"] > 0 else np.zeros_like(F.nail_s)
    opacity = np.clip(0.05 + 0.35 * lun + 0.75 * edge, 0, 1)[:, None]
    nm = smoothstep(0.45, 0.75, F.nail)
    rgb = skin
    on = np.nonzero(nm > 0)[0]          # nails are a few percent of the texels
    if len(on):
        op = opacity[on]
        nail_rgb = (1 - op) * bed[None].astype(np.float32) + op * KERATIN_RGB[None].astype(np.float32)
        rgb[on] = (1 - nm[on, None]) * skin[on] + nm[on, None] * nail_rgb

    # height (metres) -> tangent-space normal
    h = (wd * (F.h_knuckle + F.h_crease + F.h_micro) + F.h_ridges - 20e-6 * F.pores + 18e-6 * veins)
    h = (1 - nm) * h + nm * (2.5e-6 * np.cos(2 * np.pi * 7 * F.nail_t))   # nail: fine long ridges

    # roughness by region: dry, wrinkled knuckles and creases rougher; palms matte (no sebaceous
    # glands); fingertips and the back of the hand smoother (the skin material adds an oily coat
    # where roughness is low); nails glossy (below)
    rough = (0.46 + 0.08 * F.palmar - 0.05 * F.tip + 0.10 * F.crease + 0.08 * F.knuckle
             + 0.06 * F.pores + 0.10 * F.cuticle + 0.03 * _mix(F, params, scales[0]))
    rough = (1 - nm) * rough + nm * (0.16 + 0.06 * lun + 0.2 * edge)
    sss = (1 - nm) * 1.0 + nm * 0.35

    H = W = bake.resolution
    m = bake.mask

    def image(vals, ch=None):
        img = np.zeros((H, W) if ch is None else (H, W, ch), np.float32)
        img[m] = vals
        return bake.pad(img)

    hmap = image(h)
    dh_dc = np.zeros_like(hmap); dh_dr = np.zeros_like(hmap)
    dh_dc[:, 1:-1] = 0.5 * (hmap[:, 2:] - hmap[:, :-2])
    dh_dr[1:-1] = 0.5 * (hmap[2:] - hmap[:-2])
    mpu = bake.metres_per_uv
    su = dh_dc * W / np.maximum(mpu[..., 0], 1e-9)          # dh / d(surface distance along +u)
    sv = -dh_dr * H / np.maximum(mpu[..., 1], 1e-9)         # rows grow downward, v upward
    su = np.clip(su, -2.0, 2.0); sv = np.clip(sv, -2.0, 2.0)
    inv = 1.0 / np.sqrt(su * su + sv * sv + 1.0)
    normal = np.stack([-su * inv, -sv * inv, inv], -1)

    to8 = lambda x: np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    return {
        "base_color": encode_srgb8(image(rgb, 3)),
        "normal": to8(normal * 0.5 + 0.5),
        "roughness": to8(image(np.clip(rough, 0.05, 0.95))),
        "subsurface": to8(image(sss)),
        "subsurface_radius_m": [round(v, 6) for v in mean_free_path_m(dors)],
    }
