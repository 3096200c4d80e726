"""A natural-looking procedural picture behind the hand: its palette is drawn here with the colour
statistics of photographs (generator.sample.palette), the picture itself is made in numpy at
render time from a seed (generator.render.postprocess.procedural_background: out-of-focus
clutter or a textured surface, 1/f spectra).
"""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register, uniform
from generator.sample.palette import natural_palette
from generator.schema import field

STYLES = ("clutter", "surface")


@register
@dataclasses.dataclass
class ProceduralBackground(Kind):
    """[background.procedural]: a seeded natural-looking picture"""
    family = "background"
    name = "procedural"

    styles: list = field(list(STYLES), "procedural styles", items=STYLES)
    colours: list = field([4, 8], "palette size range", range=(1, 32))
    blur: list = field([0.0, 0.006], "defocus of the nearest layer, fraction of the image width",
                       range=(0.0, 0.2))

    def draw(self, rng, stage) -> dict:
        style = self.styles[int(rng.integers(len(self.styles)))]
        n = int(rng.integers(int(self.colours[0]), int(self.colours[1]) + 1))
        palette = [[round(float(c), 4) for c in rgb] for rgb in natural_palette(rng, n)]
        return {"kind": "procedural", "seed": int(rng.integers(0, 2**31 - 1)), "style": style,
                "palette": palette, "blur": round(uniform(rng, self.blur), 5)}
