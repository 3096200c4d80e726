"""Fitting the pose prior to 2.5D estimates (trainer/prior_fit.py): exact evidence of a hand the
prior spans is recovered (pose, rotation, size-free), left hands through the mirror, no evidence
leaves the mean pose, and noisy 2.5D fits closer than decoding it does."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trainer import metrics, pose25d, pose_prior
from trainer.prior_fit import FitConfig, fit, rodrigues
from trainer.testing import write_prior_poses

CROP = 32


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    poses = np.load(write_prior_poses(tmp_path_factory.mktemp("prior") / "p.npz", n=120))["keypoints"]
    p = pose_prior.fit(poses, 12)
    return p, [torch.as_tensor(a, dtype=torch.float64) for a in (p.mean, p.basis, p.std)]


def _views(p, n, seed, left):
    """Hands of the prior's span, turned, placed before a 32 px crop camera: labels and 2.5D."""
    g = np.random.default_rng(seed)
    coef = g.normal(size=(n, len(p.std))) * p.std
    S = metrics.mirror(p.pose(coef), left)
    R = Rotation.random(n, random_state=seed).as_matrix()
    X = np.einsum("nij,nkj->nki", R, S) * 0.09 + np.array([0.0, 0.0, 0.45])   # 9 cm palm, 45 cm away
    K = torch.tensor([[60.0, 0, 15.5], [0, 60.0, 15.5], [0, 0, 1]], dtype=torch.float64).expand(n, 3, 3)
    Xt = torch.as_tensor(X)
    uv, zrel, _ = pose25d.encode(Xt, K, CROP)
    return Xt - Xt[:, :1], uv, zrel, K, torch.as_tensor(left)


def test_rodrigues_is_a_rotation_and_exact_at_zero():
    w = torch.randn(8, 3, dtype=torch.float64)
    R = rodrigues(w)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(8, 3, 3), atol=1e-12)
    ref = Rotation.from_rotvec(w.numpy()).as_matrix()
    assert np.abs(R.numpy() - ref).max() < 1e-12
    assert torch.equal(rodrigues(torch.zeros(3, dtype=torch.float64)), torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("side", ["right", "left"])
def test_exact_evidence_recovers_the_hand(prior, side):
    p, (mean, basis, std) = prior
    n = 6
    X, uv, zrel, K, left = _views(p, n, 3, np.full(n, side == "left"))
    scale = pose25d.palm_scale(X)[:, None, None]
    start = X / scale + torch.randn_like(X) * 0.05     # a rough estimate (palm-scale units) to start from
    P, coef = fit(uv, zrel, K, left, mean, basis, std, start, size=CROP,
                  cfg=FitConfig(sigma_uv=1e-4, sigma_z=1e-4, iters=30))
    # palm-scale units, labels in metres: compare after Procrustes (scale-free), and directly scaled
    err = metrics.joint_errors_mm(P.numpy(), X.numpy(), align=True)
    assert err.max() < 0.05                            # the fit explains the evidence exactly
    assert (P - X / scale).abs().max() < 1e-4          # with the view's rotation


def test_without_evidence_the_fit_stays_at_the_mean_pose(prior):
    p, (mean, basis, std) = prior
    X, uv, zrel, K, left = _views(p, 4, 5, np.zeros(4, bool))
    P, coef = fit(uv, None, K, left, mean, basis, std, X, conf=torch.zeros(4, 21), size=CROP)
    assert coef.abs().max() < 1e-9
    ref = mean / pose25d.palm_scale(mean)              # the fit's hands have palm scale 1
    canon = pose_prior.rotate_onto(P.double(), ref)
    assert (canon - ref).abs().max() < 1e-9


def test_noisy_25d_fits_closer_than_it_decodes(prior):
    p, (mean, basis, std) = prior
    n = 40
    X, uv, zrel, K, left = _views(p, n, 7, np.zeros(n, bool))
    g = torch.Generator().manual_seed(0)
    uv_n = uv + torch.randn(uv.shape, generator=g, dtype=torch.float64) * 0.1     # 1.5 px
    zr_n = zrel + torch.randn(zrel.shape, generator=g, dtype=torch.float64) * 0.3
    dec = pose25d.decode(uv_n, zr_n, K, CROP)
    P, _ = fit(uv_n, zr_n, K, left, mean, basis, std, dec, size=CROP)
    e_dec = metrics.joint_errors_mm(dec.numpy(), X.numpy(), align=True).mean()
    e_fit = metrics.joint_errors_mm(P.numpy(), X.numpy(), align=True).mean()
    e_mean = metrics.joint_errors_mm(np.broadcast_to(p.mean, X.shape), X.numpy(), align=True).mean()
    assert e_fit < 0.5 * e_dec and e_fit < 0.75 * e_mean, (e_fit, e_dec, e_mean)


def test_joints_weighted_zero_are_ignored_in_2d_and_depth(prior):
    """conf and conf_z of 0 (a hidden joint): whatever its (u, v) and zrel say, the fit is the same,
    and with no joint weighted at all the fit stays at the mean pose even given zrel."""
    p, (mean, basis, std) = prior
    n = 6
    X, uv, zrel, K, left = _views(p, n, 9, np.zeros(n, bool))
    w = torch.ones(n, 21, dtype=torch.float64)
    hidden = torch.tensor([8, 12, 16, 20, 7])            # fingertips and one PIP, as behind the palm
    w[:, hidden] = 0
    cfg = FitConfig(sigma_uv=1e-3, sigma_z=1e-3, iters=30)
    start = X / pose25d.palm_scale(X)[:, None, None]
    P, _ = fit(uv, zrel, K, left, mean, basis, std, start, conf=w, conf_z=w, size=CROP, cfg=cfg)
    uv_bad, zr_bad = uv.clone(), zrel.clone()
    uv_bad[:, hidden] += 0.7
    zr_bad[:, hidden] -= 2.0
    P_bad, _ = fit(uv_bad, zr_bad, K, left, mean, basis, std, start, conf=w, conf_z=w, size=CROP, cfg=cfg)
    assert (P - P_bad).abs().max() < 1e-9
    P_all_bad, _ = fit(uv_bad, zr_bad, K, left, mean, basis, std, start, size=CROP, cfg=cfg)
    assert (P_all_bad - P).abs().max() > 0.05                  # weighted in, the same values do move it
    zero = torch.zeros(n, 21, dtype=torch.float64)
    _, coef = fit(uv, zrel, K, left, mean, basis, std, start, conf=zero, conf_z=zero, size=CROP)
    assert coef.abs().max() < 1e-9
