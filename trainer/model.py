"""A compact ResNet-style CNN with heads for root-relative 3D keypoints, 2D keypoints and a
contrastive projection.

Why not a library backbone: PyPI's torchvision fails to import beside the torch 2.13 CPU build
this project pins ('operator torchvision::nms does not exist'); the pairing that works here
(torch 2.14.1 + torchvision 0.29.1) is a 5.5 GB CUDA build, unreasonable for a CPU machine. timm
requires torchvision. A ResNet of BasicBlocks is ~40 lines, so it is
written out. The regression heads read a flattened low-resolution feature map (not a globally
pooled vector) so they keep where things are in the crop; the projection head reads the pooled
vector, as in SimCLR.

Outputs: ``kp3d`` (B, 21, 3) root-relative, metres, in the crop's camera frame (the raw head
output is in decimetres, which keeps its scale near 1); ``kp2d`` (B, 21, 2) crop coordinates, the crop
spanning [-1, 1] (outputs reach +-1.2); ``z`` (B, proj_dim) unit-norm projection for InfoNCE.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
import torch.nn.functional as F

from generator.conventions import NUM_KEYPOINTS


@dataclasses.dataclass
class ModelConfig:
    crop: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 2, 1)
    head_dim: int = 512
    proj_dim: int = 64


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class HandNet(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        layers, cin = [], w[0]
        for i, (cout, n) in enumerate(zip(w, cfg.blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        side = cfg.crop // 2 ** len(w)                      # stem /2, stages 2.. /2 each
        self.reduce = nn.Sequential(nn.Conv2d(cin, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, cfg.head_dim), nn.ReLU())
        self.head3d = nn.Linear(cfg.head_dim, NUM_KEYPOINTS * 3)
        self.head2d = nn.Linear(cfg.head_dim, NUM_KEYPOINTS * 2)
        self.proj = nn.Sequential(nn.Linear(cin, 256), nn.ReLU(), nn.Linear(256, cfg.proj_dim))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[-1] != self.cfg.crop or x.shape[-2] != self.cfg.crop:
            raise ValueError(f"HandNet was built for {self.cfg.crop}px crops, got {tuple(x.shape[-2:])}")
        f = self.body(self.stem(x))
        h = self.trunk(self.reduce(f))
        B = x.shape[0]
        kp3d = self.head3d(h).view(B, NUM_KEYPOINTS, 3) * 0.1
        kp3d = kp3d - kp3d[:, :1]                           # root-relative by construction
        return {"kp3d": kp3d, "kp2d": torch.tanh(self.head2d(h).view(B, NUM_KEYPOINTS, 2)) * 1.2,
                "z": F.normalize(self.proj(f.mean((2, 3))), dim=-1)}
