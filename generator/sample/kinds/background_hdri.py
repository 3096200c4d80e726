"""The lighting's own environment seen behind the hand (Cycles' environment pass)."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register


@register
@dataclasses.dataclass
class HdriBackground(Kind):
    """[background.hdri]: the world that lights the hand, seen behind it"""
    family = "background"
    name = "hdri"

    def draw(self, rng, stage) -> dict:
        return {"kind": "hdri"}
