"""webdataset shards OUT/shard-%06d.tar and OUT/manifest.json (format: docs/FORMAT.md).

A shard is written to a hidden temporary name, fsynced, then renamed; only then is it added to the
manifest, which is itself replaced atomically under a file lock (several workers share it). So a
shard listed in the manifest is always complete, and anything else in OUT is work in progress that
a re-run rebuilds. Shard k always holds pairs [k * shard_size, min((k + 1) * shard_size, N)).
Tar members carry mtime 0 and fixed owner, so identical content gives identical shard bytes.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import webdataset as wds
from PIL import Image

from generator.paths import file_sha256

FORMAT = "cyclehand-shards"
VERSION = 1
PNG_LEVEL = 3  # zlib level: level 6+ costs several times the time for ~5 % smaller files


def shard_name(k: int) -> str:
    return f"shard-{k:06d}.tar"


def sample_key(index: int) -> str:
    return f"{index:09d}"


def plan_shards(n_pairs: int, shard_size: int) -> list[dict]:
    return [{"shard": k, "name": shard_name(k), "first": s, "count": min(shard_size, n_pairs - s)}
            for k, s in enumerate(range(0, n_pairs, shard_size))]


# --- manifest --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(out: Path):
    with open(out / ".manifest.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_manifest(out: str | Path) -> dict | None:
    p = Path(out) / "manifest.json"
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def _write_manifest(out: Path, m: dict) -> None:
    tmp = out / f".manifest.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out / "manifest.json")


def _recount(m: dict) -> None:
    pairs = sum(s["count"] for s in m["shards"])
    m["counts"] = {"shards": len(m["shards"]), "pairs": pairs, "views": 2 * pairs}
    m["complete"] = pairs == m["pairs_requested"] and len(m["shards"]) == len(
        plan_shards(m["pairs_requested"], m["shard_size"]))


def open_manifest(out: str | Path, job_dict: dict, fingerprint: str, n_pairs: int, shard_size: int) -> dict:
    """Create OUT/manifest.json, or check that an existing one is for the same job, and record
    this run's pair count. Shards whose range changed (a different --views) are dropped from it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        m = read_manifest(out)
        if m is None:
            m = {"format": FORMAT, "version": VERSION, "job": job_dict, "job_fingerprint": fingerprint,
                 "shard_size": shard_size, "shards": []}
        elif m.get("job_fingerprint") != fingerprint or m.get("shard_size") != shard_size:
            raise ValueError(
                f"{out} holds shards of a different job or shard size (manifest fingerprint "
                f"{m.get('job_fingerprint')}, shard_size {m.get('shard_size')}; this run: {fingerprint}, "
                f"{shard_size}); use another --out, or the same job, seed and flags to resume")
        beyond = [s["name"] for s in m["shards"] if s["first"] + s["count"] > n_pairs]
        if beyond:
            have = max(s["first"] + s["count"] for s in m["shards"])
            raise ValueError(
                f"{out} already holds complete shards up to pair {have}; rendering {n_pairs} pairs would "
                f"discard {len(beyond)} of them ({', '.join(sorted(beyond))}); ask for at least {have} "
                "pairs, or use another --out")
        plan = {s["name"]: s for s in plan_shards(n_pairs, shard_size)}
        m["shards"] = [s for s in m["shards"] if s["name"] in plan
                       and (s["first"], s["count"]) == (plan[s["name"]]["first"], plan[s["name"]]["count"])]
        m["pairs_requested"] = n_pairs
        _recount(m)
        _write_manifest(out, m)
        return m


def complete_shards(out: str | Path, verify: bool = False) -> set[str]:
    """Names of shards listed in the manifest whose file exists with the listed size (and sha256
    when verify)."""
    out = Path(out)
    m = read_manifest(out) or {"shards": []}
    done = set()
    for s in m["shards"]:
        p = out / s["name"]
        if p.is_file() and p.stat().st_size == s["bytes"] and (not verify or file_sha256(p) == s["sha256"]):
            done.add(s["name"])
    return done


def record_shard(out: str | Path, entry: dict) -> None:
    out = Path(out)
    with _locked(out):
        m = read_manifest(out)
        if m is None:
            raise FileNotFoundError(f"{out}/manifest.json vanished while writing {entry['name']}")
        m["shards"] = sorted([s for s in m["shards"] if s["name"] != entry["name"]] + [entry],
                             key=lambda s: s["name"])
        _recount(m)
        _write_manifest(out, m)


# --- encoding ------------------------------------------------------------------------------------

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


# --- writing -------------------------------------------------------------------------------------

class ShardWriter:
    """Writes one shard to a temporary file; ``commit()`` renames it and lists it in the manifest.
    Leaving the ``with`` block without commit (an exception) deletes the temporary file."""

    def __init__(self, out: str | Path, spec: dict):
        self.out = Path(out)
        self.spec = spec
        self.tmp = self.out / f".{spec['name']}.tmp-{os.getpid()}"
        self.count = 0
        self.stats = {"render_seconds": 0.0}
        self.t0 = time.time()

    def __enter__(self):
        self._f = open(self.tmp, "wb")
        self._tar = wds.TarWriter(self._f, encoder=False, mtime=0, user="cyclehand", group="cyclehand")
        return self

    def write(self, members: dict) -> None:
        """members: {"__key__": key, "a.png": bytes, ...}"""
        self._tar.write(members)
        self.count += 1

    def commit(self) -> dict:
        if self.count != self.spec["count"]:
            raise RuntimeError(f"{self.spec['name']}: wrote {self.count} pairs, planned {self.spec['count']}")
        self._tar.close()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        final = self.out / self.spec["name"]
        os.replace(self.tmp, final)
        entry = {"name": self.spec["name"], "first": self.spec["first"], "count": self.count,
                 "bytes": final.stat().st_size, "sha256": file_sha256(final),
                 "render_seconds": round(self.stats["render_seconds"], 3),
                 "wall_seconds": round(time.time() - self.t0, 3)}
        record_shard(self.out, entry)
        self.committed = entry
        return entry

    def __exit__(self, exc_type, exc, tb):
        if not getattr(self, "committed", None):
            with contextlib.suppress(Exception):
                self._f.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
        return False


def clean_stale(out: str | Path, keep: set[str]) -> list[str]:
    """Remove temporaries of dead runs and shard files not listed in the manifest (a crash between
    rename and manifest update). Returns the removed names."""
    out = Path(out)
    removed = []
    for p in out.glob(".shard-*.tar.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and _alive(int(pid)):
            continue
        p.unlink(missing_ok=True)
        removed.append(p.name)
    for p in out.glob("shard-*.tar"):
        if p.name not in keep:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
