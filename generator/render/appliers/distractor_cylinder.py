"""Applier of the cylinder distractor kind: radius 1, from z = -1 to 1, capped, scaled by the view."""
from __future__ import annotations

import bmesh  # importable once bpy is (the appliers package imports it first)

from generator.render.appliers import register


@register("distractor", "cylinder")
def mesh(bm) -> bool:
    bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=1.0, radius2=1.0, depth=2.0)
    return True
