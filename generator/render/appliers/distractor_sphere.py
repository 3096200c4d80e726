"""Applier of the sphere distractor kind: the unit sphere, scaled by the view."""
from __future__ import annotations

import bmesh  # importable once bpy is (the appliers package imports it first)

from generator.render.appliers import register


@register("distractor", "sphere")
def mesh(bm) -> bool:
    bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=1.0)
    return True
