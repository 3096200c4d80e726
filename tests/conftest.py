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


@pytest.fixture(scope="session")
def textures(tmp_path_factory):
    """A tiny texture set (a few MB, seconds to build) for the render tests, built once per run."""
    from render_helpers import build_tiny_textures
    return build_tiny_textures(tmp_path_factory.mktemp("tex"))
