"""Where the library poses put the thumb, solved on the mesh rather than guessed in angles.

The thumb's joint angles say little by themselves (its CMC frame starts from anny's rest thumb,
which already stands 41 deg out of the palm), so the library's thumbs are solved here from what
each grasp or gesture means: a pinch brings the thumb's distal pad to the index's, a fist lays the
thumb over the index's middle phalanx, a flat hand keeps the thumb tip near the palm's plane.
`THUMB_TARGETS` says it per pose; `fit_thumb` solves the thumb's CMC flexion and abduction and
its MCP and IP flexion (least squares within the joint limits, the thumb's collisions penalised,
a weak pull toward the start) on the default anny hand, the fingers as the library has them.

    python -m generator.hand.grasp_fit        # prints each pose's solved thumb, for poses.py
"""
from __future__ import annotations

import numpy as np

from generator.hand.base import JOINTS, PART_INDEX
from generator.hand.limits import LOWER, UPPER

# pose -> targets: ("touch", part, gap_mm) = the thumb's distal segment `gap_mm` from that part
# (1 mm: touching; larger: an object between them); ("height", mm) = the thumb tip's palmar height
# above the palm's plane (wrist, index and little MCPs), canonical frame.
THUMB_TARGETS: dict[str, list[tuple]] = {
    "pinch": [("touch", "index_distal", 1.0)],                          # Feix: palmar pinch
    "ok": [("touch", "index_distal", 1.0)],
    "tripod": [("touch", "index_distal", 1.0), ("touch", "middle_distal", 1.0)],
    "key_pinch": [("touch", "index_middle", 1.0)],                      # Feix: lateral pinch
    "fist": [("touch", "index_middle", 1.0)],                           # the thumb over the index
    "point": [("touch", "middle_middle", 1.0)],                         # the thumb holds the middle
    "victory": [("touch", "ring_middle", 1.0)],                         # ... and here the ring
    "cylinder": [("touch", "index_distal", 20.0)],                      # a 5-6 cm cylinder between
    "sphere": [("touch", "index_distal", 45.0)],                        # a 7-8 cm ball between
    "relaxed": [("touch", "index_middle", 8.0)],                        # resting beside the index
    "hook": [("touch", "index_proximal", 8.0)],
    "flat": [("height", 10.0)],                                         # in the palm's plane
    "spread": [("height", 15.0)],
    "thumbs_up": [("height", 25.0)],
    "call_me": [("height", 25.0)],
}
# the solved angles, as (joint row, angle column) of a pose: CMC flexion, CMC abduction, MCP
# flexion, IP flexion
THUMB_ANGLES = [(JOINTS.index(j), k) for j, k in (("thumb_cmc", 0), ("thumb_cmc", 1), ("thumb_mcp", 0),
                                                   ("thumb_ip", 0))]
PRIOR_DEG = 30.0
PENETRATION_WEIGHT = 3.0


def thumb_tip_height(hand, vertices: np.ndarray, keypoints: np.ndarray) -> float:
    """Palmar height (m) of the thumb tip above the plane through the wrist and the index and
    little MCPs (right hand, canonical frame)."""
    n = np.cross(keypoints[5] - keypoints[0], keypoints[17] - keypoints[0])
    return float((vertices[hand.tip_vertices[0]] - keypoints[0]) @ (n / np.linalg.norm(n)))


def fit_thumb(hand, pose: np.ndarray, targets: list[tuple], meter=None) -> np.ndarray:
    """`pose` with its thumb solved for `targets` (see THUMB_TARGETS) on hand's default shape
    (`meter`: the hand's PenetrationMeter, built here when not given)."""
    from scipy.optimize import least_squares

    from generator.hand.penetration import PenetrationMeter

    lo = np.array([LOWER[c] for c in THUMB_ANGLES])
    hi = np.array([UPPER[c] for c in THUMB_ANGLES])
    x0 = np.clip([pose[c] for c in THUMB_ANGLES], lo, hi)
    thumb = hand.parts == PART_INDEX["thumb_distal"]
    meter = meter or PenetrationMeter.for_model(hand)

    def posed(x):
        p = np.array(pose, dtype=np.float64)
        for c, v in zip(THUMB_ANGLES, x):
            p[c] = v
        return p

    def residuals(x):
        b = hand.forward(posed(x)[None])
        v, kp = b.vertices[0].astype(np.float64), b.keypoints[0].astype(np.float64)
        r = []
        for t in targets:
            if t[0] == "touch":
                other = v[hand.parts == PART_INDEX[t[1]]]
                gap = np.linalg.norm(v[thumb][:, None] - other[None], axis=-1).min()
                r.append(gap * 1000 - t[2])
            else:
                r.append(thumb_tip_height(hand, v, kp) * 1000 - t[1])
        # touching is not passing through: the thumb's own collisions (the sampler's meter), in mm
        r.append(PENETRATION_WEIGHT * 1000 * float(meter.measure(v[None], moving={"thumb"}).depth[0]))
        return np.concatenate([r, (x - x0) / PRIOR_DEG])

    fit = least_squares(residuals, x0, bounds=(lo - 1e-9, hi + 1e-9), diff_step=1e-3)
    return posed(np.clip(fit.x, lo, hi))


def main() -> None:
    from generator.hand.anny_backend import AnnyHand
    from generator.hand.penetration import PenetrationMeter
    from generator.hand.poses import LIBRARY

    hand = AnnyHand()
    meter = PenetrationMeter.for_model(hand)
    for name, targets in THUMB_TARGETS.items():
        p = fit_thumb(hand, LIBRARY[name], targets, meter)
        cf, ca, mf, ipf = (p[c] for c in THUMB_ANGLES)
        print(f"{name:10s} thumb=(({cf:.0f}, {ca:.0f}), {mf:.0f}, {ipf:.0f})")


if __name__ == "__main__":
    main()
