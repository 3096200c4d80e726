"""Hand models (anny embedded default, MANO for users who bring its files), poses and limits."""
from __future__ import annotations

from generator.hand.base import JOINTS, PARTS, HandBatch, HandModel

BACKENDS = ("anny", "mano")


def load_hand_model(name: str = "anny", **kwargs) -> HandModel:
    """`anny` (default, offline) or `mano` (needs `mano_dir=` holding MANO_RIGHT.pkl / MANO_LEFT.pkl)."""
    if name == "anny":
        from generator.hand.anny_backend import AnnyHand
        return AnnyHand(**kwargs)
    if name == "mano":
        from generator.hand.mano_backend import ManoHand
        return ManoHand(**kwargs)
    raise ValueError(f"unknown hand model {name!r}; choose one of {BACKENDS}")


__all__ = ["JOINTS", "PARTS", "HandBatch", "HandModel", "load_hand_model", "BACKENDS"]
