"""Applier of the box distractor kind: the unit cube (half extent 1), scaled by the view."""
from __future__ import annotations

import bmesh  # importable once bpy is (the appliers package imports it first)

from generator.render.appliers import register


@register("distractor", "box")
def mesh(bm) -> bool:
    """Fill ``bm`` with the kind's unit shape; returns whether to shade it smooth."""
    bmesh.ops.create_cube(bm, size=2.0)
    return False
