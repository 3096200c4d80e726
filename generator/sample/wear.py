"""Drawing what the arm wears: each wear kind (sleeve, watch, bracelet) with its own probability,
then arranged so they do not overlap: accessories keep a few millimetres apart and the sleeve's
cuff starts proximal of them (a watch under a sleeve would never be seen)."""
from __future__ import annotations

import numpy as np

from generator.sample import kinds

CLEARANCE_M = 0.004


def _up(x: float) -> float:
    """Rounded up to 10 microns (stored values keep their clearances)."""
    return float(np.ceil(x * 1e5 - 1e-6) / 1e5)


def _extent(item: dict) -> float:
    return float(item.get("band_width_m", item.get("width_m", 0.0))) / 2


def draw_wear(section, rng: np.random.Generator) -> list[dict]:
    """The pair's wear (often none), in registration order, same in views a and b."""
    items = []
    for name in kinds.registered("wear"):
        spec = getattr(section, name)
        if rng.uniform() < spec.probability:
            items.append(spec.draw(rng, None))
    accessories = sorted((w for w in items if w["kind"] != "sleeve"), key=lambda w: w["at_m"])
    edge = 0.0
    for w in accessories:                      # slide proximally past the previous one
        w["at_m"] = _up(max(w["at_m"], edge + _extent(w)))
        edge = w["at_m"] + _extent(w) + CLEARANCE_M
    for w in items:
        if w["kind"] == "sleeve" and accessories:
            w["start_m"] = _up(max(w["start_m"], edge + 0.006))
    return items


def sleeved(batch, wear: list[dict]) -> np.ndarray:
    """The posed hand's vertices (V, 3), canonical frame, with the arm grown as wide as the widest
    sleeve in ``wear`` makes it (radially about the arm's axis, +5% for its folds)."""
    from generator.hand.base import PART_INDEX
    v = batch.vertices[0].astype(np.float64).copy()
    sleeves = [w for w in wear if w["kind"] == "sleeve"]
    if not sleeves:
        return v
    arm = np.asarray(batch.parts) == PART_INDEX["forearm"]
    centre = v[arm][:, [0, 2]].mean(axis=0)
    scale = max(w["looseness"] for w in sleeves) * 1.05
    grow = max(w["thickness_m"] for w in sleeves)
    r = v[arm][:, [0, 2]] - centre
    n = np.linalg.norm(r, axis=1, keepdims=True)
    v[np.ix_(arm, [0, 2])] = centre + r * scale + r / np.maximum(n, 1e-12) * grow
    return v
