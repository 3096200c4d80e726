"""Metrics against hand-computed cases."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from trainer import metrics
from trainer.evaluate import plot_pck, report


def test_pa_mpjpe_hand_computed():
    # gt: a cross in the xy plane (mm -> m). pred = gt with +-z offsets whose best similarity fit is
    # scale s = trace / |P|^2 = 4 / 8 = 0.5 and identity rotation, leaving a (s-1, 0, s*d) residual
    # of length sqrt(0.5) per point: 0.7071 * 10 mm.
    gt = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], float)[None] * 0.01
    pred = gt + np.array([[0, 0, 1], [0, 0, 1], [0, 0, -1], [0, 0, -1]], float)[None] * 0.01
    assert metrics.joint_errors_mm(pred, gt, align=True).mean() == pytest.approx(10 * 0.5 ** 0.5, rel=1e-9)
    # invariant to a similarity transform of the prediction
    R = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    moved = 3.0 * pred @ R.T + [0.1, -0.2, 0.5]
    assert metrics.joint_errors_mm(moved, gt, align=True).mean() == pytest.approx(10 * 0.5 ** 0.5, rel=1e-9)
    # root-relative MPJPE of the unaligned offsets: 10 mm each, but root-relative (point 0 is root)
    assert metrics.joint_errors_mm(pred, gt).mean() == pytest.approx((0 + 0 + 20 + 20) / 4, rel=1e-9)


def test_auc_known_curves():
    t = metrics.PCK_THRESHOLDS_MM
    assert metrics.auc(t / 50.0) == pytest.approx(0.5)
    assert metrics.auc(metrics.pck_curve(np.zeros(10))) == pytest.approx(1.0)
    assert metrics.auc(metrics.pck_curve(np.full(10, 25.0))) == pytest.approx(0.5)
    assert metrics.auc(metrics.pck_curve(np.full(10, 60.0))) == 0.0
    # half the joints perfect, half beyond range -> 0.5
    assert metrics.auc(metrics.pck_curve(np.r_[np.zeros(5), np.full(5, 99.0)])) == pytest.approx(0.5)


def test_pck_2d_counts_visible_only():
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[0.01, 0], [0.5, 0], [9, 9]]])
    assert metrics.pck_2d(pred, gt, np.array([[True, True, False]]), 0.1) == 0.5


def test_report_subsets_floor_and_plot(tmp_path):
    g = np.random.default_rng(0)
    gt = g.normal(size=(12, 21, 3)) * 0.03
    p = {"pred3d": gt + 0.005, "gt3d": gt, "pred2d": np.zeros((12, 21, 2)), "gt2d": np.zeros((12, 21, 2)),
         "vis": np.ones((12, 21), bool), "palm_deg": np.linspace(0, 90, 12), "finger_deg": np.full(12, 60.0),
         "easy": np.arange(12) < 4, "hard": np.arange(12) >= 9, "left": np.zeros(12, bool)}
    r = report(p, mean_pose=metrics.mean_pose(gt))
    assert r["count"] == 12 and r["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6)
    assert r["easy_views"]["count"] == 4 and r["hard_views"]["count"] == 3
    assert sum(b["count"] for b in r["by_palm_deg"].values()) == 12
    assert r["mean_pose_floor"]["pa_mpjpe_mm"] > 5
    png = plot_pck({"x": r["pck_curve_3d"]}, tmp_path / "pck.png")
    assert png.stat().st_size > 500


def test_mean_pose_is_the_procrustes_mean_of_rotated_scaled_copies():
    from trainer.skeleton import hand_keypoints
    base = hand_keypoints(np.full((5, 3), 20.0))
    R = Rotation.random(30, random_state=2).as_matrix()
    s = np.random.default_rng(1).uniform(0.8, 1.2, 30)
    poses = s[:, None, None] * np.einsum("nij,kj->nki", R, base)
    left = np.arange(30) % 3 == 0
    m = metrics.mean_pose(metrics.mirror(poses, left), left)     # left hands given as mirror images
    assert metrics.joint_errors_mm(m[None], base[None], align=True).max() < 1e-6
    # both views of pairs give the same mean; predicted for every view it scores 0 on those
    # copies, mirrored for exactly the left hands
    pair_left = np.arange(15) % 3 == 0
    left = np.repeat(pair_left, 2)
    pairs = metrics.mirror(poses, left).reshape(15, 2, 21, 3)
    m2 = metrics.pairs_mean_pose(pairs, pair_left)
    assert metrics.joint_errors_mm(m2[None], base[None], align=True).max() < 1e-6
    const = metrics.every_view(m2, left)
    assert const.shape == (30, 21, 3) and np.allclose(const[~left], m2) and np.allclose(const[left, :, 0], -m2[:, 0])
    assert metrics.joint_errors_mm(const, metrics.mirror(poses, left), align=True).max() < 1e-6


def test_report_splits_a_runs_train_pairs_by_its_label_budget():
    from trainer.data import label_keep
    g = np.random.default_rng(1)
    keys = np.array([f"shard-000000.tar/{i:09d}" for i in range(40)])
    lab = np.array([label_keep(k, 0.3) for k in keys])
    assert 0 < lab.sum() < 40
    gt = g.normal(size=(40, 21, 3)) * 0.03
    pred = gt + np.where(lab, 0.0, 1.0)[:, None, None] * g.normal(size=gt.shape) * 0.01   # exact on labeled pairs
    p = {"pred3d": pred, "gt3d": gt, "pred2d": np.zeros((40, 21, 2)), "gt2d": np.zeros((40, 21, 2)),
         "vis": np.ones((40, 21), bool), "palm_deg": np.full(40, 10.0), "finger_deg": np.full(40, 60.0),
         "easy": np.ones(40, bool), "hard": np.zeros(40, bool), "left": np.zeros(40, bool), "key": keys}
    r = report(p, label_fraction=0.3)["by_label_budget"]
    assert r["label_fraction"] == 0.3
    assert r["labeled_pairs"]["count"] == lab.sum() and r["other_pairs"]["count"] == 40 - lab.sum()
    assert r["labeled_pairs"]["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6) and r["other_pairs"]["pa_mpjpe_mm"] > 5
    assert "by_label_budget" not in report(p)
    with pytest.raises(ValueError, match="keys"):
        report({k: v for k, v in p.items() if k != "key"}, label_fraction=0.3)
