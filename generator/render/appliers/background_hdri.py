"""Applier of the hdri background kind: the world behind the hand, from Cycles' environment pass."""
from __future__ import annotations

from generator.render.appliers import register


@register("background", "hdri")
def layer(background: dict, env, width: int, height: int):
    return env
