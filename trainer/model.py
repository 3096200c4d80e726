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

Head (Iqbal et al. ECCV'18, Sun et al. ECCV'18 integral regression): the stride-32 features are
upsampled step by step and merged with the stride-16, -8 and -4 stages (as in an FPN), then a 1x1
conv gives, per joint, a heatmap H_j and a depth map D_j at stride 4. The softmax of H_j is a
probability map; its expectation over pixel centres is the joint's (u, v) in crop units [-1, 1],
and the expectation of D_j under it is the joint's relative depth zrel_j; ``conf`` is the largest
probability mass in a 2x2 window. Everything is
differentiable and sub-pixel, with no argmax.

Outputs of ``forward``: ``uv`` (B, 21, 2), ``zrel`` (B, 21), ``conf`` (B, 21), ``log_prob``
(B, 21, h, w) the heatmaps' log-probabilities (for the heatmap loss), ``z`` (B, proj_vectors, 3) the contrastive projection as 3-vectors
so that it can be rotated (PeCLR), and, with ``K``, ``pose`` = decode(uv, zrel, K) (B, 21, 3)
root-relative in units of the palm scale.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
import torch.nn.functional as F

from generator.conventions import NUM_KEYPOINTS
from trainer import pose25d


@dataclasses.dataclass
class ModelConfig:
    crop: int = 64
    width: float = 0.5                      # 1.0 = ResNet-18's widths 64-128-256-512
    blocks: tuple[int, ...] = (2, 2, 2, 2)  # ResNet-18
    head_width: int | None = None           # feature-pyramid channels; None: 128 x width (at least 16)
    proj_vectors: int = 32                  # contrastive projection: 32 3-vectors

    def widths(self) -> list[int]:
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


class ResNet(nn.Module):
    """ResNet-18-style feature extractor returning the four stages' outputs (strides 4-32)."""

    def __init__(self, widths: list[int], blocks=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
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
        self.backbone = ResNet(w, cfg.blocks)
        self.lateral = nn.ModuleList([nn.Conv2d(c, hw, 1) for c in w])
        self.smooth = nn.ModuleList([_conv_bn(hw, hw) for _ in w[:-1]])
        self.out = nn.Sequential(_conv_bn(hw, hw), nn.Conv2d(hw, 2 * NUM_KEYPOINTS, 1))
        self.proj = nn.Sequential(nn.Linear(w[-1], 256), nn.ReLU(), nn.Linear(256, 3 * cfg.proj_vectors))
        side = cfg.crop // 4                                    # heatmap side (stride 4)
        centres = (torch.arange(side, dtype=torch.float32) * 4 + 1.5) / ((cfg.crop - 1) / 2) - 1
        self.register_buffer("grid", centres, persistent=False)  # pixel-centre coordinates, crop units

    def features(self, x):
        feats = self.backbone(x)
        y = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[i](y + self.lateral[i](feats[i]))
        return y, feats[-1]

    def forward(self, x: torch.Tensor, K: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
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
        if K is not None:
            out["pose"] = pose25d.decode(out["uv"], out["zrel"], K.float(), self.cfg.crop)
        return out
