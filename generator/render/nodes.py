"""Small helpers for writing Blender data without needless updates (no bpy import: they act on
the objects they are given). Any RNA write tags Blender data as updated, and a tagged world or
shader makes Cycles redo work (importance maps, shader compiles) on the next render."""
from __future__ import annotations

import numpy as np


def require(d: dict, key: str, what: str):
    if key not in d:
        raise ValueError(f"{what} dict is missing key {key!r} (got keys {sorted(d)})")
    return d[key]


def set_if_changed(obj, attr: str, value) -> None:
    """Assign only on change (RNA floats are float32: compared at float32 precision)."""
    current = getattr(obj, attr)
    try:
        if isinstance(value, (str, bool)) or value is None or not isinstance(value, (int, float, tuple, list)):
            same = current == value
        else:
            same = np.allclose(np.asarray(current if isinstance(value, (int, float)) else current[:], float),
                               np.asarray(value, float), rtol=1e-6, atol=1e-7)
    except TypeError:
        same = False
    if not same:
        setattr(obj, attr, value)


def link(tree, out_socket, in_socket):
    """Link unless already linked that way (avoid needless shader recompiles)."""
    if not any(l.from_socket == out_socket for l in in_socket.links):
        tree.links.new(out_socket, in_socket)


def unlink(tree, in_socket):
    for l in list(in_socket.links):
        tree.links.remove(l)
