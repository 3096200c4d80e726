"""Rotations (uniform / hard views) and pair camera framing: render-free."""
import numpy as np
import pytest

from generator.camera import in_frame, place_camera
from generator.conventions import project
from generator.rotations import (angle_deg, hard_rotation, is_hard_view, sample_pair_rotations,
                                 uniform_rotation, view_angles)


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


def test_hard_views_meet_their_definition_and_uniform_ones_mostly_do_not():
    rng = np.random.default_rng(1)
    hard = [hard_rotation(rng, 15, 30) for _ in range(2000)]
    assert all(_is_rotation(R) for R in hard[:50])
    assert all(is_hard_view(R, 15, 30) for R in hard)
    angles = np.array([[view_angles(R)["palm_tilt"], view_angles(R)["finger_axis"]] for R in hard])
    # both kinds occur, and the edge-on ones spread over the whole allowed band
    assert (angles[:, 0] <= 15).mean() > 0.4 and (angles[:, 1] <= 30).mean() > 0.4
    assert angles[angles[:, 0] <= 15, 0].max() > 12
    uni = [uniform_rotation(rng) for _ in range(2000)]
    frac = np.mean([is_hard_view(R, 15, 30) for R in uni])
    # P(|n_z| <= sin 15) + P(|d_z| >= cos 30) - overlap ~ 0.26 + 0.13 - ...; far from 1
    assert 0.2 < frac < 0.45


def test_pair_rotations_compose():
    rng = np.random.default_rng(2)
    for mode in ("uniform", "hard", "mixed"):
        R_a, R_b, R_ab = sample_pair_rotations(rng, mode)
        assert np.allclose(R_ab @ R_a, R_b, atol=1e-12)
        assert _is_rotation(R_ab)
    with pytest.raises(ValueError, match="rotation mode 'sideways'"):
        sample_pair_rotations(rng, "sideways")
    assert angle_deg(np.eye(3)) == pytest.approx(0.0)


def _hand_points(rng):
    # an elongated point cloud of hand size: 0.18 m long, 0.09 m wide, 0.03 m thick, wrist at 0
    p = rng.uniform([-0.045, 0.0, -0.015], [0.045, 0.18, 0.015], size=(400, 3))
    p[0] = 0
    return p


@pytest.mark.parametrize("seed", range(12))
def test_camera_frames_both_views_with_margin(seed):
    rng = np.random.default_rng(seed)
    P = _hand_points(rng)
    R_a, R_b, _ = sample_pair_rotations(rng, "uniform")
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
        R_a, R_b, _ = sample_pair_rotations(rng, "uniform")
        cam = place_camera(P @ R_a.T, P @ R_b.T, rng, (64, 64), truncation=1.0)
        uv = project(cam.K, np.concatenate([P @ R_a.T, P @ R_b.T]) + cam.wrist)
        outside += (~in_frame(uv, (64, 64))).any()
        dists.append(cam.wrist[2])
        assert cam.truncated
    assert outside >= 10
    assert np.ptp(dists) > 0.1
