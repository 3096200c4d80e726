"""The arm (generator.hand.arm): past the elbow with a natural taper, closed, seamless at the wrist,
skinned so that the forearm stays when the wrist bends, laid out in the atlas without overlap."""
import numpy as np
import pytest
import trimesh

from generator.hand.arm import (DEFAULT_FOREARM_LENGTH_M, ELBOW_M, END_LENGTH_M, REFERENCE_HAND_LENGTH_M,
                                ring_distances)
from generator.hand.base import JOINTS, PART_INDEX
from generator.hand.mesh_ops import rasterize_occupancy

ZERO = np.zeros((1, len(JOINTS), 3))


def _ellipse_girth(width, thickness):
    a, b = width / 2, thickness / 2
    h = ((a - b) / (a + b)) ** 2
    return np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))      # Ramanujan


def _rings(hand, batch):
    v = batch.vertices[0].astype(np.float64)
    return [v[ids] for ids in hand.arm._ring_ids]


def test_arm_is_closed_and_reaches_past_the_elbow(anny_hand):
    b = anny_hand.forward(ZERO)
    mesh = trimesh.Trimesh(b.vertices[0], b.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    # hand + forearm + half an upper arm: ~0.4 l + ~1 l + ~1 l
    assert 1.8e-3 < mesh.volume < 4.0e-3
    hand_len = b.vertices[0, :anny_hand.arm.n_base, 1].max()
    assert DEFAULT_FOREARM_LENGTH_M > ELBOW_M + 0.1
    assert -b.vertices[0, :, 1].min() == pytest.approx(DEFAULT_FOREARM_LENGTH_M * hand_len / REFERENCE_HAND_LENGTH_M,
                                                       abs=0.015)
    # the arm's vertices are labelled forearm, and the cut's faces are the cap's
    assert (b.parts[anny_hand.arm.n_base:] == PART_INDEX["forearm"]).all()
    assert set(anny_hand.arm.face_part) == {"forearm", "forearm_end", "forearm_cap"}


def test_natural_taper(anny_hand):
    """Girth grows from the wrist to ~1.5x two thirds of the way to the elbow (anthropometric
    ratio 1.5), the cross-section turns rounder, and it narrows slightly toward the elbow; past
    the elbow the upper arm is rounder and wider again (~1.8x the wrist's girth)."""
    rings = _rings(anny_hand, anny_hand.forward(ZERO))
    dims = np.array([[np.ptp(r[:, 0]), np.ptp(r[:, 2])] for r in rings])
    girth = _ellipse_girth(dims[:, 0], dims[:, 1])
    # measured girth of the actual ring polygons agrees with the ellipse estimate
    poly = [np.linalg.norm(np.diff(np.r_[r, r[:1]][:, [0, 2]], axis=0), axis=1).sum() for r in rings]
    assert np.allclose(poly, girth, rtol=0.12)
    ratio = girth / girth[0]
    s = np.r_[0.0, anny_hand.arm.distances] / ELBOW_M                     # 1: the elbow
    fore = s <= 1.0 + 1e-9
    k = int(np.argmax(ratio[fore]))
    assert 1.4 < ratio[fore].max() < 1.7 and 0.5 <= s[k] <= 0.9
    elbow = int(np.flatnonzero(fore)[-1])
    assert s[elbow] > 0.9 and ratio[elbow] < ratio[k]                     # narrower at the elbow
    assert np.all(np.diff(ratio[: k + 1]) >= -1e-9)                       # no waist on the way up
    upper = s >= 1.4
    assert upper.sum() >= 2 and 1.65 < ratio[upper].max() < 2.0
    roundness = dims[:, 1] / dims[:, 0]
    assert roundness[0] < 0.8 and roundness[k] > 0.85 and roundness[upper].min() > 0.9


def test_no_seam_or_kink_at_the_wrist(anny_hand):
    """The first ring continues the hand's wrist loop: along every line of the arm the surface
    turns by little from ring to ring (no step, no crease), and rings are evenly spread near it."""
    rings = _rings(anny_hand, anny_hand.forward(ZERO))
    loop, r1, r2 = rings[0], rings[1][::2], rings[2][::2]                  # fine rings: every other vertex lies over a loop vertex
    d1 = r1 - loop
    d2 = r2 - r1
    cos = np.sum(d1 * d2, axis=1) / np.linalg.norm(d1, axis=1) / np.linalg.norm(d2, axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 25
    assert np.linalg.norm(d1, axis=1).max() < 0.015
    # the hand's own surface just before the loop runs the same way (the hand does not end in a rim)
    b = anny_hand.forward(ZERO)
    mesh = trimesh.Trimesh(b.vertices[0], b.faces, process=False)
    normals = mesh.vertex_normals
    loop_ids = anny_hand.arm.loop
    radial = loop - loop.mean(0)
    radial[:, 1] = 0
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    assert np.sum(normals[loop_ids] * radial, axis=1).min() > 0.5        # loop normals point outward, not along the arm


def test_arm_length_follows_the_hand_and_the_option(anny_hand):
    small = anny_hand.forward(ZERO, {"age": 0.45, "height": 0.2, "gender": 1.0}).vertices[0]
    big = anny_hand.forward(ZERO, {"age": 0.7, "height": 0.8, "gender": 0.0}).vertices[0]
    n = anny_hand.arm.n_base
    for v in (small, big):
        ratio = -v[:, 1].min() / v[:n, 1].max()
        assert ratio == pytest.approx(DEFAULT_FOREARM_LENGTH_M / REFERENCE_HAND_LENGTH_M, abs=0.09)
    assert -big[:, 1].min() > -small[:, 1].min() + 0.01
    d = ring_distances(0.4)
    assert d[-1] == pytest.approx(0.4) and d[-2] == pytest.approx(0.4 - END_LENGTH_M)
    assert np.all(np.diff(d) > 0) and np.diff(d).max() <= 0.035 + 1e-9


def test_end_region_and_wrist_weights(anny_hand):
    arm = anny_hand.arm
    rest = anny_hand.forward(ZERO)
    v = rest.vertices[0].astype(np.float64)
    cut = v[arm.end_vertices][:, 1].min() + 0.004                           # the last ring (the cap is domed)
    end = v[arm.end_vertices]
    assert (end[:, 1] <= cut + END_LENGTH_M + 1e-6).all()
    # whatever the hand's size, every arm vertex within END_LENGTH_M of the cut is in the region
    for shape in ({"age": 0.45, "height": 0.2, "gender": 1.0}, {"age": 0.7, "height": 0.8, "gender": 0.0}):
        w = anny_hand.forward(ZERO, shape).vertices[0].astype(np.float64)
        last = w[arm._ring_ids[-1], 1].mean()
        near_cut = np.flatnonzero(w[:, 1] <= last + END_LENGTH_M - 1e-6)
        assert set(near_cut) <= set(arm.end_vertices)
    assert len(end) >= 2 * arm.around
    # flexing the wrist bends the skin next to it and leaves the forearm beyond 4 cm in place
    bent = anny_hand.forward(np.array([[[60.0, 0, 0]] + [[0, 0, 0]] * (len(JOINTS) - 1)])).vertices[0]
    moved = np.linalg.norm(bent - v, axis=1)
    far = np.concatenate([ids for ids, d in zip(arm._ring_ids[1:], arm.distances) if d >= 0.04])
    assert moved[far].max() < 1e-6
    assert moved[arm._ring_ids[1]].max() > 1e-3


def test_arm_uvs_lie_beside_the_hand_without_overstretching(anny_hand):
    b = anny_hand.forward(ZERO)
    n_hand = len(b.faces) - len(anny_hand.arm.faces)
    hand_occ = rasterize_occupancy(b.uvs[:n_hand], size=128, pad=0)
    arm_uv = b.uvs[n_hand:].astype(np.float64)
    centres = (arm_uv.mean(1) * 128).astype(int).clip(0, 127)
    assert hand_occ[centres[:, 1], centres[:, 0]].mean() < 0.02
    # texel density of the tube: texture area per surface area within 3x across its faces, and
    # stretch along vs around the arm within 2.5x (no smeared stripes)
    tube = anny_hand.arm.face_part != "forearm_cap"
    faces = b.faces[n_hand:][tube]
    p = b.vertices[0].astype(np.float64)[faces]
    a3 = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1) / 2
    t = arm_uv[tube]
    a2 = np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])) / 2
    density = a2 / a3
    assert np.percentile(density, 95) / np.percentile(density, 5) < 3.0
    # singular values of the surface -> UV map per face
    e3 = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=2)           # (F, 3, 2)
    e2 = np.stack([t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]], axis=2)           # (F, 2, 2)
    J = e2 @ np.linalg.pinv(e3)                                            # (F, 2, 3)
    sv = np.linalg.svd(J, compute_uv=False)
    assert np.median(sv[:, 0] / sv[:, 1]) < 2.5


def test_capped_hand_has_no_arm(capped_hand):
    b = capped_hand.forward(ZERO)
    mesh = trimesh.Trimesh(b.vertices[0], b.faces, process=False)
    assert mesh.is_watertight and b.vertices[0, :, 1].min() > -0.03
    assert capped_hand.arm.rings == 0 and set(capped_hand.arm.face_part) == {"forearm_cap"}
