"""File and member names of the shard format (docs/FORMAT.md): the only place they are spelled."""
from __future__ import annotations

import re

FORMAT = "cyclehand-shards"
VERSION = 1                      # manifest and KEY.json format_version
MANIFEST = "manifest.json"
LOCK = ".render.lock"            # held by the run that writes a folder (generator.dataset.lock)
LOG_DIR = "logs"                 # worker output (Blender, libpng, warp) goes here, not to the console

SHARD_RE = re.compile(r"^shard-(\d{6,})\.tar$")
KEY_DIGITS = 9

VIEWS = ("a", "b")
JSON = "json"
IMAGE_EXTS = ("png", "jpg")      # the RGB image of a view: KEY.a.png or KEY.a.jpg
MASK = "mask.png"                # 8-bit hand mask, 255 = hand
VERTS = "verts.npy"              # float32 (V, 3) camera frame
DEPTH = "depth.npy"              # optional: float32 (H, W), inf off the hand
NORMALS = "normals.npy"          # optional: float16 (H, W, 3)
PARTS = "parts.png"              # optional: 8-bit part ids (table in docs/FORMAT.md)
PER_VIEW = (MASK, VERTS, DEPTH, NORMALS, PARTS)
REQUIRED_PER_VIEW = (MASK, VERTS)


def shard_name(k: int) -> str:
    return f"shard-{k:06d}.tar"


def shard_index(name: str) -> int | None:
    m = SHARD_RE.match(name)
    return int(m.group(1)) if m else None


def sample_key(index: int) -> str:
    return f"{index:0{KEY_DIGITS}d}"


def member(view: str, suffix: str) -> str:
    """member("a", MASK) -> "a.mask.png" (the tar member is KEY + "." + this)."""
    return f"{view}.{suffix}"


def image_member(view: str, ext: str = "png") -> str:
    return f"{view}.{ext}"


def shard_temp_prefix(name: str, fingerprint: str) -> str:
    """Temporaries of a shard being written for the job with this fingerprint start with this
    (the writer appends HOST-PID): the start-up cleanup removes only its own job's temporaries."""
    return f".{name}.tmp-{fingerprint}-"
