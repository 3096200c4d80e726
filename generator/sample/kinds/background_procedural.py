"""A procedural picture behind the hand, made in numpy at render time from a seed and colours
(generator.render.postprocess.procedural_background)."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register
from generator.schema import field

STYLES = ("gradient", "noise", "checker")


@register
@dataclasses.dataclass
class ProceduralBackground(Kind):
    """[background.procedural]: a seeded procedural picture"""
    family = "background"
    name = "procedural"

    styles: list = field(list(STYLES), "procedural styles", items=STYLES)

    def draw(self, rng, stage) -> dict:
        style = self.styles[int(rng.integers(len(self.styles)))]
        colors = [[round(float(c), 6) for c in rng.uniform(0.0, 1.0, 3)] for _ in range(int(rng.integers(2, 4)))]
        return {"kind": "procedural", "seed": int(rng.integers(0, 2**31 - 1)), "style": style, "colors": colors}
