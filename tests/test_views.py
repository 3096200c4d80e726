"""The one view definition (generator.conventions) and every rotation mode's promise, judged on the
posed, placed keypoints that are rendered (draw_sample + build_views), render-free."""
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from generator.camera import in_frame
from generator.conventions import (is_easy_view, is_hard_view, palm_facing_deg, project, view_angles)
from generator.jobs import job_from_dict, load_job
from generator.rotations import ARM_AXIS, EDGE_DIRECTION
from generator.sample import SampleContext, build_views, draw_sample, load_hand
from generator.views import ArmRegion
from render_helpers import texture_entries

ROOT = Path(__file__).resolve().parents[1]
TEXTURES = texture_entries(variants="abc")


def _plane_hand(normal, finger, wrist):
    """21 keypoints whose X0, X5, X9, X17 span a plane with the given normal and finger line:
    X5 and X17 sit either side of the finger line, (X5 - X0) x (X17 - X0) along +normal."""
    n, f = np.asarray(normal, float), np.asarray(finger, float)
    side = np.cross(f, n)                       # radial for a right hand (x = y x z)
    X = np.zeros((21, 3))
    X[5], X[9], X[17] = 0.09 * f + 0.03 * side, 0.09 * f, 0.08 * f - 0.03 * side
    for k in range(21):
        if k not in (0, 5, 9, 17):
            X[k] = 0.05 * f
    return X + np.asarray(wrist, float)


def test_view_angles_on_constructed_hands():
    # palm facing a camera straight ahead: normal toward the camera (-z), fingers up (-y)
    X = _plane_hand([0, 0, -1], [0, -1, 0], [0, 0.09, 0.5])    # X9 on the optical axis
    palm, finger = view_angles(X)
    assert palm == pytest.approx(0.0, abs=1e-9) and finger == pytest.approx(90.0, abs=1e-9)
    assert palm_facing_deg(X, "right") == pytest.approx(0.0, abs=1e-9)
    assert palm_facing_deg(X, "left") == pytest.approx(180.0, abs=1e-9)
    assert is_easy_view(X, True) and not is_easy_view(X, False) and not is_hard_view(X)
    # tilt the plane by 80 deg about the finger line: edge-on within 15 deg -> hard
    R = Rotation.from_rotvec(np.radians(80) * np.array([0, -1.0, 0])).as_matrix()
    Xt = (X - X[9]) @ R.T + X[9]
    palm, finger = view_angles(Xt)
    assert palm == pytest.approx(80.0, abs=1e-9) and is_hard_view(Xt) and not is_easy_view(Xt, True)
    # fingers pointing at the camera, 25 deg off: axial -> hard
    f = np.array([0, np.sin(np.radians(25)), -np.cos(np.radians(25))])
    Xa = _plane_hand(np.cross(f, [1.0, 0, 0]), f, [0, 0, 0.5])
    Xa += np.array([0, 0, 0.5]) - Xa[9] + np.array([0, 0, 0])   # X9 on the axis
    assert view_angles(Xa)[1] == pytest.approx(25.0, abs=1e-9) and is_hard_view(Xa)
    # the line of sight runs to X9, not along the optical axis: the same hand placed off-centre
    # (X9 at 30 deg off the axis) faces the line of sight at 30 deg
    off = X - X[9] + 0.5 * np.array([np.sin(np.radians(30)), 0, np.cos(np.radians(30))])
    assert view_angles(off)[0] == pytest.approx(30.0, abs=1e-9)
    # batched form agrees with the single one
    batch = np.stack([X, Xt, Xa, off])
    p, f2 = view_angles(batch)
    assert np.allclose(p, [view_angles(x)[0] for x in batch]) and np.allclose(f2, [view_angles(x)[1] for x in batch])
    assert list(is_hard_view(batch)) == [is_hard_view(x) for x in batch]
    assert np.allclose(np.minimum(palm_facing_deg(batch), 180 - palm_facing_deg(batch)), p)
    with pytest.raises(ValueError, match="21, 3"):
        view_angles(np.zeros((20, 3)))


def test_projection_collapses_an_edge_on_palm():
    """Independent of the formulas: when the palm plane contains the line of sight its three
    points X0, X5, X17 project onto one image line (zero projected area)."""
    s = np.array([0.2, -0.1, 1.0])
    s /= np.linalg.norm(s)
    n = np.cross(s, [0.0, 1.0, 0.0])
    n /= np.linalg.norm(n)
    f = np.cross(n, s)
    X = _plane_hand(n, f, np.zeros(3))
    X += 0.4 * s - X[9]                        # X9 on the line of sight s
    assert view_angles(X)[0] == pytest.approx(90.0, abs=1e-6)
    K = np.array([[200.0, 0, 63.5], [0, 200.0, 63.5], [0, 0, 1]])
    a, b, c = project(K, X[[0, 5, 17]])
    assert abs(np.cross(b - a, c - a)) < 1e-9 * 200 ** 2


@pytest.fixture(scope="module")
def hand():
    return load_hand(job_from_dict({}))


def _views(job, hand, n):
    ctx = SampleContext.for_job(job, TEXTURES, hand=hand)
    for i in range(n):
        s = draw_sample(job, i, ctx)
        _, _, ka, kb = build_views(s, ctx)
        yield s, ka, kb


def test_every_view_of_the_hard_job_is_hard(hand):
    """render_jobs/hard_views.toml: both views of 200 seeded pairs are hard on the posed, placed
    hand (palm_deg >= 75 or finger_deg <= 30), both sorts of hard view occur."""
    job = load_job(ROOT / "render_jobs/hard_views.toml").override({"camera.resolution": 128})
    edge_on = axial = 0
    for s, ka, kb in _views(job, hand, 200):
        assert s.views["kinds"] == ["hard", "hard"]
        for kp in (ka, kb):
            palm, finger = view_angles(kp)
            assert palm >= 75.0 or finger <= 30.0, (s.index, palm, finger)
            edge_on += palm >= 75.0
            axial += finger <= 30.0
    assert edge_on > 120 and axial > 120


def test_easy_hard_mode(hand):
    job = job_from_dict({"seed": 3, "camera": {"resolution": 96, "truncation": 0.3},
                         "rotation": {"mode": "easy_hard"}})
    for s, ka, kb in _views(job, hand, 40):
        assert s.views["kinds"] == ["easy", "hard"]
        inside = in_frame(project(np.asarray(s.K), ka), s.resolution).all()
        assert is_easy_view(ka, inside) and view_angles(ka)[0] <= 45.0
        assert is_hard_view(kb)


def test_mixed_mode_keeps_each_views_kind(hand):
    job = job_from_dict({"seed": 5, "camera": {"resolution": 96}, "rotation": {"mode": "mixed"}})
    kinds = []
    for s, ka, kb in _views(job, hand, 24):
        for kind, kp in zip(s.views["kinds"], (ka, kb)):
            kinds.append(kind)
            if kind == "hard":
                assert is_hard_view(kp)
    assert 0.3 < np.mean([k == "hard" for k in kinds]) < 0.7


def test_natural_mode(hand):
    """View a: the forearm heads for a frame edge (bottom most often) within 40 deg of its outward
    direction in the image, palm, back and side views all common; view b is uniform."""
    job = job_from_dict({"seed": 7, "camera": {"resolution": 128}})
    assert job.rotation.mode == "natural"               # the default job's mode
    edges, facing = [], []
    for s, ka, kb in _views(job, hand, 80):
        assert s.views["kinds"] == ["natural", "uniform"]
        R_a = np.asarray(s.R_a)
        arm = R_a @ ARM_AXIS
        K = np.asarray(s.K)
        duv = project(K, ka[0] + 0.01 * arm) - project(K, ka[0])
        duv /= np.linalg.norm(duv)
        edge = s.views["arm_edge"][0]
        assert np.degrees(np.arccos(np.dot(duv, EDGE_DIRECTION[edge]))) <= 45.0
        sight = ka[9] / np.linalg.norm(ka[9])
        assert -30.0 - 1e-6 <= np.degrees(np.arcsin(-np.dot(arm, sight))) <= 45.0 + 1e-6
        edges.append(edge)
        facing.append(palm_facing_deg(ka, s.side))
    edges, facing = np.array(edges), np.array(facing)
    assert (edges == "bottom").mean() > 0.4 and (edges == "top").mean() < 0.15
    for lo, hi in ((0, 45), (45, 135), (135, 180)):
        assert ((facing >= lo) & (facing <= hi)).mean() > 0.15, (lo, hi)


def test_hard_promise_holds_off_centre_with_wide_lenses():
    """Wide lenses and small hands put X9 far off the optical axis, where the optical axis and the
    line of sight differ by more than the promise's tolerance: views are drawn for the line of sight.
    (A capped wrist: a hand this small in a frame this wide would need an arm past the elbow to
    carry its cut out of frame; test_a_capped_wrist_has_no_cut_to_hide checks that case.)"""
    job = job_from_dict({"seed": 9, "camera": {"resolution": 96, "focal_mm": [18.0, 20.0], "fill": [0.3, 0.35]},
                         "rotation": {"mode": "hard"}, "hand": {"forearm_length": 0.0}})
    off_axis = []
    for s, ka, kb in _views(job, load_hand(job), 20):
        assert is_hard_view(ka) and is_hard_view(kb)
        off_axis += [np.degrees(np.arccos(k[9, 2] / np.linalg.norm(k[9]))) for k in (ka, kb)]
    assert max(off_axis) > 15.0


def test_a_capped_wrist_has_no_cut_to_hide_and_a_frame_too_wide_for_the_arm_says_so():
    """hand.forearm_length 0 (a capped wrist) draws views with no arm constraint; an arm that
    cannot leave a frame this wide fails with an error that names the way out."""
    capped = job_from_dict({"seed": 2, "camera": {"resolution": 64}, "hand": {"forearm_length": 0.0}})
    hand = load_hand(capped)
    assert hand.arm.rings == 0 and ArmRegion.of(hand.forward(np.zeros((1, 20, 3))), hand.arm) is None
    assert len(list(_views(capped, hand, 3))) == 3
    wide = job_from_dict({"seed": 9, "camera": {"resolution": 96, "focal_mm": [18.0, 20.0], "fill": [0.3, 0.35]},
                          "rotation": {"mode": "hard"}})
    with pytest.raises(RuntimeError, match="with the arm's end out of frame.*forearm_length"):
        for _ in _views(wide, load_hand(wide), 20):
            pass
