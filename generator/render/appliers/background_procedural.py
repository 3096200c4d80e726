"""Applier of the procedural background kind (the picture is made in numpy, postprocess.py)."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.postprocess import procedural_layer


@register("background", "procedural")
def layer(background: dict, env, width: int, height: int):
    return procedural_layer(background, width, height)
