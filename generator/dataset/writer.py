"""Writing shards: members are encoded here, a shard goes to a hidden temporary named after the
job (``.shard-NNNNNN.tar.tmp-FINGERPRINT-HOST-PID``), is fsynced and renamed, and only then listed
in the manifest. Tar members carry mtime 0 and a fixed owner: same content, same shard bytes."""
from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from generator.atomic import fsync_dir, temp_name
from generator.dataset.manifest import record_shard, shard_entry

OWNER = "cyclehand"
PNG_LEVEL = 3  # zlib level: level 6+ costs several times the time for ~5 % smaller files


def encode_png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def encode_jpg(a: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def encode_json(d: dict) -> bytes:
    """Canonical JSON (sorted keys, fixed separators): same annotations -> same bytes."""
    return json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def write_members(tar: tarfile.TarFile, members: dict) -> None:
    """One sample's members as ``KEY.EXT`` files, in sorted order, with fixed metadata."""
    key = members["__key__"]
    for ext in sorted(k for k in members if not k.startswith("_")):
        data = members[ext]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{key}.{ext}: members must be encoded bytes, got {type(data).__name__}")
        info = tarfile.TarInfo(f"{key}.{ext}")
        info.size, info.mtime, info.mode = len(data), 0, 0o444
        info.uname = info.gname = OWNER
        tar.addfile(info, io.BytesIO(data))


class ShardWriter:
    """Writes one planned shard ({"name", "first", "count"}) of folder ``out`` for the job with
    ``fingerprint``. ``commit()`` renames it and lists it; leaving the ``with`` block without a
    commit (an exception) deletes the temporary file."""

    def __init__(self, out: str | Path, spec: dict, fingerprint: str = "", record: bool = True):
        self.out = Path(out)
        self.spec = spec
        self.record = record
        self.final = self.out / spec["name"]
        self.tmp = temp_name(self.final, fingerprint)
        self.count = 0
        self.stats = {"render_seconds": 0.0}
        self.t0 = time.time()
        self.committed = None

    def __enter__(self):
        self._f = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=self._f, mode="w|")
        return self

    def write(self, members: dict) -> None:
        """members: {"__key__": key, "a.png": bytes, ...}"""
        write_members(self._tar, members)
        self.count += 1

    def commit(self):
        if self.count != self.spec["count"]:
            raise RuntimeError(f"{self.spec['name']}: wrote {self.count} pairs, planned {self.spec['count']}")
        self._tar.close()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.final)
        fsync_dir(self.out)
        entry = shard_entry(self.final, self.spec["first"], self.count,
                            render_seconds=self.stats["render_seconds"], wall_seconds=time.time() - self.t0)
        if self.record:
            record_shard(self.out, entry)
        self.committed = entry
        return entry

    def __exit__(self, exc_type, exc, tb):
        if self.committed is None:
            with contextlib.suppress(Exception):
                self._f.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
        return False
