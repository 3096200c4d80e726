"""Mixed precision: the network runs under autocast, the hand's geometry does not.

Under ``torch.autocast`` every matmul and einsum runs in the low-precision type (float16 on CUDA,
bfloat16 on the CPU), and its result carries that type into whatever follows. That is right for
convolutions and wrong for the geometry around them: the Kabsch rotation needs an SVD and a
determinant, which have no float16 / bfloat16 kernels at all ("lu_cpu" not implemented for
'BFloat16'), and poses assembled or rotated in float16 lose about a millimetre. Functions marked
``@float32`` run with autocast off and their floating-point tensor arguments in float32 (float64
ones stay float64).
"""
from __future__ import annotations

import functools

import torch


def autocast(device: torch.device, enabled: bool):
    """The training step's autocast: float16 on CUDA (with a grad scaler), bfloat16 elsewhere."""
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16,
                          enabled=enabled)


def _as_float32(a):
    if torch.is_tensor(a) and a.is_floating_point() and a.dtype != torch.float64:
        return a.float()
    return a


def float32(fn):
    """Run ``fn`` outside autocast, with its floating-point tensor arguments in float32."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        dev = next((a.device.type for a in (*args, *kwargs.values()) if torch.is_tensor(a)), "cpu")
        if not torch.is_autocast_enabled(dev):
            return fn(*args, **kwargs)
        with torch.autocast(dev, enabled=False):
            return fn(*map(_as_float32, args), **{k: _as_float32(v) for k, v in kwargs.items()})
    return wrapped
