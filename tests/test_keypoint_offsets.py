"""benchmarks/keypoint_offsets.py: the along-bone offsets and what-ifs it reports recover known
label moves (the landmarker's side is simulated by projecting moved keypoints)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from generator.conventions import KEYPOINT_NAMES, intrinsics, project
from generator.hand import load_hand_model
from generator.hand.base import JOINTS

spec = importlib.util.spec_from_file_location(
    "keypoint_offsets", Path(__file__).resolve().parents[1] / "benchmarks" / "keypoint_offsets.py")
offsets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(offsets)


@pytest.fixture(scope="module")
def hand_in_view():
    """A nearly flat right hand 45 cm in front of a 256 px camera, palm toward it (its fingers
    lie near the image plane, so moves along them show)."""
    hand = load_hand_model("anny", forearm_length=0.0)
    pose = np.zeros((1, 20, 3))
    for finger in ("index", "middle", "ring", "little"):
        for joint, flexion in (("mcp", 10), ("pip", 15), ("dip", 10)):
            pose[0, JOINTS.index(f"{finger}_{joint}"), 0] = flexion
    kp = hand.forward(pose).keypoints[0].astype(np.float64)
    # canonical +z points out of the palm; the camera looks along its +z, so turn the palm to it
    flip = np.diag([1.0, -1.0, -1.0])
    return kp @ flip.T + [0.0, 0.03, 0.45], intrinsics(300.0, 256, 256)


def test_along_bone_offsets_recover_moves_along_the_bones(hand_in_view):
    kp, K = hand_in_view
    tip, mcp = KEYPOINT_NAMES.index("index_tip"), KEYPOINT_NAMES.index("middle_mcp")
    seen = offsets.moved_along_bones(offsets.moved_along_bones(kp, [tip], -6.0), [mcp], 8.0)
    along = offsets.along_bone_offsets(kp, K, project(K, seen)) * 1000
    assert np.isnan(along[0])                                    # the wrist has no bone
    assert along[tip] == pytest.approx(-6.0, abs=0.3)
    assert along[mcp] == pytest.approx(8.0, abs=0.3)
    others = np.delete(along[1:], [tip - 1, mcp - 1])
    assert np.nanmax(np.abs(others)) < 0.05


def test_a_what_if_toward_the_landmarks_restores_agreement(hand_in_view):
    """Landmarks 60 mm short of our fingertips along the distal segment fail PCK@0.2 at every tip
    (the threshold, 0.2 of this hand's box, is about 39 mm); the what-if that moves our tips 30 mm
    toward them leaves 30 mm, and every joint agrees."""
    from generator.audit.metrics import pck

    kp, K = hand_in_view
    seen = project(K, offsets.moved_along_bones(kp, offsets.TIPS, -60.0))
    assert not pck(seen, project(K, kp))[list(offsets.TIPS)].any()
    assert pck(seen, project(K, offsets.moved_along_bones(kp, offsets.TIPS, -30.0))).all()
