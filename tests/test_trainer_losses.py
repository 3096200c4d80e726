"""Losses: zero for a perfect prediction, positive otherwise; the teacher target carries no
gradient and a collapsed prediction does not minimise it; PeCLR asks features to turn with the hand."""
import math

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


def _rot(R, P):
    return torch.einsum("bij,bkj->bki", R, P)


def test_supervised_losses_zero_iff_perfect_and_masked():
    X, _ = _poses()
    assert losses.pose_loss(X, X) == 0 and losses.pose_loss(X + 0.01, X) > 0
    uv = X[..., :2]
    vis = torch.ones(X.shape[:2], dtype=torch.bool)
    assert losses.uv_loss(uv, uv, vis) == 0
    assert losses.uv_loss(uv + 0.1, uv, vis) == pytest.approx(0.2)
    # joints outside the image or crop do not count
    off = uv.clone()
    off[:, 3] += 5
    vis[:, 3] = False
    assert losses.uv_loss(off, uv, vis) == 0
    z = X[..., 2]
    assert losses.depth_loss(z, z) == 0 and losses.depth_loss(z + 0.1, z) == pytest.approx(0.1)


def test_teacher_target_carries_no_gradient():
    from trainer.model import HandNet, ModelConfig
    from trainer.teacher import EMATeacher
    torch.manual_seed(0)
    student = HandNet(ModelConfig(crop=32, width=0.125, head_width=16, pose_head="25d"))
    teacher = EMATeacher(student, 0.99)
    x = torch.randn(4, 3, 32, 32)
    K = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]]).expand(4, 3, 3)
    _, R = _poses()
    t = teacher(x, K)
    assert not t["pose"].requires_grad
    loss = losses.teacher(student(x.flip(-1), K)["pose"], t["pose"], R.float())
    loss.backward()
    assert all(p.grad is None for p in teacher.model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    # even a target that requires grad is detached by the loss
    target = torch.randn(4, 21, 3, requires_grad=True)
    losses.teacher(torch.randn(4, 21, 3, requires_grad=True), target, R.float()).backward()
    assert target.grad is None
    # the EMA moves the teacher toward the student, by (1 - decay) of the gap
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    before = [q.clone() for q in teacher.model.parameters()]
    teacher.update(student)
    for b, q, p in zip(before, teacher.model.parameters(), student.parameters()):
        assert torch.allclose(q, b + 0.01 * (p - b), atol=1e-6)


def test_a_collapsed_prediction_scores_worse_than_a_correct_one():
    Pa, R = _poses(8, seed=5)
    Pb = _rot(R, Pa)
    correct = losses.teacher(Pb, Pa, R)
    # collapse: one constant pose for every image (the mean shape), from teacher and student alike
    mean = Pa.mean(0, keepdim=True).expand_as(Pa)
    collapsed = losses.teacher(mean, mean, R)
    assert correct == pytest.approx(0, abs=1e-12) and collapsed > 0.01
    # ... and the zero pose, which minimises the naive symmetric loss exactly, scores worse too
    zero = torch.zeros_like(Pa)
    assert losses.cycle_naive(zero, zero, R) == 0                  # the collapse the ablation shows
    assert losses.teacher(zero, Pa, R) > 0.01


def test_shape_teacher_pairs_coefficients_and_rotated_25d_and_passes_no_gradient_to_its_targets():
    """teacher_shape: zero when the student's view-b coefficients equal the teacher's view-a ones
    and its 2.5D pose is the teacher's pose turned by R; a collapsed (constant) student scores
    worse; the coefficient term does not care how the student's pose is turned."""
    Pa, R = _poses(8, seed=7)
    g = torch.Generator().manual_seed(0)
    ca = torch.randn(8, 15, generator=g, dtype=Pa.dtype) * 0.2
    assert losses.teacher_shape(_rot(R, Pa), ca, Pa, ca, R) == pytest.approx(0, abs=1e-12)
    collapsed = losses.teacher_shape(Pa.mean(0, keepdim=True).expand_as(Pa), torch.zeros_like(ca), Pa, ca, R)
    assert collapsed > 0.05
    # a wrong rotation of the student's 2.5D costs only the pose term; the shape term stays 0
    wrong = losses.teacher_shape(_rot(R.transpose(1, 2), Pa), ca, Pa, ca, R)
    assert wrong == pytest.approx(float(losses.teacher(_rot(R.transpose(1, 2), Pa), Pa, R)))
    # targets that require grad are detached; the student's inputs get gradients
    sb, cb = _rot(R, Pa).clone().requires_grad_(True), ca.clone().add(0.1).requires_grad_(True)
    ta, tc = Pa.clone().requires_grad_(True), ca.clone().requires_grad_(True)
    losses.teacher_shape(sb, cb, ta, tc, R).backward()
    assert ta.grad is None and tc.grad is None and cb.grad.abs().sum() > 0


def test_naive_cycle_zero_for_consistent_predictions_and_invariant_to_global_rotation():
    pa, R = _poses(seed=3)
    pb = _rot(R, pa)
    assert losses.cycle_naive(pa, pb, R) == pytest.approx(0, abs=1e-12)
    assert losses.cycle_naive(pa, pa, R) > 0.01                   # ignoring the rotation is penalised
    pb = pb + 0.003 * torch.randn(pa.shape, dtype=pa.dtype)
    Q = torch.as_tensor(Rotation.random(len(pa), random_state=9).as_matrix())
    before = losses.cycle_naive(pa, pb, R)
    after = losses.cycle_naive(_rot(Q, pa), _rot(Q, pb), Q @ R @ Q.transpose(1, 2))
    assert before > 0 and after == pytest.approx(float(before), rel=1e-9)


def test_peclr_rewards_features_that_turn_with_the_hand():
    g = torch.Generator().manual_seed(0)
    za = torch.randn(16, 8, 3, generator=g, dtype=torch.float64)
    R = torch.as_tensor(Rotation.random(16, random_state=1).as_matrix())
    equivariant = losses.peclr(za, _rot(R, za), R, 0.1)
    invariant = losses.peclr(za, za, R, 0.1)         # features that ignore the rotation
    assert equivariant < 0.05 and invariant > equivariant + 1.0
    z = torch.eye(8, dtype=torch.float64)
    assert losses.nt_xent(z, z, 0.05) < 1e-6 and losses.nt_xent(z, z.roll(1, 0), 0.05) > 10


def test_bone_ratio_monitor():
    X, _ = _poses()
    assert losses.bone_ratio(X, X) == pytest.approx(1.0)
    assert losses.bone_ratio(0.1 * X, X) == pytest.approx(0.1)


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


def test_part_loss_rewards_the_right_part_and_skips_unknown_pixels():
    from trainer.cache import PARTS_UNKNOWN
    target = torch.randint(0, 23, (2, 16, 16))
    target[1, :8] = PARTS_UNKNOWN
    cells = target[:, 2::4, 2::4]                          # what a stride-4 map of 4x4 cells reads
    right = torch.nn.functional.one_hot(cells.clamp(max=22), 23).permute(0, 3, 1, 2).float() * 20
    flat = torch.zeros(2, 23, 4, 4)
    assert losses.parts_loss(right, target, PARTS_UNKNOWN) < 1e-6
    assert abs(float(losses.parts_loss(flat, target, PARTS_UNKNOWN)) - math.log(23)) < 1e-5
    none = flat.clone().requires_grad_()
    loss = losses.parts_loss(none, torch.full_like(target, PARTS_UNKNOWN), PARTS_UNKNOWN)
    loss.backward()
    assert float(loss.detach()) == 0.0 and none.grad is not None


def test_most_confident_keeps_the_share_whose_heatmaps_peak_highest():
    from trainer.teacher import most_confident
    conf = torch.tensor([0.2, 0.9, 0.5, 0.1])[:, None].expand(4, 21).clone()
    conf[3, 0] = 0.95                                   # one sharp joint does not make a confident pose
    assert most_confident(conf, 1.0).tolist() == [0, 1, 2, 3]
    assert most_confident(conf, 0.5).tolist() == [1, 2]
    assert most_confident(conf, 0.01).tolist() == [1]  # at least one
