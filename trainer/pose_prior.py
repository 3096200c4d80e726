"""A statistical hand-pose prior: the mean shape and principal components of scale-normalised,
rotation-aligned right-hand keypoints, from label-free poses drawn by the generator's own pose
sampler (no rendering, no labels of any split).

Why: a network that reads little from a 32 px crop and predicts each joint independently (2.5D
heatmaps) returns distorted hands, worse under Procrustes alignment than predicting the mean pose
for every image (docs/RESULTS.md measures it). A pose regressed as the mean plus a few principal
components (trainer/model.py's prior head) is a plausible hand whatever the image: with the
coefficients at 0 it *is* the mean pose, so an uninformed network sits at the mean-pose floor and
learning can only move it below.

Poses are in units of the palm scale (trainer/pose25d.py: RMS of the four wrist->MCP segments is
1), wrist at the origin, each rotated onto the running mean (generalised Procrustes without
scale). The basis rows are orthonormal over the flattened (21 x 3) pose, so a coefficient error is
a pose error in palm-scale units.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np

from trainer.metrics import mirror


@dataclasses.dataclass(frozen=True)
class PosePrior:
    mean: np.ndarray            # (21, 3) palm-scale units, wrist at the origin
    basis: np.ndarray           # (k, 63) orthonormal rows, by decreasing variance
    std: np.ndarray             # (k,) the poses' standard deviation along each row
    explained: np.ndarray       # (k,) share of the total variance each row explains

    @property
    def components(self) -> int:
        return len(self.basis)

    def coefficients(self, poses: np.ndarray) -> np.ndarray:
        """Canonical, aligned poses (N, 21, 3) -> (N, k) (see ``canonical``)."""
        return (np.asarray(poses).reshape(len(poses), -1) - self.mean.reshape(-1)) @ self.basis.T

    def pose(self, coef: np.ndarray) -> np.ndarray:
        return self.mean + (np.asarray(coef) @ self.basis).reshape(-1, 21, 3)


def as_right(P, left):
    """Torch poses (B, J, 3) with x negated where ``left`` (B,): a left hand as the right hand it
    mirrors, and back (trainer.metrics.mirror is the numpy one)."""
    import torch
    sx = 1.0 - 2.0 * left.to(P.device, P.dtype)
    return P * torch.stack([sx, torch.ones_like(sx), torch.ones_like(sx)], -1)[:, None, :]


def normalise(poses: np.ndarray, left=None) -> np.ndarray:
    """(N, 21, 3) keypoints -> right-hand (mirrored where ``left``), wrist at 0, palm scale 1."""
    from trainer.pose25d import PALM_JOINTS
    P = mirror(poses, np.zeros(len(poses), bool) if left is None else left)
    P = P - P[:, :1]
    s = np.sqrt((P[:, PALM_JOINTS] ** 2).sum(-1).mean(-1))
    return P / s[:, None, None]


def kabsch(P, ref):
    """Torch (N, J, 3) poses, ref (J, 3) or (N, J, 3) -> (N, 3, 3) rotations R (no reflection)
    with P @ R the least-squares fit of each pose onto its ref (both about the origin)."""
    import torch
    ref = torch.as_tensor(ref, dtype=P.dtype, device=P.device)
    # per-pose refs pair with their own pose: "...jk" would sum over a batch of refs
    H = torch.einsum("nji,njk->nik", P, ref.expand_as(P))       # P^T ref
    U, _, Vt = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(U @ Vt))
    D = torch.ones(len(P), 3, dtype=P.dtype, device=P.device)
    D[:, 2] = d
    return U @ (D[:, :, None] * Vt)


def rotate_onto(P, ref):
    """Rotate each pose (N, 21, 3) about the wrist onto ref (21, 3) or its own ref (N, 21, 3) (the
    Kabsch rotation). numpy in, numpy out; torch in, torch out (differentiable)."""
    import torch
    if isinstance(P, torch.Tensor):
        return P @ kabsch(P, ref)
    Pt = torch.as_tensor(np.asarray(P, np.float64))
    return (Pt @ kabsch(Pt, np.asarray(ref, np.float64))).numpy()


def canonical(poses: np.ndarray, mean: np.ndarray, left=None) -> np.ndarray:
    """Poses as the prior sees them: normalised and rotated onto ``mean``."""
    return rotate_onto(normalise(poses, left), mean)


def fit(poses: np.ndarray, components: int, left=None, iters: int = 10) -> PosePrior:
    """Mean and PCA of keypoints (N, 21, 3) after normalising and generalised rotation alignment."""
    P = normalise(poses, left)
    mean = P[0]
    for _ in range(iters):
        mean = rotate_onto(P, mean).mean(0)
        mean = mean - mean[:1]
    A = rotate_onto(P, mean)
    D = A.reshape(len(A), -1) - mean.reshape(-1)
    _, S, Vt = np.linalg.svd(D, full_matrices=False)
    var = S ** 2 / max(1, len(D) - 1)
    k = min(components, len(Vt))
    return PosePrior(mean=mean, basis=Vt[:k], std=np.sqrt(var[:k]), explained=var[:k] / var.sum())


def sample_keypoints(n: int, seed: int, model: str = "anny") -> np.ndarray:
    """(n, 21, 3) canonical right-hand keypoints of n poses from the generator's pose sampler, each
    on a sampled hand shape (as the render jobs draw them). About 0.1 s a pose on one core."""
    from generator.conventions import rng as make_rng
    from generator.hand import load_hand_model
    from generator.hand.poses import sample_poses
    hand = load_hand_model(model)
    shapes = [hand.sample_shape(make_rng(seed, i, "shape")) for i in range(n)]
    ps = sample_poses(hand, n, seed, shapes=shapes)
    return np.asarray(hand.forward(ps.poses, shapes).keypoints, np.float64)


def sampled_prior(n: int, seed: int, components: int, log=print) -> PosePrior:
    """The prior of ``n`` sampled poses, cached in $CYCLEHAND_CACHE_DIR/pose_prior (the sampled
    keypoints are kept; the fit is cheap), keyed by the sampler's fingerprint: a changed pose
    library or joint limits sample afresh."""
    from generator.atomic import atomic_write
    from generator.hand.poses import sampler_fingerprint
    from generator.paths import cache_dir
    path = Path(cache_dir()) / "pose_prior" / f"anny-n{n}-seed{seed}-{sampler_fingerprint()}.npz"
    if not path.is_file():
        if log:
            log(f"pose prior: sampling {n} poses (seed {seed}) into {path}")
        X = sample_keypoints(n, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, keypoints=X)
        atomic_write(path, buf.getvalue())
    return fit(np.load(path)["keypoints"], components)


def digest(prior: PosePrior) -> str:
    """Short hash of a prior's arrays (a run's config hash includes it)."""
    h = hashlib.sha256()
    for a in (prior.mean, prior.basis):
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    return h.hexdigest()[:10]


