"""A user photograph behind the hand (cover-fitted to the frame)."""
from __future__ import annotations

import dataclasses

from generator.sample.kinds import Kind, register


@register
@dataclasses.dataclass
class ImageBackground(Kind):
    """[background.image]: a photo from background.image_dir"""
    family = "background"
    name = "image"
    unavailable = "background.image_dir names no folder"

    def available(self, stage) -> bool:
        return bool(stage.library.images)

    def draw(self, rng, stage) -> dict:
        images = stage.library.images
        return {"kind": "image", "path": images[int(rng.integers(len(images)))]}
