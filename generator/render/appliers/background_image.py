"""Applier of the image background kind: the user's photo, cover-fitted, in linear light."""
from __future__ import annotations

from generator.render.appliers import register
from generator.render.nodes import require
from generator.render.postprocess import load_background_image


@register("background", "image")
def layer(background: dict, env, width: int, height: int):
    return load_background_image(str(require(background, "path", "background")), width, height)
