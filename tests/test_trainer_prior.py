"""The pose prior (trainer/pose_prior.py) and the network's prior head: the PCA is rotation-free and
exact on poses it spans, an untrained prior head predicts the mean pose (so it scores the mean-pose
floor, whatever the image), the 6D rotation is a rotation, and left hands are mirrored."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trainer import metrics, pose_prior
from trainer.model import HandNet, ModelConfig, rotation_6d
from trainer.testing import write_prior_poses


@pytest.fixture(scope="module")
def poses(tmp_path_factory):
    return np.load(write_prior_poses(tmp_path_factory.mktemp("prior") / "p.npz", n=80))["keypoints"]


def _rotated(P, seed):
    R = Rotation.random(len(P), random_state=seed).as_matrix()
    return np.einsum("nij,nkj->nki", R, P)


def test_fit_is_free_of_rotation_size_and_side(poses):
    a = pose_prior.fit(poses, 10)
    scaled = _rotated(poses, 1) * 1.3 + 0.2               # turned, bigger, moved
    b = pose_prior.fit(scaled, 10)
    R = pose_prior.rotate_onto(b.mean[None], a.mean)[0]
    assert np.abs(R - a.mean).max() < 1e-6                 # the same mean, up to one rotation
    assert np.allclose(a.std, b.std, rtol=1e-6)
    left = metrics.mirror(poses, np.ones(len(poses), bool))
    c = pose_prior.fit(left, 10, left=np.ones(len(poses), bool))
    assert np.allclose(c.std, a.std, rtol=1e-6)
    assert np.allclose(a.basis @ a.basis.T, np.eye(10), atol=1e-9)      # orthonormal rows
    assert np.all(np.diff(a.std) <= 1e-12) and 0 < a.explained.sum() <= 1
    # coefficients of a pose do not depend on how it is turned
    ca = a.coefficients(pose_prior.canonical(poses[:5], a.mean))
    cb = a.coefficients(pose_prior.canonical(_rotated(poses[:5], 2), a.mean))
    assert np.abs(ca - cb).max() < 1e-6


def test_a_pose_in_the_span_is_reconstructed_exactly(poses):
    p = pose_prior.fit(poses, 63)
    canon = pose_prior.canonical(poses[:4], p.mean)
    assert np.abs(p.pose(p.coefficients(canon)) - canon).max() < 1e-9
    few = pose_prior.fit(poses, 3)
    err = np.abs(few.pose(few.coefficients(canon)) - canon).max()
    assert err > 1e-3                                        # 3 components do not span them all


def test_rotate_onto_is_kabsch_in_numpy_and_torch(poses):
    ref = pose_prior.normalise(poses[:1])[0]
    Q = _rotated(np.broadcast_to(ref, (6, 21, 3)), 3)
    assert np.abs(pose_prior.rotate_onto(Q, ref) - ref).max() < 1e-9
    t = pose_prior.rotate_onto(torch.as_tensor(Q), ref)
    assert isinstance(t, torch.Tensor) and (t.numpy() - ref).__abs__().max() < 1e-9


def test_kabsch_pairs_each_pose_with_its_own_ref(poses):
    """A batch of refs: each pose is turned onto its own ref, whatever the others are (an einsum
    over "...jk" once summed the refs of the whole batch)."""
    refs = torch.as_tensor(pose_prior.normalise(poses[:6]))
    R = torch.as_tensor(Rotation.random(6, random_state=4).as_matrix())
    P = refs @ R                                           # each ref turned its own way
    for n in (1, 6):
        Q = pose_prior.rotate_onto(P[:n], refs[:n])
        assert (Q - refs[:n]).abs().max() < 1e-9


def test_rotation_6d_gives_rotations():
    R = rotation_6d(torch.randn(16, 6))
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(16, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(16), atol=1e-5)


def test_an_untrained_prior_head_predicts_the_mean_pose_and_scores_the_floor(poses):
    prior = pose_prior.fit(poses, 8)
    net = HandNet(ModelConfig(crop=32, width=0.125, pose_head="prior", prior_components=8)).set_prior(prior).eval()
    left = torch.tensor([False, True, False, True])
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(images, torch.eye(3).expand(4, 3, 3) * 40, left)
    assert out["coef"].shape == (4, 8) and out["pose25d"].shape == (4, 21, 3)
    mean = torch.as_tensor(prior.mean, dtype=torch.float64)
    shapes = pose_prior.as_right(out["pose"].double(), left)          # left hands mirrored back
    assert (pose_prior.rotate_onto(shapes, mean) - mean).abs().max() < 1e-5   # the mean, turned
    # turned as the decoded 2.5D pose is: no other rotation lays it closer to that pose, to float32
    # precision (a 0.05 rad turn raised the sum by 1e-5 to 8e-4 of itself over 40 random inputs;
    # the fit's float32 rounding once left it 2e-5 below, with unseeded inputs)
    d = (out["pose"] - out["pose25d"]).pow(2).sum()
    R = torch.as_tensor(Rotation.from_rotvec([0.05, 0, 0]).as_matrix(), dtype=torch.float32)
    assert d <= (out["pose"] @ R - out["pose25d"]).pow(2).sum() * (1 + 1e-4)
    six = HandNet(ModelConfig(crop=32, width=0.125, prior_components=8, prior_rotation="6d")).set_prior(prior).eval()
    with torch.no_grad():
        p6 = six(torch.randn(4, 3, 32, 32), None, left)["pose"]
    assert torch.allclose(p6.double(), pose_prior.as_right(mean.expand(4, 21, 3), left), atol=1e-6)
    # its PA-MPJPE equals the floor's (the mean pose, mirrored for left hands) on any labels
    gt = metrics.mirror(_rotated(poses[:4], 4), left.numpy())
    floor = metrics.joint_errors_mm(metrics.every_view(prior.mean, left.numpy()), gt, align=True)
    got = metrics.joint_errors_mm(out["pose"].double().numpy(), gt, align=True)
    assert np.allclose(got, floor, atol=1e-3)


def test_the_prior_travels_in_the_checkpoint_state(poses):
    prior = pose_prior.fit(poses, 6)
    a = HandNet(ModelConfig(crop=32, width=0.125, prior_components=6)).set_prior(prior)
    b = HandNet(ModelConfig(crop=32, width=0.125, prior_components=6))
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.prior_basis, a.prior_basis) and b.prior_std.abs().sum() > 0
    with pytest.raises(ValueError, match="components"):
        HandNet(ModelConfig(crop=32, width=0.125, prior_components=20)).set_prior(prior)
    with pytest.raises(ValueError, match="pose_head"):
        HandNet(ModelConfig(crop=32, width=0.125, pose_head="mano"))
