"""Solid (3D) procedural noise evaluated at baked surface points, so every feature is a function
of the 3D position and stays continuous across UV seams."""
from __future__ import annotations

import numpy as np

def hash01(ix, iy, iz, seed: int) -> np.ndarray:
    """Integer lattice coordinates -> uniform floats in [0, 1) (32-bit integer mix; uint32
    arithmetic wraps, which is the point)."""
    with np.errstate(over="ignore"):
        h = (ix.astype(np.uint32) * np.uint32(0x8DA6B343)
             ^ iy.astype(np.uint32) * np.uint32(0xD8163841)
             ^ iz.astype(np.uint32) * np.uint32(0xCB1AB31F)
             ^ np.uint32((seed * 0x9E3779B1) & 0xFFFFFFFF))
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
        h *= np.uint32(0x297A2D39)
        h ^= h >> np.uint32(15)
    return h.astype(np.float32) * np.float32(1.0 / 4294967296.0)


def value_noise(p: np.ndarray, cell: float, seed: int = 0) -> np.ndarray:
    """Smooth value noise in [-1, 1] with feature size ``cell`` (metres) at points p (N, 3)."""
    q = np.asarray(p, np.float64) / cell + 1000.0        # keep lattice indices positive
    i = np.floor(q)
    f = (q - i).astype(np.float32)
    u = f * f * (3.0 - 2.0 * f)
    i = i.astype(np.int64)
    out = np.zeros(len(q), np.float32)
    for dx in (0, 1):
        wx = u[:, 0] if dx else 1.0 - u[:, 0]
        for dy in (0, 1):
            wy = u[:, 1] if dy else 1.0 - u[:, 1]
            for dz in (0, 1):
                wz = u[:, 2] if dz else 1.0 - u[:, 2]
                out += wx * wy * wz * hash01(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out * 2.0 - 1.0


def fbm(p: np.ndarray, cell: float, octaves: int = 3, seed: int = 0, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value noise, roughly unit variance-normalised to [-1, 1]."""
    total, amp, norm = 0.0, 1.0, 0.0
    for o in range(octaves):
        total = total + amp * value_noise(p, cell / 2 ** o, seed + 7919 * o)
        norm += amp
        amp *= gain
    return total / norm


def dots(p: np.ndarray, cell: float, radius: float, density: float, seed: int = 0) -> np.ndarray:
    """Sparse round spots (pores, freckles): at most one per lattice cell, placed wholly inside it,
    so each is evaluated from its own cell only. Returns coverage in [0, 1]."""
    q = np.asarray(p, np.float64) / cell + 1000.0
    i = np.floor(q).astype(np.int64)
    r = radius / cell
    margin = min(r, 0.49)
    d2 = np.zeros(len(q), np.float64)
    for k in range(3):
        c = margin + (1 - 2 * margin) * hash01(i[:, 0], i[:, 1], i[:, 2], seed + 101 * (k + 1))
        d2 += (q[:, k] - i[:, k] - c) ** 2
    keep = hash01(i[:, 0], i[:, 1], i[:, 2], seed + 977) < density
    size = 0.5 + hash01(i[:, 0], i[:, 1], i[:, 2], seed + 1931)   # radius varies 0.5x .. 1.5x
    t = np.sqrt(d2) / (r * size)
    return np.where(keep, np.clip(1.5 - 1.5 * t, 0.0, 1.0) ** 1.5, 0.0).astype(np.float32)
