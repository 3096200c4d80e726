"""Landmarks of the rest hand that place the skin features: finger axes, dorsal directions,
nail frames, palmar crease curves. All in the canonical hand frame (generator/hand/base.py:
wrist at the origin, +y toward the middle MCP, +z palmar, +x radial for a right hand)."""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.conventions import FINGER_KEYPOINTS, FINGERS
from generator.hand.base import PART_INDEX


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@dataclasses.dataclass
class Nail:
    finger: int
    tip: np.ndarray        # tip keypoint
    axis: np.ndarray       # proximal -> distal along the nail
    lateral: np.ndarray
    dorsal: np.ndarray
    s0: float              # proximal end along axis, relative to the tip keypoint
    length: float
    centre_lat: float
    half_width: float


@dataclasses.dataclass
class HandAnatomy:
    keypoints: np.ndarray          # (21, 3)
    vertex_finger: np.ndarray      # (V,) int: 0..4 (thumb..little), -1 for palm/dorsum/forearm
    vertex_segment: np.ndarray     # (V,) int: 0 proximal, 1 middle, 2 distal, -1 elsewhere
    vertex_dorsal: np.ndarray      # (V, 3) unit dorsal direction of the vertex's body part
    nails: list[Nail]
    palm_length: float             # wrist -> middle MCP
    x_radial: np.ndarray           # in-palm radial unit vector
    y_distal: np.ndarray           # in-palm distal unit vector

    def segment_axis(self, finger: int, segment: int) -> tuple[np.ndarray, np.ndarray]:
        """(start point, unit axis) of a finger segment, proximal -> distal."""
        k = FINGER_KEYPOINTS[FINGERS[finger]]
        a, b = self.keypoints[k[segment]], self.keypoints[k[segment + 1]]
        return a, _unit(b - a)


def hand_anatomy(vertices: np.ndarray, parts: np.ndarray, keypoints: np.ndarray) -> HandAnatomy:
    """Landmarks from the rest (flat) hand of a given side's canonical frame."""
    V = np.asarray(vertices, np.float64)
    kp = np.asarray(keypoints, np.float64)
    parts = np.asarray(parts)
    finger = np.full(len(V), -1, np.int64)
    segment = np.full(len(V), -1, np.int64)
    for fi, f in enumerate(FINGERS):
        for si, s in enumerate(("proximal", "middle", "distal")):
            sel = parts == PART_INDEX[f"{f}_{s}"]
            finger[sel], segment[sel] = fi, si
    is_nail = parts == PART_INDEX["nail"]
    tips = kp[[FINGER_KEYPOINTS[f][-1] for f in FINGERS]]
    nail_finger = np.argmin(np.linalg.norm(V[is_nail, None] - tips[None], axis=-1), axis=1)
    finger[is_nail], segment[is_nail] = nail_finger, 2

    y = _unit(kp[9] - kp[0])
    palmar = np.array([0.0, 0.0, 1.0])
    x = _unit(np.cross(y, palmar))          # radial for a right hand (x = y cross z)
    if np.dot(x, kp[5] - kp[17]) < 0:       # left hand: radial is -x
        x = -x
    dorsal = np.tile(-palmar, (len(V), 1))
    nails = []
    for fi in range(len(FINGERS)):
        k = FINGER_KEYPOINTS[FINGERS[fi]]
        nv = V[is_nail][nail_finger == fi]
        axis = _unit(kp[k[3]] - kp[k[2]])
        if len(nv) == 0:                      # no nail vertices: fall back to -palmar
            d = _unit(-palmar - np.dot(-palmar, axis) * axis)
        else:
            c = nv.mean(0)
            foot = kp[k[2]] + np.dot(c - kp[k[2]], axis) * axis
            d = _unit(c - foot)
        d = _unit(d - np.dot(d, axis) * axis)
        dorsal[finger == fi] = d
        lat = _unit(np.cross(axis, d))
        if len(nv):
            s = (nv - kp[k[3]]) @ axis
            t = (nv - kp[k[3]]) @ lat
            nails.append(Nail(fi, kp[k[3]], axis, lat, d, float(s.min()), float(np.ptp(s)),
                              float((t.max() + t.min()) / 2), float(np.ptp(t) / 2)))
    return HandAnatomy(kp, finger, segment, dorsal, nails, float(np.linalg.norm(kp[9] - kp[0])), x, y)


def bezier(p0, p1, p2, n: int = 2000) -> np.ndarray:
    """Quadratic Bezier through p0 and p2 that passes through p1 at t = 1/2."""
    c = 2 * np.asarray(p1) - 0.5 * (np.asarray(p0) + np.asarray(p2))
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def palmar_crease_curves(a: HandAnatomy) -> dict[str, np.ndarray]:
    """The three major palmar flexion creases as 3D polylines on the palm plane, placed from the
    MCP, thumb and wrist keypoints (positions after the usual descriptions, e.g. Kimura 1991)."""
    kp, L, x, y = a.keypoints, a.palm_length, a.x_radial, a.y_distal
    iM, mM, rM, lM = kp[5], kp[9], kp[13], kp[17]
    W, tC = kp[0], kp[1]
    ulnar_edge = lM + 0.9 * (lM - rM)
    radial_edge = iM + 0.6 * (iM - mM)
    curves = {
        # distal transverse ("heart line"): ulnar border -> between index and middle fingers
        "distal_transverse": bezier(ulnar_edge - 0.20 * L * y, 0.5 * (rM + mM) - 0.16 * L * y,
                                    0.5 * (iM + mM) - 0.07 * L * y),
        # proximal transverse ("head line"): radial border -> across the palm, ending ulnar-mid
        "proximal_transverse": bezier(radial_edge - 0.20 * L * y, mM - 0.30 * L * y,
                                      lM + 0.35 * (lM - rM) - 0.45 * L * y),
        # thenar ("life line"): radial border, arcing round the thenar eminence to the wrist
        "thenar": bezier(radial_edge - 0.19 * L * y, 0.55 * tC + 0.45 * mM - 0.25 * L * y - 0.1 * L * x,
                         W + 0.12 * L * y + 0.05 * L * x),
    }
    return {k: v - np.outer(np.dot(v, [0, 0, 1.0]), [0, 0, 1.0]) for k, v in curves.items()}  # z = 0
