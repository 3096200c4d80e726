"""Procedural skin textures: a biophysical skin model baked into the hand's UV space.

`make textures` / `cyclehand-gen textures` builds the set (see ``builder``); renderers load it
with ``load_texture_set``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

MAP_NAMES = ("base_color", "normal", "roughness", "subsurface")


class TextureSetMissing(FileNotFoundError):
    pass


@dataclasses.dataclass
class TextureSet:
    root: Path
    resolution: int
    uv_layout: str
    variants: list[dict]       # manifest entries, map paths made absolute

    def get(self, name: str) -> dict:
        for v in self.variants:
            if v["name"] == name:
                return v
        raise KeyError(f"no texture variant {name!r} in {self.root} "
                       f"(have {', '.join(v['name'] for v in self.variants[:6])}, ...)")

    def names(self) -> list[str]:
        return [v["name"] for v in self.variants]


def load_texture_set(directory="textures") -> TextureSet:
    """Read ``directory/manifest.json``; map paths come back absolute. Raises TextureSetMissing
    (naming `make textures`) when the set has not been built."""
    root = Path(directory).resolve()
    path = root / "manifest.json"
    if not path.is_file():
        raise TextureSetMissing(f"no texture set at {root} (missing manifest.json): run `make textures` "
                                f"or `cyclehand-gen textures --out {directory}`")
    try:
        m = json.loads(path.read_text())
        variants = []
        for v in m["variants"]:
            v = dict(v)
            v["maps"] = {k: str(root / rel) for k, rel in v["maps"].items()}
            missing = [p for p in v["maps"].values() if not Path(p).is_file()]
            if missing:
                raise TextureSetMissing(f"texture variant {v['name']!r}: missing {missing[0]}; run `make textures`")
            variants.append(v)
        return TextureSet(root, int(m["resolution"]), m["uv_layout"], variants)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a valid texture manifest ({e!r}); rebuild it with `make textures`") from None


__all__ = ["load_texture_set", "TextureSet", "TextureSetMissing", "MAP_NAMES"]
