"""The EMA teacher (Tarvainen & Valpola 2017, Mean Teacher): a copy of the network whose weights
follow the student's as an exponential moving average, theta_t <- d theta_t + (1 - d) theta_s
(d about 0.99, a horizon of about 100 steps), and whose batch-norm statistics are the student's.

It predicts in eval mode and under no_grad, so its predictions are stop-gradient targets: they
change only through the average, never through the loss they enter. Averaged weights make the
targets smoother than the student's own predictions, which is what keeps a student from chasing
(and collapsing onto) its own noise.
"""
from __future__ import annotations

import copy

import torch


class EMATeacher:
    def __init__(self, student: torch.nn.Module, decay: float = 0.99):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(student).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, student: torch.nn.Module) -> None:
        for t, s in zip(self.model.parameters(), student.parameters()):
            t.lerp_(s.detach().to(t.dtype), 1.0 - self.decay)
        for t, s in zip(self.model.buffers(), student.buffers()):
            t.copy_(s)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, K: torch.Tensor, left: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        self.model.eval()
        return {k: v.detach() for k, v in self.model(x, K, left).items()}

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.model.load_state_dict(sd)


def most_confident(conf: torch.Tensor, keep: float) -> torch.Tensor:
    """Indices of the ``keep`` share (at least one) of a batch's predictions whose heatmaps hold
    the most mass at their peaks (``conf`` (B, 21), averaged over joints), most confident first;
    every index, in order, when ``keep`` is 1. On the 32,000-step teachers' view-a targets the
    more confident half of the pairs is 2.4-3.0 mm better than the other (docs/RESULTS.md): a
    fixed-share form of FixMatch's confidence filter."""
    B = len(conf)
    if keep >= 1.0:
        return torch.arange(B, device=conf.device)
    k = max(1, round(keep * B))
    return conf.float().mean(1).topk(k).indices
