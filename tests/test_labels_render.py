"""Labels from tiny Cycles renders (64 px, 4 samples): the part-ID pass against an independent
numpy z-buffer of the same mesh, visibility targets (an open hand facing the camera shows its
joints, a fist seen from the back hides its fingertips), the hand-only mask, and no pixel of the
arm's end or cut in the renders of a seeded batch of the default job."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from generator.annotate import flesh_entry, hand_mask, visibility
from generator.camera import place_camera
from generator.conventions import view_angles
from generator.hand.poses import LIBRARY
from generator.jobs import load_job
from generator.parts import ARM_IDS, HAND_IDS, PART_IDS, HandPartIds
from generator.rotations import align
from generator.sample import SampleContext, build_views, draw_sample, load_hand, pose_hand
from render_helpers import texture_entries

bv = pytest.importorskip("generator.render.blender_view")
pytestmark = pytest.mark.render

ROOT = Path(__file__).resolve().parents[1]
RES = 64
AMBIENT = {"kind": "studio", "lights": [], "ambient": 1.0}
FAST = {"samples": 4, "denoise": False, "seed": 3}
SKIN = {"color": [0.5, 0.35, 0.3]}
BLACK = {"kind": "procedural", "seed": 0, "style": "surface", "palette": [[0, 0, 0]]}


@pytest.fixture(scope="module")
def hand():
    return load_hand(load_job(ROOT / "render_jobs/default.toml"))


@pytest.fixture(scope="module")
def ids(hand):
    return HandPartIds.of(hand)


@pytest.fixture(scope="module")
def view(hand, ids):
    v = bv.BlenderView(device="cpu", preset="draft")
    yield v
    v.close()


def _facing(hand, pose, toward: bool, tilt_deg: float, roll_deg: float, seed: int):
    """Posed hand turned so its palm (toward=True) or back faces the camera, tilted by tilt_deg
    about a random axis across the line of sight; camera placed to frame it. Returns
    (verts_cam, kp_cam, K, faces)."""
    b = hand.forward(np.asarray(pose)[None])
    kp, v = b.keypoints[0].astype(np.float64), b.vertices[0].astype(np.float64)
    n = np.cross(kp[5] - kp[0], kp[17] - kp[0])
    f = kp[9] - kp[0]
    rng = np.random.default_rng(seed)
    axis = np.array([*rng.normal(size=2), 0.0])
    tilt = Rotation.from_rotvec(np.radians(tilt_deg) * axis / np.linalg.norm(axis))
    roll = Rotation.from_rotvec(np.radians(roll_deg) * np.array([0, 0, 1.0]))
    n_t = (tilt * roll).apply([0, 0, -1.0 if toward else 1.0])           # -z: toward the camera
    f_t = (tilt * roll).apply([0, -1.0, 0])
    R = align(n, f, n_t, f_t)
    hand_pts = np.r_[kp, v[:hand.arm.n_base]] - kp[0]
    cam = place_camera(hand_pts @ R.T, hand_pts @ R.T, np.random.default_rng(seed), (RES, RES),
                       focal_mm=(50.0, 50.0), fill=(0.7, 0.7))
    return (v - kp[0]) @ R.T + cam.wrist, (kp - kp[0]) @ R.T + cam.wrist, cam.K, b.faces


def _render(view, ids, verts, K, faces):
    view.set_topology(faces, np.zeros((len(faces), 3, 2), np.float32), np.zeros(len(verts), int), ids.face)
    return view.render(verts.astype(np.float32), K, (RES, RES), AMBIENT, BLACK, SKIN, FAST)


def test_part_pass_matches_an_independent_zbuffer(hand, ids, view):
    """The Cycles part-ID image against a numpy z-buffer of the same triangles (tests/fake_view):
    the same id on at least 90% of the pixels either calls hand (edges may differ by the one
    jittered sample per pixel), and the same set of parts."""
    from fake_view import rasterize
    verts, kp, K, faces = _facing(hand, LIBRARY["spread"], True, 20.0, 10.0, seed=1)
    out = _render(view, ids, verts, K, faces)
    _, _, ref = rasterize(verts, faces, K, RES, RES, ids.face)
    hand_px = np.isin(out["parts"], HAND_IDS) | np.isin(ref, HAND_IDS)
    assert hand_px.sum() > 300
    assert (out["parts"][hand_px] == ref[hand_px]).mean() > 0.9
    common = set(np.unique(ref[hand_px])) & set(np.unique(out["parts"][hand_px]))
    assert len(common) >= 15
    # depth of the part pass is the camera z of the same surface
    both = np.isfinite(out["parts_depth"]) & (ref > 0) & (out["parts"] == ref)
    from fake_view import rasterize as zbuf
    zref, _ = zbuf(verts, faces, K, RES, RES)
    assert np.median(np.abs(out["parts_depth"][both] - zref[both])) < 0.002


@pytest.mark.parametrize("name", ["flat", "spread"])
@pytest.mark.parametrize("toward", [True, False])
def test_open_hand_facing_the_camera_shows_its_joints(hand, ids, view, name, toward):
    """Within 30 deg of frontal (palm or back toward the camera), at least 19 of 21 keypoints
    are visible, and the hand-only mask is the hand without the arm."""
    for seed, tilt in ((11, 0.0), (12, 15.0), (13, 15.0)):
        verts, kp, K, faces = _facing(hand, LIBRARY[name], toward, tilt, 0.0, seed)
        assert view_angles(kp)[0] <= 30.0
        out = _render(view, ids, verts, K, faces)
        _, inside, _, vis = visibility(kp, K, (RES, RES), out["parts"], out["parts_depth"],
                                       flesh_entry(verts, faces, kp))
        assert inside.all()
        assert vis.sum() >= 19, (name, toward, tilt, np.flatnonzero(~vis))
        mask = hand_mask(out["alpha"], out["parts"])
        arm_px = np.isin(out["parts"], ARM_IDS)
        assert arm_px.any() and not (mask[arm_px] > 0).any()
        assert (mask > 0).sum() >= 0.9 * np.isin(out["parts"], HAND_IDS).sum()


def _resting_fist(hand, monkeypatch):
    """The library fist with its contacts resolved on the default shape by the pose sampler itself
    (generator.hand.poses.sample_poses, its draw replaced by the fist): fingertips on the palm."""
    from generator.hand import poses
    monkeypatch.setattr(poses, "draw_pose", lambda rng, mode="mixed", **kw: (LIBRARY["fist"].copy(), "fist", 1.0))
    ps = poses.sample_poses(hand, 1, seed=0)
    assert ps.penetration[0] <= 0.002, ps.penetration
    return np.asarray(ps.poses[0], np.float64)


def test_fist_seen_from_the_back_hides_its_fingertips(hand, ids, view, monkeypatch):
    fist = _resting_fist(hand, monkeypatch)
    assert fist[[6, 10, 14, 18], 0].min() > 50                   # still a fist: PIPs flexed past 50 deg
    for seed, tilt in ((21, 0.0), (22, 20.0)):
        verts, kp, K, faces = _facing(hand, fist, False, tilt, 0.0, seed)
        out = _render(view, ids, verts, K, faces)
        _, inside, _, vis = visibility(kp, K, (RES, RES), out["parts"], out["parts_depth"],
                                       flesh_entry(verts, faces, kp))
        assert inside[[8, 12, 16, 20]].all() and not vis[[8, 12, 16, 20]].any()
        assert vis[[5, 9, 13, 17]].sum() >= 3                 # the knuckles are in plain view


def test_no_arm_end_or_cut_in_a_seeded_batch_of_the_default_job(hand, ids, view):
    """The camera keeps the arm's end region and cap outside the frame: zero pixels of them in
    both views of 6 seeded pairs of render_jobs/default.toml (benchmarks/arm_cut.py runs 200)."""
    job = load_job(ROOT / "render_jobs/default.toml").override({"camera.resolution": RES, "seed": 5})
    ctx = SampleContext.for_job(job, texture_entries(), hand=hand)
    arm_seen = 0
    for i in range(6):
        s = draw_sample(job, i, ctx)
        b = pose_hand(s, ctx)
        va, vb, _, _ = build_views(s, ctx, b)
        view.set_topology(b.faces, b.uvs, b.parts, ids.face)
        for v in (va, vb):
            out = view.render(v.astype(np.float32), np.asarray(s.K), (RES, RES), AMBIENT, BLACK, SKIN, FAST)
            assert not np.isin(out["parts"], [PART_IDS["forearm_end"], PART_IDS["forearm_cap"]]).any()
            arm_seen += (out["parts"] == PART_IDS["forearm"]).any()
    assert arm_seen >= 8                                     # the arm is there, leaving the frame
