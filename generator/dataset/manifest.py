"""OUT/manifest.json: its schema (msgspec), reading with errors that name the file, and the
writer-side updates (under a lock, replaced atomically). A shard is complete only when listed."""
from __future__ import annotations

import contextlib
import fcntl
import json
import warnings
from pathlib import Path

import msgspec

from generator.atomic import atomic_write
from generator.dataset.names import FORMAT, MANIFEST, VERSION, shard_name
from generator.paths import file_sha256


class DatasetError(ValueError):
    """A shard folder, shard or sample that cannot be read as this format; the message names it."""


class ManifestError(DatasetError):
    """A manifest that is missing, unreadable or not of this format; the message names the file."""


class IncompleteWarning(UserWarning):
    """Reading a folder whose manifest says complete: false (a render still running or stopped)."""


class ShardEntry(msgspec.Struct, omit_defaults=True):
    name: str
    count: int
    first: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    render_seconds: float | None = None
    wall_seconds: float | None = None


class Manifest(msgspec.Struct, omit_defaults=True):
    shards: list[ShardEntry]
    format: str = FORMAT
    version: int = VERSION
    job: dict = {}
    job_fingerprint: str = ""
    assets: dict = {}                       # what the job's asset library hashed to (see render_cli)
    shard_size: int = 0
    pairs_requested: int = 0
    shard_range: list[int] | None = None    # [start, stop) of shard indices this folder renders
    counts: dict = {}
    complete: bool | None = None

    def planned(self) -> list[dict]:
        """The shard plan of this folder (its shard range of the job's pairs)."""
        plan = plan_shards(self.pairs_requested, self.shard_size)
        if self.shard_range is not None:
            lo, hi = self.shard_range
            plan = plan[lo:hi]
        return plan

    def recount(self) -> None:
        pairs = sum(s.count for s in self.shards)
        self.counts = {"shards": len(self.shards), "pairs": pairs, "views": 2 * pairs}
        listed = {(s.name, s.first, s.count) for s in self.shards}
        self.complete = all((p["name"], p["first"], p["count"]) in listed for p in self.planned())

    def to_json(self) -> str:
        return json.dumps(msgspec.to_builtins(self), indent=1, sort_keys=True) + "\n"


def plan_shards(n_pairs: int, shard_size: int) -> list[dict]:
    """Shard k holds pairs [k * shard_size, min((k + 1) * shard_size, n_pairs))."""
    if shard_size < 1:
        return []
    return [{"shard": k, "name": shard_name(k), "first": s, "count": min(shard_size, n_pairs - s)}
            for k, s in enumerate(range(0, n_pairs, shard_size))]


def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / MANIFEST


def read_manifest(folder: str | Path, missing_ok: bool = False, warn_incomplete: bool = False) -> Manifest | None:
    """The manifest of a shard folder. Raises ManifestError naming the file when it is missing
    (unless missing_ok: then None), not JSON (a truncated write by another tool), or not of the
    schema. With warn_incomplete, a manifest marked complete: false warns (IncompleteWarning)."""
    path = manifest_path(folder)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ManifestError(f"{folder} has no {MANIFEST} (not a render output folder? a glob like "
                            f"'{folder}/*.tar' reads shards without one)") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        m = msgspec.json.decode(data, type=Manifest)
    except msgspec.DecodeError as e:
        what = "empty" if not data.strip() else f"not a valid shard manifest ({e})"
        raise ManifestError(f"{path}: {what}; if a render was writing it, re-run that render to "
                            "rebuild the manifest, else restore the file") from None
    if m.format != FORMAT:
        raise ManifestError(f"{path}: format {m.format!r}, expected {FORMAT!r}")
    if m.version > VERSION:
        raise ManifestError(f"{path}: format version {m.version} is newer than this code reads ({VERSION})")
    if warn_incomplete and m.complete is False:
        warnings.warn(f"{folder}: the manifest says complete: false ({m.counts.get('pairs', '?')} of "
                      f"{m.pairs_requested} pairs listed); reading the listed shards only. Re-run the "
                      "render to finish it.", IncompleteWarning, stacklevel=2)
    return m


def write_manifest(folder: str | Path, m: Manifest) -> None:
    m.recount()
    atomic_write(manifest_path(folder), m.to_json())


@contextlib.contextmanager
def manifest_lock(folder: str | Path):
    """Serialises manifest updates by the workers of one run (one machine: the run lock in
    generator.dataset.lock keeps other runs out of the folder)."""
    with open(Path(folder) / ".manifest.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def record_shard(folder: str | Path, entry: ShardEntry) -> Manifest:
    """List a renamed, complete shard in the manifest (replacing an entry of the same name)."""
    with manifest_lock(folder):
        m = read_manifest(folder)
        m.shards = sorted([s for s in m.shards if s.name != entry.name] + [entry], key=lambda s: s.name)
        write_manifest(folder, m)
        return m


def shard_entry(path: Path, first: int, count: int, **timings) -> ShardEntry:
    return ShardEntry(name=path.name, first=first, count=count, bytes=path.stat().st_size,
                      sha256=file_sha256(path), **{k: round(v, 3) for k, v in timings.items()})


def check_listed(folder: str | Path, m: Manifest, sha256: bool = True) -> tuple[list[ShardEntry], list[str]]:
    """(listed shards whose file matches its entry, problems of the others). sha256=False checks
    existence and size only."""
    folder = Path(folder)
    good, problems = [], []
    for s in m.shards:
        p = folder / s.name
        if not p.is_file():
            problems.append(f"{p}: listed in {MANIFEST} but missing")
        elif s.bytes is not None and p.stat().st_size != s.bytes:
            problems.append(f"{p}: size {p.stat().st_size} differs from the {s.bytes} bytes listed in {MANIFEST} (truncated or rewritten)")
        elif sha256 and s.sha256 and file_sha256(p) != s.sha256:
            problems.append(f"{p}: sha256 differs from {MANIFEST} (bytes changed since it was written)")
        else:
            good.append(s)
    return good, problems
