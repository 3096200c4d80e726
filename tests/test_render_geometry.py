"""Rotations (uniform / hard views) and pair camera framing: render-free."""
import numpy as np
import pytest

from generator.camera import in_frame, place_camera
from generator.conventions import project
from generator.rotations import (ARM_AXIS, EDGE_DIRECTION, REST_PALMAR, angle_deg, easy_orientation,
                                 hard_orientation, natural_orientation, towards, uniform_rotation, view_kinds)


def _is_rotation(R):
    return np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)


def test_uniform_rotations_are_haar_like():
    rng = np.random.default_rng(0)
    Rs = np.stack([uniform_rotation(rng) for _ in range(4000)])
    assert all(_is_rotation(R) for R in Rs[:50])
    # Haar measure: every column is uniform on the sphere (mean 0, E[z^2] = 1/3), E[trace] = 0
    for col in range(3):
        z = Rs[:, 2, col]
        assert abs(z.mean()) < 0.04 and abs((z ** 2).mean() - 1 / 3) < 0.03
    assert abs(np.trace(Rs, axis1=1, axis2=2).mean()) < 0.06


def _canonical_axes(rng):
    """A posed hand's palm normal and finger line need not be perpendicular (wrist, cupping)."""
    f = np.array([0.0, 1.0, 0.0])
    n = np.array([0.0, np.sin(np.radians(rng.uniform(-12, 12))), 1.0])
    return n / np.linalg.norm(n), f


def test_hard_orientations_meet_their_definition_on_the_posed_axes():
    rng = np.random.default_rng(1)
    n_h, f_h = _canonical_axes(rng)
    Rs = [hard_orientation(rng, n_h, f_h, 15, 30) for _ in range(2000)]
    assert all(_is_rotation(R) for R in Rs[:50])
    # along +z (the sight frame's line of sight): palm normal line and finger line
    palm = np.array([np.degrees(np.arccos(abs((R @ n_h)[2]))) for R in Rs])
    finger = np.array([np.degrees(np.arccos(abs((R @ f_h)[2]))) for R in Rs])
    assert ((palm >= 75 - 1e-9) | (finger <= 30 + 1e-9)).all()
    # both kinds occur, and the edge-on ones spread over the whole allowed band
    assert (palm >= 75).mean() > 0.4 and (finger <= 30).mean() > 0.4
    assert palm[palm >= 75].min() < 78
    uni = np.array([uniform_rotation(rng) for _ in range(2000)])
    p_u = np.degrees(np.arccos(np.abs(uni[:, 2] @ n_h)))
    f_u = np.degrees(np.arccos(np.abs(uni[:, 2] @ f_h)))
    # P(edge-on) ~ sin 15 = 0.26, P(axial) ~ 1 - cos 30 = 0.13: uniform views are mostly not hard
    assert 0.2 < ((p_u >= 75) | (f_u <= 30)).mean() < 0.45


def test_easy_and_natural_orientations():
    rng = np.random.default_rng(3)
    n_h, f_h = _canonical_axes(rng)
    easy = [easy_orientation(rng, n_h, f_h, 45.0) for _ in range(500)]
    nz = np.array([(R @ n_h)[2] for R in easy])
    assert (np.abs(nz) >= np.cos(np.radians(45)) - 1e-12).all() and 0.4 < (nz > 0).mean() < 0.6
    edges = {"bottom": 0.55, "left": 0.2, "right": 0.2, "top": 0.05}
    got = [natural_orientation(rng, edges, {"palm": 1, "back": 1, "side": 1}, (-30, 45), 40) for _ in range(2000)]
    for S, edge, facing in got[:200]:
        assert _is_rotation(S)
        u = S @ ARM_AXIS                              # forearm in the sight frame
        elev = np.degrees(np.arcsin(-u[2]))
        assert -30 - 1e-9 <= elev <= 45 + 1e-9
        off = np.degrees(np.arccos(np.dot(u[:2] / np.linalg.norm(u[:2]), EDGE_DIRECTION[edge])))
        assert off <= 40 + 1e-9
        palmar = S @ REST_PALMAR
        assert abs(np.dot(palmar, u)) < 1e-12
        toward = np.degrees(np.arccos(np.clip(-palmar[2] / np.sqrt(1 - u[2] ** 2), -1, 1)))   # roll from facing
        assert {"palm": toward <= 45 + 1e-6, "back": toward >= 135 - 1e-6,
                "side": 45 - 1e-6 <= toward <= 135 + 1e-6}[facing]
    freq = {e: np.mean([g[1] == e for g in got]) for e in edges}
    assert abs(freq["bottom"] - 0.55) < 0.05 and freq["top"] < 0.1


def test_view_kinds_of_each_mode():
    rng = np.random.default_rng(2)
    assert view_kinds(rng, "uniform") == ("uniform", "uniform")
    assert view_kinds(rng, "hard") == ("hard", "hard")
    assert view_kinds(rng, "natural") == ("natural", "uniform")
    assert view_kinds(rng, "easy_hard") == ("easy", "hard")
    mixed = [view_kinds(rng, "mixed", 0.3) for _ in range(2000)]
    assert abs(np.mean([k == "hard" for m in mixed for k in m]) - 0.3) < 0.03
    with pytest.raises(ValueError, match="rotation mode 'sideways'"):
        view_kinds(rng, "sideways")
    assert angle_deg(np.eye(3)) == pytest.approx(0.0)
    d = np.array([0.3, -0.2, 0.9])
    assert np.allclose(towards(d) @ np.array([0, 0, 1.0]), d / np.linalg.norm(d))
    assert _is_rotation(towards(d))


def _hand_points(rng):
    # an elongated point cloud of hand size: 0.18 m long, 0.09 m wide, 0.03 m thick, wrist at 0
    p = rng.uniform([-0.045, 0.0, -0.015], [0.045, 0.18, 0.015], size=(400, 3))
    p[0] = 0
    return p


@pytest.mark.parametrize("seed", range(12))
def test_camera_frames_both_views_with_margin(seed):
    rng = np.random.default_rng(seed)
    P = _hand_points(rng)
    R_a, R_b = uniform_rotation(rng), uniform_rotation(rng)
    cam = place_camera(P @ R_a.T, P @ R_b.T, rng, (128, 128), fill=(0.6, 0.8))
    uv = np.concatenate([project(cam.K, P @ R_a.T + cam.wrist), project(cam.K, P @ R_b.T + cam.wrist)])
    assert in_frame(uv, (128, 128)).all()
    margin = 0.02 * 128
    assert uv.min() >= margin - 1e-6 and uv.max() <= 127 - margin + 1e-6
    span = max(np.ptp(uv[:, 0]), np.ptp(uv[:, 1])) / 128
    assert span == pytest.approx(cam.fill, abs=0.01) and 0.6 <= cam.fill <= 0.8
    assert 28 <= cam.focal_mm <= 85 and cam.K[0, 0] == pytest.approx(cam.focal_mm / 36 * 128)
    # random focal length -> random distance
    assert cam.wrist[2] > 0.08


def test_camera_distance_varies_and_truncation_lets_points_leave():
    rng = np.random.default_rng(5)
    P = _hand_points(rng)
    dists, outside = [], 0
    for _ in range(30):
        R_a, R_b = uniform_rotation(rng), uniform_rotation(rng)
        cam = place_camera(P @ R_a.T, P @ R_b.T, rng, (64, 64), truncation=1.0)
        uv = project(cam.K, np.concatenate([P @ R_a.T, P @ R_b.T]) + cam.wrist)
        outside += (~in_frame(uv, (64, 64))).any()
        dists.append(cam.wrist[2])
        assert cam.truncated
    assert outside >= 10
    assert np.ptp(dists) > 0.1
