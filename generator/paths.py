"""Project-controlled locations: the cache (anny model, derived data) and the asset folders."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """$CYCLEHAND_CACHE_DIR, or <repo>/.cache for a checkout (the Makefile sets the variable)."""
    return Path(os.environ.get("CYCLEHAND_CACHE_DIR", REPO_ROOT / ".cache")).resolve()


def anny_cache_dir() -> Path:
    return cache_dir() / "anny"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (manifests of shards, HDRIs, texture maps)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; raises PermissionError
    (or NotADirectoryError, ...) with the OS's reason, before any work is done."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    return folder
