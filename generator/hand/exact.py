"""Matrix products and a linear solve that give the same bits on every x86-64 CPU.

numpy's ``@``, ``dot`` and ``linalg.solve`` call BLAS/LAPACK, and OpenBLAS picks its kernels
by CPU (Haswell, SkylakeX, ...), each summing in its own order. The pose sampler's contact
resolution follows those last bits onto other poses: one job drew 3 of 48 hard-view poses up to
17 degrees apart under OpenBLAS's SkylakeX kernel and its Haswell one (``OPENBLAS_CORETYPE``),
so the same job rendered on two machines gave two data sets. ``np.einsum`` (without
``optimize``) never calls BLAS: its loops are numpy's own (the same poses with numpy's AVX-512
loops switched off, ``NPY_DISABLE_CPU_FEATURES``). Only the geometry that draws samples needs
this; renders and training keep BLAS.
"""
from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for stacks of matrices (..., n, k) x (..., k, m), without BLAS."""
    return np.einsum("...ij,...jk->...ik", a, b)


def matvec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a @ x`` for matrices (..., n, k) and vectors (..., k), without BLAS."""
    return np.einsum("...ij,...j->...i", a, x)


def solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with ``a x = b`` for a symmetric positive definite (n, n) ``a`` and (n,) ``b``
    (Cholesky, without LAPACK)."""
    a = np.asarray(a, dtype=np.float64)
    n = len(a)
    low = np.zeros_like(a)
    for j in range(n):
        d = a[j, j] - np.einsum("k,k->", low[j, :j], low[j, :j])
        if not d > 0:
            raise np.linalg.LinAlgError(f"matrix is not positive definite (pivot {j}: {d})")
        low[j, j] = np.sqrt(d)
        low[j + 1:, j] = (a[j + 1:, j] - np.einsum("ik,k->i", low[j + 1:, :j], low[j, :j])) / low[j, j]
    y = np.zeros(n)
    for i in range(n):
        y[i] = (b[i] - np.einsum("k,k->", low[i, :i], y[:i])) / low[i, i]
    x = np.zeros(n)
    for i in reversed(range(n)):
        x[i] = (y[i] - np.einsum("k,k->", low[i + 1:, i], x[i + 1:])) / low[i, i]
    return x
