"""Project-controlled locations: the cache (anny model, derived data) and the asset folders."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """$CYCLEHAND_CACHE_DIR, or <repo>/.cache for a checkout (the Makefile sets the variable)."""
    return Path(os.environ.get("CYCLEHAND_CACHE_DIR", REPO_ROOT / ".cache")).resolve()


def anny_cache_dir() -> Path:
    return cache_dir() / "anny"
