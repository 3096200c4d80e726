"""The keypoint network: a ResNet-18 backbone, a feature-pyramid head with per-joint heatmaps and
depth maps, integral soft-argmax to 2.5D (trainer/pose25d.py), and a projection head for the
contrastive loss.

Backbone: ResNet-18's topology (He et al. 2016: 7x7 stride-2 stem, max-pool, four stages of two
BasicBlocks, strides 4-8-16-32) written out here, with a width multiplier (widths 64-128-256-512
are ResNet-18 itself: 11.18 M backbone parameters, the count of torchvision's resnet18 without its
fc layer; tests/test_trainer_model.py checks it). Why not torchvision's: PyPI's torchvision fails
to import beside the CPU torch 2.13 pinned here ('operator torchvision::nms does not exist'); the
pair that works (torch 2.14.1 + torchvision 0.29.1) is a 5.5 GB CUDA build, which would multiply
`make setup` and CI on CPU machines for ~40 lines of code. timm needs torchvision.
``backbone="mobilenet"``: MobileNetV2's trunk (Sandler et al. CVPR'18) feeding the same pyramid;
on this CPU it costs about twice the step time at no better pose (docs/TRAINING.md), so ResNet is
the default.

Head (Iqbal et al. ECCV'18, Sun et al. ECCV'18 integral regression): the stride-32 features are
upsampled step by step and merged with the stride-16, -8 and -4 stages (as in an FPN), then a 1x1
conv gives, per joint, a heatmap H_j and a depth map D_j at stride 4 (the stem's stride:
``stem_stride`` 2 or 1 keeps a small crop's detail). The softmax of H_j is a probability map;
its expectation over pixel centres is the joint's (u, v) in crop units [-1, 1], and the
expectation of D_j under it is the joint's relative depth zrel_j; ``conf`` is the largest
probability mass in a 2x2 window. Everything is differentiable and sub-pixel, with no argmax.

Outputs of ``forward``: ``uv`` (B, 21, 2), ``zrel`` (B, 21), ``conf`` (B, 21), ``log_prob``
(B, 21, h, w) the heatmaps' log-probabilities (for the heatmap loss), ``z`` (B, proj_vectors, 3) the contrastive projection as 3-vectors
so that it can be rotated (PeCLR), with ``part_classes`` ``parts`` (B, C, h, w) part logits (the
part loss), and, with ``K``, ``pose`` = decode(uv, zrel, K) (B, 21, 3) root-relative in units of
the palm scale.

Prior head (``pose_head="prior"``, the default): ``pose`` is instead a hand from the statistical prior
of trainer/pose_prior.py, R (mean + coef . basis) with R from a 6D rotation (Zhou et al. CVPR'19),
regressed from the pooled backbone and pyramid features and the 2.5D estimates; ``coef`` (B, k)
are its coefficients in palm-scale units. At initialisation it predicts the mean pose, the floor,
so what the network learns can only move it below. The decoded 2.5D pose stays as ``pose25d``.
``left`` (B,) marks left hands (the prior is a right hand, mirrored for them).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
import torch.nn.functional as F

from generator.conventions import NUM_KEYPOINTS
from trainer import pose25d, pose_prior
from trainer.precision import float32

HEADS = ("prior", "25d")
PRIOR_ROTATIONS = ("fit", "6d")


@dataclasses.dataclass
class ModelConfig:
    crop: int = 64
    width: float = 0.5                      # 1.0 = ResNet-18's widths 64-128-256-512 (MobileNetV2's)
    backbone: str = "resnet"                # resnet: ResNet-18; mobilenet: MobileNetV2 (depthwise blocks)
    blocks: tuple[int, ...] = (2, 2, 2, 2)  # ResNet-18
    head_width: int | None = None           # feature-pyramid channels; None: 128 x width (at least 16)
    proj_vectors: int = 32                  # contrastive projection: 32 3-vectors
    pose_head: str = "prior"                # "prior": pose = rotation x (mean + PCA); "25d": decoded 2.5D
    prior_components: int = 15              # PCA components of the prior head (trainer/pose_prior.py)
    prior_rotation: str = "fit"             # "fit": turned onto the decoded 2.5D pose; "6d": regressed
    stem_stride: int = 4                    # 4: ResNet's 7x7/2 conv + max-pool; 2 or 1: one 3x3 conv of
                                            # that stride, no pool (small crops: fingers are 1-2 px wide)
    part_classes: int = 0                   # > 0: a part-segmentation head (auxiliary loss, training only)
    mirror_left: bool = False               # trained on left hands mirrored to right ones (trainer/data.py):
                                            # its inputs must be mirrored the same way
    upright: bool = False                   # trained with upright crops too: evaluated in two passes
                                            # (plain crop -> hand axis -> upright crop; trainer/evaluate.py)

    def widths(self) -> list[int]:
        """The four pyramid stages' channels."""
        if self.backbone == "mobilenet":
            return MobileNetV2.widths(self.width)
        return [max(8, int(round(c * self.width))) for c in (64, 128, 256, 512)]

    def head(self) -> int:
        return self.head_width or max(16, int(round(128 * self.width)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


STEM_STRIDES = (1, 2, 4)


class ResNet(nn.Module):
    """ResNet-18-style feature extractor returning the four stages' outputs (strides 4-32 with
    ResNet's stem; s-8s with a stem of stride s)."""

    def __init__(self, widths: list[int], blocks=(2, 2, 2, 2), stem_stride: int = 4):
        super().__init__()
        if stem_stride not in STEM_STRIDES:
            raise ValueError(f"stem_stride must be one of {STEM_STRIDES}, got {stem_stride}")
        if stem_stride == 4:
            self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:                       # as ResNets for 32 px images (CIFAR) do: no early loss of detail
            self.conv1 = nn.Conv2d(3, widths[0], 3, stem_stride, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, (cout, n) in enumerate(zip(widths, blocks)):
            layers = [BasicBlock(cin if j == 0 else cout, cout, 2 if (j == 0 and i > 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.layers = nn.ModuleList(stages)

    def forward(self, x) -> list[torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion (x t), 3x3 depthwise, linear 1x1 projection, with the
    skip connection where shape allows."""

    def __init__(self, cin, cout, stride, t):
        super().__init__()
        mid = cin * t
        layers = [] if t == 1 else [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                   nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.skip else y


# MobileNetV2 (Sandler et al. CVPR'18) after its 32-channel stem: (expansion t, channels, repeats,
# stride); the pyramid reads the outputs at strides 4, 8, 16 and 32 (24, 32, 96, 320 channels)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
MOBILENET_TAPS = (1, 2, 4, 6)           # rows of MOBILENET_V2 whose output is a pyramid stage


def divisible(c: float, d: int = 8) -> int:
    """MobileNet's channel rounding: to a multiple of d, at least d, never below 90% of c."""
    r = max(d, int(c + d / 2) // d * d)
    return r + d if r < 0.9 * c else r


class MobileNetV2(nn.Module):
    """MobileNetV2-style feature extractor returning four stages' outputs (strides 4-32 with the
    usual stem; s-8s with ``stem_stride`` s: the stem conv and the first stride-2 row give way)."""

    def __init__(self, width: float = 1.0, stem_stride: int = 4):
        super().__init__()
        if stem_stride not in STEM_STRIDES:
            raise ValueError(f"stem_stride must be one of {STEM_STRIDES}, got {stem_stride}")
        cin = divisible(32 * width)
        self.stem = nn.Sequential(nn.Conv2d(3, cin, 3, min(2, stem_stride), 1, bias=False), nn.BatchNorm2d(cin),
                                  nn.ReLU6())
        early = stem_stride // min(2, stem_stride)              # the stride left for the stride-4 row
        rows = []
        for i, (t, c, n, s) in enumerate(MOBILENET_V2):
            cout = divisible(c * width)
            s = early if i == 1 else s
            rows.append(nn.Sequential(*[InvertedResidual(cin if j == 0 else cout, cout, s if j == 0 else 1, t)
                                        for j in range(n)]))
            cin = cout
        self.rows = nn.ModuleList(rows)

    @staticmethod
    def widths(width: float) -> list[int]:
        return [divisible(MOBILENET_V2[i][1] * width) for i in MOBILENET_TAPS]

    def forward(self, x) -> list[torch.Tensor]:
        x, feats = self.stem(x), []
        for i, row in enumerate(self.rows):
            x = row(x)
            if i in MOBILENET_TAPS:
                feats.append(x)
        return feats


BACKBONES = {"resnet": "ResNet-18", "mobilenet": "MobileNetV2"}     # option -> the network's name


def _conv_bn(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class HandNet(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        if cfg.crop % 32:
            raise ValueError(f"crop must be a multiple of 32 (the backbone's stride), got {cfg.crop}")
        self.cfg = cfg
        w = cfg.widths()
        hw = cfg.head()
        if cfg.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {cfg.backbone!r}")
        self.backbone = (ResNet(w, cfg.blocks, cfg.stem_stride) if cfg.backbone == "resnet"
                         else MobileNetV2(cfg.width, cfg.stem_stride))
        self.lateral = nn.ModuleList([nn.Conv2d(c, hw, 1) for c in w])
        self.smooth = nn.ModuleList([_conv_bn(hw, hw) for _ in w[:-1]])
        self.out = nn.Sequential(_conv_bn(hw, hw), nn.Conv2d(hw, 2 * NUM_KEYPOINTS, 1))
        self.proj = nn.Sequential(nn.Linear(w[-1], 256), nn.ReLU(), nn.Linear(256, 3 * cfg.proj_vectors))
        # per-pixel part logits at the heatmaps' stride: dense supervision that tells the features
        # which finger segment each pixel shows (a labeled view's part-ID pass)
        self.parts = nn.Conv2d(hw, cfg.part_classes, 1) if cfg.part_classes else None
        if cfg.pose_head not in HEADS:
            raise ValueError(f"pose_head must be one of {', '.join(HEADS)}, got {cfg.pose_head!r}")
        if cfg.pose_head == "prior":
            k = cfg.prior_components
            # pooled features of the backbone and of the pyramid, the 2.5D estimates (uv, zrel) and
            # the joints' heatmaps pooled to 4 x 4 (where each joint may be, not only its mean)
            if cfg.prior_rotation not in PRIOR_ROTATIONS:
                raise ValueError(f"prior_rotation must be one of {', '.join(PRIOR_ROTATIONS)}, got {cfg.prior_rotation!r}")
            self.n_rot = 6 if cfg.prior_rotation == "6d" else 0
            self.prior_mlp = nn.Sequential(nn.Linear(w[-1] + hw + 3 * NUM_KEYPOINTS + 16 * NUM_KEYPOINTS, 256), nn.ReLU(),
                                           nn.Linear(256, self.n_rot + k))
            last = self.prior_mlp[-1]
            nn.init.zeros_(last.weight)                         # starts at the mean pose (6d: unturned)
            with torch.no_grad():
                last.bias.zero_()
                if self.n_rot:
                    last.bias[:6] = torch.tensor([1.0, 0, 0, 0, 1.0, 0])
            # filled by set_prior (and by load_state_dict: they are part of a checkpoint)
            self.register_buffer("prior_mean", torch.zeros(NUM_KEYPOINTS, 3))
            self.register_buffer("prior_basis", torch.zeros(k, 3 * NUM_KEYPOINTS))
            self.register_buffer("prior_std", torch.zeros(k))
        st = cfg.stem_stride                                    # the heatmaps' stride
        side = cfg.crop // st
        centres = (torch.arange(side, dtype=torch.float32) * st + (st - 1) / 2) / ((cfg.crop - 1) / 2) - 1
        self.register_buffer("grid", centres, persistent=False)  # pixel-centre coordinates, crop units

    def set_prior(self, prior) -> "HandNet":
        """Load a trainer.pose_prior.PosePrior (its first prior_components rows) into the head."""
        k = self.cfg.prior_components
        if prior.components < k:
            raise ValueError(f"the pose prior has {prior.components} components, the head needs {k}")
        for name, a in (("prior_mean", prior.mean), ("prior_basis", prior.basis[:k]), ("prior_std", prior.std[:k])):
            getattr(self, name).copy_(torch.as_tensor(a, dtype=torch.float32))
        return self

    def prior_pose(self, feats: torch.Tensor, left: torch.Tensor | None,
                   pose25d: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Global features -> (coefficients (B, k) in palm-scale units, camera-frame pose (B, 21, 3)
        = R (mean + coef basis), mirrored in x before the rotation for left hands). R is regressed
        (6d), or (fit) the rotation that lays the shape onto the decoded 2.5D pose in least squares,
        without gradient: the 2.5D estimate says how the hand is turned, the prior what shape it has."""
        return self._prior_shape(self.prior_mlp(feats), left, pose25d)

    @float32
    def _prior_shape(self, o, left, pose25d):
        coef = o[:, self.n_rot:] * self.prior_std
        P = self.prior_mean + (coef @ self.prior_basis).view(-1, NUM_KEYPOINTS, 3)
        if left is not None:
            P = pose_prior.as_right(P, left)
        if self.n_rot:
            return coef, torch.einsum("bij,bkj->bki", rotation_6d(o[:, :6]), P)
        if pose25d is None:
            return coef, P
        with torch.no_grad():
            R = pose_prior.kabsch(P.detach(), pose25d.detach())
        return coef, P @ R

    def features(self, x):
        feats = self.backbone(x)
        y = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[i](y + self.lateral[i](feats[i]))
        return y, feats[-1]

    def forward(self, x: torch.Tensor, K: torch.Tensor | None = None,
                left: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x.shape[-1] != self.cfg.crop or x.shape[-2] != self.cfg.crop:
            raise ValueError(f"HandNet was built for {self.cfg.crop}px crops, got {tuple(x.shape[-2:])}")
        y, top = self.features(x)
        maps = self.out(y).float()                              # soft-argmax in float32 under autocast
        B, _, h, w = maps.shape
        logits, depth = maps[:, :NUM_KEYPOINTS], maps[:, NUM_KEYPOINTS:]
        log_prob = logits.flatten(2).log_softmax(-1).view(B, NUM_KEYPOINTS, h, w)
        prob = log_prob.exp()
        u = (prob.sum(2) * self.grid).sum(-1)
        v = (prob.sum(3) * self.grid).sum(-1)
        out = {"uv": torch.stack([u, v], -1), "zrel": (prob * depth).sum((2, 3)),
               "conf": (F.avg_pool2d(prob, 2, 1) * 4).flatten(2).amax(-1),
               "z": self.proj(top.mean((2, 3))).float().view(B, -1, 3), "log_prob": log_prob}
        if self.parts is not None:
            out["parts"] = self.parts(y).float()
        if K is not None:
            out["pose25d"] = pose25d.decode(out["uv"], out["zrel"], K.float(), self.cfg.crop)
            out["pose"] = out["pose25d"]
        if self.cfg.pose_head == "prior":
            g = torch.cat([top.mean((2, 3)).float(), y.mean((2, 3)).float(), out["uv"].flatten(1), out["zrel"],
                           F.adaptive_avg_pool2d(prob, 4).flatten(1) * (h * w / 16)], 1)
            out["coef"], out["pose"] = self.prior_pose(g, left, out.get("pose25d"))
        return out


def rotation_6d(r: torch.Tensor) -> torch.Tensor:
    """(B, 6) -> (B, 3, 3) rotations (Zhou et al. CVPR'19: Gram-Schmidt on two 3-vectors, which
    become the first two columns)."""
    a = F.normalize(r[:, :3], dim=-1)
    b = F.normalize(r[:, 3:] - (a * r[:, 3:]).sum(-1, keepdim=True) * a, dim=-1)
    return torch.stack([a, b, torch.linalg.cross(a, b)], -1)
