"""Small synthetic meshes with UV seams for the texture tests."""
import numpy as np


def seamed_cylinder(n_around: int = 24, n_along: int = 8, radius: float = 0.01, length: float = 0.05):
    """An open cylinder along y whose UV strip is cut at angle 0: one seam, one island.
    Returns vertices (V,3), faces (F,3), uvs (F,3,2)."""
    ang = np.arange(n_around) * 2 * np.pi / n_around
    ys = np.linspace(0, length, n_along + 1)
    V = np.array([[radius * np.cos(a), y, radius * np.sin(a)] for y in ys for a in ang])
    faces, uvs = [], []
    u = lambda i: 0.05 + 0.9 * i / n_around
    v = lambda j: 0.05 + 0.9 * j / n_along
    for j in range(n_along):
        for i in range(n_around):
            i1 = (i + 1) % n_around
            a, b = j * n_around + i, j * n_around + i1
            c, d = (j + 1) * n_around + i1, (j + 1) * n_around + i
            ua, ub = u(i), u(i + 1)      # i + 1 == n_around lands at u = 0.95: the seam
            faces += [(a, c, b), (a, d, c)]
            uvs += [[(ua, v(j)), (ub, v(j + 1)), (ub, v(j))], [(ua, v(j)), (ua, v(j + 1)), (ub, v(j + 1))]]
    return V, np.array(faces), np.array(uvs, dtype=np.float64)
