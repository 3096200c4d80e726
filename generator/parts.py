"""The part-ID table (one home; docs/FORMAT.md lists it) and what each keypoint may be seen on.

``KEY.a.parts.png`` holds one id per pixel: what the first camera ray of that pixel hit. Hand
ids (palm .. little_nail) are what the hand mask and bbox cover; the arm, its end region, its
cut cap, sleeves, accessories and distractors have their own ids.

A keypoint is visible when it projects into the frame and the surface at its pixel belongs to
its own segment or to a segment meeting at that joint (``KEYPOINT_SEGMENTS``) and is the near
surface of the flesh holding it (generator.annotate); anything else in front hides it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.conventions import FINGERS, NUM_KEYPOINTS
from generator.hand.base import PART_INDEX, PARTS

SEGMENTS = ("proximal", "middle", "distal")
PART_IDS: dict[str, int] = {"background": 0, "palm": 1, "dorsum": 2}
for _f in FINGERS:
    for _s in SEGMENTS:
        PART_IDS[f"{_f}_{_s}"] = len(PART_IDS)
for _f in FINGERS:
    PART_IDS[f"{_f}_nail"] = len(PART_IDS)
PART_IDS.update({"forearm": 23, "forearm_end": 24, "forearm_cap": 25, "sleeve": 26, "accessory": 27,
                 "distractor": 28})
PART_NAMES: dict[int, str] = {v: k for k, v in PART_IDS.items()}
HAND_IDS: tuple[int, ...] = tuple(range(PART_IDS["palm"], PART_IDS["little_nail"] + 1))
ARM_IDS: tuple[int, ...] = (PART_IDS["forearm"], PART_IDS["forearm_end"], PART_IDS["forearm_cap"])


def _segment_ids(k: int) -> tuple[int, ...]:
    """Ids keypoint k may be seen on: its own segment and those meeting at it."""
    if k == 0:
        return (PART_IDS["palm"], PART_IDS["dorsum"], PART_IDS["forearm"])
    finger = FINGERS[(k - 1) // 4]
    j = (k - 1) % 4                   # 0: CMC / MCP, 1: MCP / PIP, 2: IP / DIP, 3: tip
    if j == 0:
        return (PART_IDS["palm"], PART_IDS["dorsum"], PART_IDS[f"{finger}_proximal"])
    if finger == "thumb" and j == 1:
        # the thumb's metacarpal (thumb_proximal) lies in the thenar eminence, whose skin the
        # hand model labels palm and dorsum: its MCP joint meets those too
        return (PART_IDS["palm"], PART_IDS["dorsum"], PART_IDS["thumb_proximal"], PART_IDS["thumb_middle"])
    if j == 3:
        return (PART_IDS[f"{finger}_distal"], PART_IDS[f"{finger}_nail"])
    return (PART_IDS[f"{finger}_{SEGMENTS[j - 1]}"], PART_IDS[f"{finger}_{SEGMENTS[j]}"])


KEYPOINT_SEGMENTS: tuple[tuple[int, ...], ...] = tuple(_segment_ids(k) for k in range(NUM_KEYPOINTS))


def vertex_part_ids(vertices: np.ndarray, parts: np.ndarray, n_hand: int) -> np.ndarray:
    """(V,) part ids per vertex from the model's per-vertex PARTS labels: nails split by finger
    (each nail vertex takes the finger of the nearest distal-segment vertex), vertices from
    ``n_hand`` on (the arm) "forearm"."""
    parts = np.asarray(parts)
    ids = np.zeros(len(parts), dtype=np.uint8)
    for name in PARTS:
        if name in PART_IDS:
            ids[parts == PART_INDEX[name]] = PART_IDS[name]
    nail = np.flatnonzero(parts == PART_INDEX["nail"])
    if len(nail):
        from scipy.spatial import cKDTree
        distal = np.flatnonzero(np.isin(parts, [PART_INDEX[f"{f}_distal"] for f in FINGERS]))
        _, j = cKDTree(vertices[distal]).query(vertices[nail])
        finger = [PARTS[p].split("_")[0] for p in parts[distal[j]]]
        ids[nail] = [PART_IDS[f"{f}_nail"] for f in finger]
    ids[n_hand:] = PART_IDS["forearm"]
    return ids


@dataclasses.dataclass(frozen=True)
class HandPartIds:
    """Part ids of a hand model's vertices (V,) and faces (F,): faces take the majority of their
    corners' ids (ties: the first corner's), the arm's faces as the arm labels them (forearm,
    forearm_end, forearm_cap). Computed on the rest hand; a left hand keeps the face order."""
    vertex: np.ndarray
    face: np.ndarray

    @classmethod
    def of(cls, hand) -> "HandPartIds":
        rest = hand.forward(np.zeros((1, 20, 3))).vertices[0].astype(np.float64)
        faces = np.asarray(hand.faces)
        arm = hand.arm
        v_ids = vertex_part_ids(rest, hand.parts, arm.n_base)
        c = v_ids[faces]
        ids = np.where(c[:, 1] == c[:, 2], c[:, 1], c[:, 0])
        ids[len(faces) - len(arm.faces):] = [PART_IDS[p] for p in arm.face_part]
        return cls(vertex=v_ids, face=ids.astype(np.uint8))
