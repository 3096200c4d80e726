"""anny's hand at rest as plain arrays: rest vertices and bone heads of any phenotype without
importing anny, whose import pulls in roma (and with it torch._dynamo) and NVIDIA warp: about 3 s
of every render worker's start-up (docs/RENDER_PIPELINE.md).

Why the arrays reproduce anny exactly: anny weights its phenotype blendshapes by products of
per-phenotype linear-interpolation ("hat") weights over fixed anchors, and its rest vertices and
bone heads are linear in those blendshape coefficients. Within each cell of the anchor grid the
coefficients are therefore multilinear in the phenotype values, so tensor-product linear
interpolation of the coefficients computed by anny at the grid's nodes gives anny's own (hat
weights sum to one). tests/test_anny_rest.py compares the two on random phenotypes.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
from pathlib import Path

import numpy as np

from generator.atomic import atomic_path
from generator.paths import anny_cache_dir

FORMAT = 1
ARRAYS = ("node_coefficients", "template_vertices", "blendshapes", "template_heads", "head_blendshapes",
          "faces", "bone_parents", "bone_index", "bone_weight", "uv_atlas")


def cache_path(rig: str, topology: str) -> Path:
    """One file per anny version, rig and topology: an upgraded anny gets a new one."""
    version = importlib.metadata.version("anny")
    return anny_cache_dir() / f"rest-v{FORMAT}-anny{version}-{rig}-{topology}.npz"


def hat_weights(values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(N,) values -> (N, len(anchors)) linear-interpolation weights, as anny's
    utils.interpolation.linear_interpolation_coefficients computes them (clamped, no extrapolation)."""
    v = np.clip(np.asarray(values, dtype=np.float64), anchors[0], anchors[-1])
    idx = np.clip(np.searchsorted(anchors, v, side="left"), 1, len(anchors) - 1)
    alpha = (v - anchors[idx - 1]) / (anchors[idx] - anchors[idx - 1])
    w = np.zeros((len(v), len(anchors)))
    rows = np.arange(len(v))
    w[rows, idx - 1] = 1.0 - alpha
    w[rows, idx] = alpha
    return w


@dataclasses.dataclass(frozen=True)
class AnnyRest:
    names: tuple[str, ...]               # phenotype order of the rows passed to rest()
    anchors: tuple[np.ndarray, ...]      # per phenotype, the anchors within [0, 1]
    node_coefficients: np.ndarray        # (n_1, ..., n_P, K) blendshape coefficients at the grid nodes
    template_vertices: np.ndarray        # (V, 3)
    blendshapes: np.ndarray              # (K, V, 3)
    template_heads: np.ndarray           # (B, 3) bone heads
    head_blendshapes: np.ndarray         # (K, B, 3)
    faces: np.ndarray                    # (F, 3)
    bone_parents: np.ndarray             # (B,)
    bone_index: np.ndarray               # (V, J) skinning bones per vertex
    bone_weight: np.ndarray              # (V, J)
    uv_atlas: np.ndarray                 # (F, 3, 2) texture coordinates per face corner

    def coefficients(self, phenotypes: np.ndarray) -> np.ndarray:
        """(N, P) phenotype values in [0, 1] -> (N, K) blendshape coefficients."""
        phen = np.asarray(phenotypes, dtype=np.float64)
        c = np.einsum("na,a...->n...", hat_weights(phen[:, 0], self.anchors[0]), self.node_coefficients)
        for p in range(1, len(self.names)):
            c = np.einsum("na,na...->n...", hat_weights(phen[:, p], self.anchors[p]), c)
        return c

    def rest(self, phenotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, P) phenotypes -> rest vertices (N, V, 3) and bone heads (N, B, 3), anny's frame."""
        c = self.coefficients(phenotypes)
        return (self.template_vertices + np.einsum("kvd,nk->nvd", self.blendshapes, c),
                self.template_heads + np.einsum("kbd,nk->nbd", self.head_blendshapes, c))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in ARRAYS}
        arrays.update({f"anchors_{n}": a for n, a in zip(self.names, self.anchors)})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, names=np.array(self.names), **arrays)
        return path

    @classmethod
    def load(cls, path: Path) -> "AnnyRest":
        with np.load(path) as z:
            names = tuple(str(n) for n in z["names"])
            return cls(names=names, anchors=tuple(z[f"anchors_{n}"] for n in names), **{k: z[k] for k in ARRAYS})


def from_anny(model, names: tuple[str, ...]) -> AnnyRest:
    """Evaluate a loaded anny model (anny.Anny) at every node of its phenotype anchor grid."""
    import torch

    anchors = []
    for n in names:
        a = model.anchors[n].numpy().astype(np.float64)
        a = a[(a >= 0.0) & (a <= 1.0)]
        if a[0] != 0.0 or a[-1] != 1.0:
            raise ValueError(f"anny's anchors of {n!r} do not span [0, 1]: {a.tolist()}")
        anchors.append(a)
    nodes = np.array(list(itertools.product(*anchors)))
    with torch.no_grad():
        _, phen, local, facial = model.get_tensor_inputs(None, torch.as_tensor(nodes, dtype=model.dtype), None, None)
        coef = model._get_phenotype_blendshape_coefficients(phen, local, facial).numpy().astype(np.float64)
    if coef.shape[1] != model.blendshapes.shape[0]:
        raise ValueError(f"anny gives {coef.shape[1]} blendshape coefficients for {model.blendshapes.shape[0]} blendshapes")
    np_ = lambda t: t.detach().numpy()  # noqa: E731
    return AnnyRest(
        names=tuple(names), anchors=tuple(anchors),
        node_coefficients=coef.reshape(*(len(a) for a in anchors), -1),
        template_vertices=np_(model.template_vertices).astype(np.float64),
        blendshapes=np_(model.blendshapes).astype(np.float64),
        template_heads=np_(model.template_bone_heads).astype(np.float64),
        head_blendshapes=np_(model.bone_heads_blendshapes).astype(np.float64),
        faces=np_(model.faces).astype(np.int64), bone_parents=np.asarray(list(model.bone_parents), dtype=np.int64),
        bone_index=np_(model.vertex_bone_indices), bone_weight=np_(model.vertex_bone_weights).astype(np.float64),
        uv_atlas=np_(model.texture_coordinates)[np_(model.face_texture_coordinate_indices)])
