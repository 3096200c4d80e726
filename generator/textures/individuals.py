"""Default variant list and per-individual parameters (a pure function of tone and seed)."""
from __future__ import annotations

import numpy as np

from generator.conventions import derive_seed, rng

from .features import NOISE_BANK, NOISE_SCALES_M
from .tones import MST_LEVELS, calibrated_dorsum, calibrated_palm, check_level

BASE_SEED = 20241123
DEFAULT_INDIVIDUALS = 3


def sample_individual(mst: int, seed: int) -> dict:
    """JSON-serialisable parameters of one individual of skin tone ``mst``."""
    mst = check_level(mst)
    r = rng(seed, 0, "skin-individual")
    d, p = calibrated_dorsum(mst), calibrated_palm(mst)
    light = (10 - mst) / 9.0                                    # 1 for MST 1, 0 for MST 10
    unit = lambda: (lambda v: (v / np.linalg.norm(v)).round(4).tolist())(r.normal(size=NOISE_BANK))
    mel = float(d.melanin * np.exp(r.normal(0, 0.08)))
    site = lambda q, melanin: {
        "melanin": round(melanin, 6),
        "eumelanin_ratio": round(float(np.clip(q.eumelanin_ratio + r.normal(0, 0.04), 0.4, 0.95)), 4),
        "blood": round(float(q.blood * r.uniform(0.8, 1.25)), 4),
        "oxygenation": round(float(r.uniform(0.7, 0.8)), 3),
        "carotene": round(float(q.carotene * r.uniform(0.8, 1.2)), 4),
        "epidermis_mm": round(float(q.epidermis_mm * r.uniform(0.8, 1.2)), 4),
    }
    dorsum = site(d, mel)
    # the palm keeps the calibrated palm/dorsum melanin ratio of the tone, per individual +-15 %
    palm = site(p, mel * p.melanin / d.melanin * float(r.uniform(0.85, 1.15)))
    return {
        "dorsum": dorsum,
        "palm": palm,
        "mottling": round(float(r.uniform(0.06, 0.14)), 3),        # ln-melanin std of the patches
        "freckles": round(float(r.uniform(0.0, 0.4) * light ** 2), 3),
        "knuckle_pigment": round(float(r.uniform(0.25, 0.55) * (1 - light) + 0.05), 3),
        "redness": round(float(r.uniform(0.7, 1.3)), 3),
        "vein_visibility": round(float(r.uniform(0.4, 1.0) * (0.35 + 0.65 * light)), 3),
        "wrinkle_depth": round(float(r.uniform(0.7, 1.4)), 3),
        "lunula": round(float(r.uniform(0.16, 0.3)), 3),
        "free_edge": round(float(r.uniform(0.0, 0.12)), 3),
        "noise_mix": {f"{s:g}": unit() for s in NOISE_SCALES_M},
        "vein_seed": int(r.integers(0, 2**31 - 1)),
    }


def default_variants(individuals: int = DEFAULT_INDIVIDUALS, tones=MST_LEVELS, base_seed: int = BASE_SEED):
    """[{"name", "mst", "seed", "params"}] for every tone x individual."""
    if individuals < 1 or individuals > 26:
        raise ValueError(f"individuals must be 1..26, got {individuals}")
    out = []
    for mst in tones:
        mst = check_level(mst)
        for k in range(individuals):
            seed = derive_seed(base_seed, mst * 100 + k, "texture")
            out.append({"name": f"mst{mst:02d}_{chr(97 + k)}", "mst": mst, "seed": seed,
                        "params": sample_individual(mst, seed)})
    return out
