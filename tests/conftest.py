"""Shared fixtures. The anny hand loads in ~2 s from the project cache, so share one per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CYCLEHAND_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache"))


@pytest.fixture(scope="session")
def anny_hand():
    from generator.hand import load_hand_model
    return load_hand_model("anny")


@pytest.fixture(scope="session")
def capped_hand():
    from generator.hand import load_hand_model
    return load_hand_model("anny", forearm_length=0.0)
