"""Applier of the procedural background kind (the picture is made in numpy, postprocess.py)."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.postprocess import procedural_background


@register("background", "procedural")
def layer(background: dict, env, width: int, height: int):
    return procedural_background(width, height, int(background.get("seed", 0)),
                                 background.get("style", "gradient"), background.get("colors"))
