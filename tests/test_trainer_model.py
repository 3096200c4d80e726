"""The 2.5D representation decodes exact labels back to the exact pose; the network is ResNet-18
at width 1 and its integral soft-argmax lands where the heatmap mass is."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from generator.conventions import intrinsics
from trainer import pose25d
from trainer.model import HandNet, MobileNetV2, ModelConfig, ResNet
from trainer.skeleton import hand_keypoints


def _hands(n, seed=0, axial=False):
    g = np.random.default_rng(seed)
    X = np.stack([hand_keypoints(g.uniform(-10, 90, (5, 3)), g.uniform(-12, 12, 5), g.uniform(0.8, 1.2))
                  for _ in range(n)])
    R = Rotation.random(n, random_state=seed).as_matrix()
    if axial:       # fingers (canonical +y) along the optical axis, within a few degrees
        R = np.stack([Rotation.from_rotvec([np.pi / 2 + g.uniform(-0.05, 0.05), 0, 0]).as_matrix()
                      @ Rotation.from_rotvec([0, g.uniform(0, 2 * np.pi), 0]).as_matrix() for _ in range(n)])
    wrist = np.c_[g.uniform(-0.08, 0.08, (n, 2)), g.uniform(0.3, 0.9, n)]
    return np.einsum("nij,nkj->nki", R, X) + wrist[:, None]


@pytest.mark.parametrize("axial", [False, True])
def test_2p5d_decoding_round_trips_exact_labels(axial):
    X = torch.as_tensor(_hands(64, seed=3, axial=axial))
    g = np.random.default_rng(1)
    # crop intrinsics: any focal length and a principal point anywhere (crops move it)
    K = torch.as_tensor(np.stack([intrinsics(f, 64, 64) for f in g.uniform(80, 400, 64)]))
    K[:, :2, 2] += torch.as_tensor(g.uniform(-40, 40, (64, 2)))
    uv, zrel, s = pose25d.encode(X, K, 64)
    P = pose25d.decode(uv, zrel, K, 64)
    expected = (X - X[:, :1]) / s[:, None, None]
    assert torch.allclose(P, expected, atol=1e-6)
    assert torch.allclose(pose25d.palm_scale(P), torch.ones(64, dtype=P.dtype), atol=1e-6)
    assert (s > 0.05).all() and (s < 0.15).all()                 # metres: a hand's palm


def test_2p5d_is_blind_to_hand_size_and_distance():
    X = torch.as_tensor(_hands(8, seed=4))
    K = torch.as_tensor(intrinsics(200, 64, 64)).expand(8, 3, 3)
    uv, zrel, _ = pose25d.encode(X, K, 64)
    uv2, zrel2, _ = pose25d.encode(1.7 * X, K, 64)                 # bigger hand, 1.7x farther
    assert torch.allclose(uv, uv2) and torch.allclose(zrel, zrel2)


def test_backbone_is_resnet18_at_width_one():
    # torchvision's resnet18 has 11,689,512 parameters, of which its fc layer (512 x 1000 + 1000)
    # is 513,000: the convolutional trunk is 11,176,512
    n = sum(p.numel() for p in ResNet([64, 128, 256, 512]).parameters())
    assert n == 11_689_512 - 513_000
    assert ModelConfig(width=1.0).widths() == [64, 128, 256, 512]


def test_mobilenet_backbone_is_mobilenet_v2_and_feeds_the_same_pyramid():
    """torchvision's mobilenet_v2 has 3,504,872 parameters: its classifier (1280 x 1000 + 1000) is
    1,281,000 and its last 1x1 conv to 1,280 channels with batch norm 412,160; the rest, the
    trunk here, is 1,811,712. Every stem stride gives the heatmaps the same size as ResNet's."""
    assert sum(p.numel() for p in MobileNetV2(1.0).parameters()) == 3_504_872 - 1_281_000 - 412_160
    assert ModelConfig(backbone="mobilenet", width=1.0).widths() == [24, 32, 96, 320]
    torch.manual_seed(0)
    for stride in (4, 2, 1):
        net = HandNet(ModelConfig(crop=64, width=0.5, head_width=16, backbone="mobilenet", stem_stride=stride)).eval()
        feats = net.backbone(torch.randn(1, 3, 64, 64))
        assert [f.shape[-1] for f in feats] == [64 // stride >> k for k in range(4)]
        assert [f.shape[1] for f in feats] == net.cfg.widths()
        out = net(torch.randn(2, 3, 64, 64))
        assert out["log_prob"].shape == (2, 21, 64 // stride, 64 // stride) and torch.isfinite(out["uv"]).all()
    with pytest.raises(ValueError, match="backbone"):
        HandNet(ModelConfig(backbone="vgg"))


def test_forward_shapes_and_soft_argmax_location():
    torch.manual_seed(0)
    net = HandNet(ModelConfig(crop=64, width=0.125, head_width=16)).eval()
    K = torch.as_tensor(intrinsics(120.0, 64, 64), dtype=torch.float32).expand(2, 3, 3)
    out = net(torch.randn(2, 3, 64, 64), K)
    assert out["uv"].shape == (2, 21, 2) and out["zrel"].shape == (2, 21) and out["pose"].shape == (2, 21, 3)
    assert out["z"].shape == (2, 32, 3) and (out["conf"] > 0).all() and (out["conf"] <= 1).all()
    assert torch.isfinite(out["pose"]).all()
    # the heatmap grid's cells are centred on the pixel centres of the stride-4 cells
    assert net.grid[0] == pytest.approx(1.5 / 31.5 - 1) and net.grid[-1] == pytest.approx(61.5 / 31.5 - 1)
    with pytest.raises(ValueError, match="multiple of 32"):
        HandNet(ModelConfig(crop=48))


@pytest.mark.parametrize("stride", [1, 2])
def test_a_small_stem_keeps_the_crop_detail_and_its_grid_on_pixel_centres(stride):
    """With a stem of stride 1 or 2 the heatmaps are crop/stride wide, and the soft-argmax of a
    heatmap whose mass sits in one cell lands on that cell's pixel centre."""
    torch.manual_seed(0)
    net = HandNet(ModelConfig(crop=32, width=0.125, head_width=16, stem_stride=stride)).eval()
    out = net(torch.randn(2, 3, 32, 32))
    side = 32 // stride
    assert out["log_prob"].shape == (2, 21, side, side)
    # cell i covers pixels [i s, i s + s - 1]: its centre is i s + (s - 1) / 2, in crop units
    centre = lambda px: px / 15.5 - 1                      # noqa: E731 (crop units of a 32 px crop)
    assert net.grid[0] == pytest.approx(centre((stride - 1) / 2))
    assert net.grid[-1] == pytest.approx(centre((side - 1) * stride + (stride - 1) / 2))
    assert isinstance(net.backbone.maxpool, torch.nn.Identity)
    assert net.backbone.conv1.stride == (stride, stride) and net.backbone.conv1.kernel_size == (3, 3)
    with pytest.raises(ValueError, match="stem_stride"):
        HandNet(ModelConfig(crop=32, stem_stride=3))
