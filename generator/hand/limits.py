"""Per-joint anatomical limits, degrees, as (flexion, abduction, twist) ranges for each of JOINTS.

Conventions (generator.hand.base): flexion > 0 curls toward the palm (extension / hyper-
extension < 0); abduction > 0 is radial (toward the thumb); twist is axial rotation.

Sources (numbers are active ranges of motion of healthy adults):
[AAOS]  American Academy of Orthopaedic Surgeons, "Joint Motion: Method of Measuring and
        Recording" (1965); reprinted in Greene & Heckman, "The Clinical Measurement of Joint
        Motion", AAOS 1994. Finger MCP flexion 0-90, PIP 0-100, DIP 0-90 (extension 10);
        thumb MCP flexion 0-50, IP flexion 0-80 (hyperextension 20), CMC abduction 0-70,
        CMC flexion 15 / extension 20; wrist flexion 80, extension 70, radial deviation 20,
        ulnar deviation 30.
[LIN]   Lin, Wu & Huang, "Modeling the constraints of human hand motion", IEEE Workshop on Human
        Motion 2000: PIP 0-110, MCP abduction -15..15, DIP ~ 2/3 PIP (used by the sampler).
[HUME]  Hume et al., "Functional range of motion of the joints of the hand", J Hand Surg Am
        15(2):240-243, 1990: MCP hyperextension up to ~20-30 in daily use.
[ELS]   El-Shennawy et al., "Kinematics of the ring and small finger carpometacarpal joints",
        J Hand Surg Am 26(6), 2001: ring and little CMC flex a few degrees to ~10-20 (cupping);
        index and middle CMC are nearly rigid.
[KAP]   Kapandji, "The Physiology of the Joints", vol. 1: passive axial rotation of the finger
        MCP joints of roughly +-5-10 degrees; interphalangeal joints are hinges.
The thumb CMC is a saddle joint; in our frames its 'flexion' carries the thumb across the palm
(opposition arc) and its 'abduction' away from the index. Ranges there combine [AAOS] flexion /
extension (35 arc) and abduction (70) adapted to the model's axes; they are the least certain.
Abduction 0 is anny's rest thumb, which already stands 41 deg out of the palm's plane with the
first and second metacarpals 55 deg apart (measured on the keypoints: thumb CMC -> MCP against
wrist -> index MCP); -45 lays the thumb alongside the index (10-25 deg apart) and +15 opens the
first web to AAOS's 70 deg (70-76). The earlier +55 opened it to 110 deg, past any hand.
"""
from __future__ import annotations

import numpy as np

from generator.hand.base import JOINTS

# joint: ((flex_min, flex_max), (abd_min, abd_max), (twist_min, twist_max)), source tag
_FINGER_LIMITS = {
    # MCP: AAOS flexion 90; hyperextension 30 (HUME); abduction +-15 (LIN); twist +-8 (KAP)
    "mcp": (((-30.0, 90.0), (-15.0, 15.0), (-8.0, 8.0)), "AAOS, HUME, LIN, KAP"),
    # PIP: hinge, 0-110 (LIN; AAOS gives 100)
    "pip": (((0.0, 110.0), (0.0, 0.0), (0.0, 0.0)), "LIN, AAOS"),
    # DIP: hinge, extension 10, flexion 90 (AAOS)
    "dip": (((-10.0, 90.0), (0.0, 0.0), (0.0, 0.0)), "AAOS"),
}
LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    "wrist": ((-70.0, 80.0), (-30.0, 20.0), (0.0, 0.0)),          # AAOS; twist belongs to the forearm
    "thumb_cmc": ((-20.0, 45.0), (-45.0, 15.0), (-10.0, 10.0)),    # AAOS, adapted (see module doc)
    "thumb_mcp": ((-10.0, 50.0), (-10.0, 10.0), (-5.0, 5.0)),      # AAOS flexion 0-50
    "thumb_ip": ((-20.0, 80.0), (0.0, 0.0), (0.0, 0.0)),           # AAOS flexion 80, hyperext. 20
    "index_cmc": ((0.0, 3.0), (0.0, 0.0), (0.0, 0.0)),             # ELS: nearly rigid
    "middle_cmc": ((0.0, 3.0), (0.0, 0.0), (0.0, 0.0)),            # ELS: nearly rigid
    "ring_cmc": ((0.0, 10.0), (0.0, 0.0), (0.0, 0.0)),             # ELS
    "little_cmc": ((0.0, 15.0), (0.0, 0.0), (0.0, 0.0)),           # ELS
}
for _finger in ("index", "middle", "ring", "little"):
    for _joint in ("mcp", "pip", "dip"):
        LIMITS[f"{_finger}_{_joint}"] = _FINGER_LIMITS[_joint][0]

assert set(LIMITS) == set(JOINTS), set(JOINTS) ^ set(LIMITS)

# (J, 3) arrays of lower and upper bounds in JOINTS order
LOWER = np.array([[LIMITS[j][k][0] for k in range(3)] for j in JOINTS])
UPPER = np.array([[LIMITS[j][k][1] for k in range(3)] for j in JOINTS])


def clip_to_limits(pose: np.ndarray) -> np.ndarray:
    return np.clip(pose, LOWER, UPPER)


def within_limits(pose: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """(B,) bool: every angle of each pose inside its range."""
    pose = np.asarray(pose)
    return np.all((pose >= LOWER - tol) & (pose <= UPPER + tol), axis=(-2, -1))
