"""Losses: zero for a perfect prediction, positive otherwise; cycle loss ignores global rotation."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trainer import losses
from trainer.skeleton import REFERENCE_KEYPOINTS, hand_keypoints


def _poses(n=4, seed=0):
    g = np.random.default_rng(seed)
    X = np.stack([hand_keypoints(g.uniform(0, 80, (5, 3)), g.uniform(-10, 10, 5)) for _ in range(n)])
    R = Rotation.random(n, random_state=seed).as_matrix()
    return torch.as_tensor(np.einsum("nij,nkj->nki", R, X)), torch.as_tensor(
        Rotation.random(n, random_state=seed + 1).as_matrix())


def test_supervised_losses_zero_iff_perfect_and_masked():
    X, _ = _poses()
    w = torch.ones(len(X))
    assert losses.supervised_3d(X, X, w) == 0
    assert losses.supervised_3d(X + 0.01, X, w) == pytest.approx(100 * 0.01 * 3 ** 0.5, rel=1e-6)  # 1.73 cm
    # unlabeled samples do not count
    Y = X.clone()
    Y[1:] += 0.05
    assert losses.supervised_3d(Y, X, torch.tensor([1.0, 0, 0, 0])) == 0
    uv = X[..., :2]
    vis = torch.ones(X.shape[:2], dtype=torch.bool)
    assert losses.supervised_2d(uv, uv, vis, w) == 0
    assert losses.supervised_2d(uv + 0.1, uv, vis, w) > 0


def test_cycle_zero_for_consistent_predictions_positive_otherwise():
    pa, R = _poses()
    pb = torch.einsum("bij,bkj->bki", R, pa)
    assert losses.cycle(pa, pb, R) == pytest.approx(0, abs=1e-12)
    assert losses.cycle(pa, pb + 0.005, R) > 0.4           # 0.5 cm offsets -> ~0.87 cm
    assert losses.cycle(pa, pa, R) > 1.0                    # ignoring the rotation is penalised


def test_cycle_invariant_to_a_global_rotation():
    pa, R = _poses(seed=3)
    pb = torch.einsum("bij,bkj->bki", R, pa) + 0.003 * torch.randn(pa.shape, dtype=pa.dtype)
    Q = torch.as_tensor(Rotation.random(len(pa), random_state=9).as_matrix())
    before = losses.cycle(pa, pb, R)
    rot = lambda M, p: torch.einsum("bij,bkj->bki", M, p)   # noqa: E731
    after = losses.cycle(rot(Q, pa), rot(Q, pb), Q @ R @ Q.transpose(1, 2))
    assert before > 0 and after == pytest.approx(float(before), rel=1e-9)


def test_info_nce_near_zero_when_aligned_and_separated():
    z = torch.eye(8, dtype=torch.float64)
    assert losses.info_nce(z, z, temperature=0.05) < 1e-6
    assert losses.info_nce(z, z.roll(1, 0), temperature=0.05) > 10
    g = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert losses.info_nce(g, g, 0.1) < losses.info_nce(g, g.roll(1, 0), 0.1)


def test_anatomical_prior_zero_on_valid_hands_positive_on_broken_ones():
    X, _ = _poses(6)
    left = torch.zeros(len(X))
    assert losses.anatomical_prior(X, left) == 0
    # the same hands mirrored are valid left hands
    assert losses.anatomical_prior(X * torch.tensor([-1.0, 1, 1], dtype=X.dtype), torch.ones(len(X))) == 0
    bent_back = torch.as_tensor(hand_keypoints(np.full((5, 3), -70.0)))[None]
    assert losses.anatomical_prior(bent_back, torch.zeros(1)) > 0
    long_finger = torch.as_tensor(REFERENCE_KEYPOINTS.copy())[None]
    long_finger[0, 8] += (long_finger[0, 8] - long_finger[0, 7]) * 2     # index distal bone x3
    assert losses.anatomical_prior(long_finger, torch.zeros(1)) > 0
