"""Shard SPECs: what `--shards` accepts.

    DIR            a render-job directory: the shards its manifest.json lists (and only those:
                   anything else in DIR is work in progress), each checked to exist
    'DIR/*.tar'    a glob
    'DIR/shard-{000000..000009}.tar'   webdataset brace notation
    SPEC:W         any of the above with a mixing weight W (default 1), e.g. `syn:0.7 real:0.3`

Several SPECs may be given; training draws from them in proportion to their weights.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from pathlib import Path

import braceexpand

from generator.paths import file_sha256


class SpecError(ValueError):
    """A --shards SPEC that cannot be resolved; the message names the SPEC and the problem."""


@dataclasses.dataclass
class ShardSet:
    spec: str
    urls: list[str]
    weight: float = 1.0
    samples: int | None = None       # known from a manifest, else None


_NAME_KEYS = ("name", "file", "path", "url")
_COUNT_KEYS = ("count", "samples", "num_samples", "n")


def _split_weight(spec: str) -> tuple[str, float]:
    m = re.match(r"^(.*):([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$", spec)
    if m and not os.path.exists(spec):
        w = float(m.group(2))
        if w <= 0:
            raise SpecError(f"--shards {spec!r}: weight must be > 0, got {w}")
        return m.group(1), w
    return spec, 1.0



def read_manifest(directory: str | Path, verify_sha256: bool = False) -> tuple[list[str], int]:
    """Shard paths listed by ``DIR/manifest.json`` and their total sample count."""
    directory = Path(directory)
    mpath = directory / "manifest.json"
    if not mpath.is_file():
        raise SpecError(f"--shards {str(directory)!r}: directory has no manifest.json "
                        "(not a finished render job? pass a glob like 'DIR/*.tar' to read shards directly)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise SpecError(f"{mpath}: not valid JSON ({e})") from e
    entries = manifest.get("shards") if isinstance(manifest, dict) else None
    if isinstance(entries, dict):                   # {"shard-000000.tar": {...}} also accepted
        entries = [{"file": k, **(v if isinstance(v, dict) else {})} for k, v in entries.items()]
    if not entries:
        raise SpecError(f"{mpath}: lists no complete shards (key 'shards' is missing or empty)")
    urls, total = [], 0
    for i, e in enumerate(entries):
        e = {"file": e} if isinstance(e, str) else e
        name = next((e[k] for k in _NAME_KEYS if k in e), None)
        if name is None:
            raise SpecError(f"{mpath}: shards[{i}] has none of the keys {_NAME_KEYS}")
        path = Path(name) if os.path.isabs(name) else directory / name
        if not path.is_file():
            raise SpecError(f"{mpath}: lists shard {name!r}, but {path} does not exist")
        if e.get("bytes") is not None and path.stat().st_size != int(e["bytes"]):
            raise SpecError(f"{path}: size {path.stat().st_size} differs from the {e['bytes']} bytes "
                            f"listed in {mpath} (truncated or rewritten shard)")
        if verify_sha256 and e.get("sha256") and file_sha256(path) != e["sha256"]:
            raise SpecError(f"{path}: sha256 does not match {mpath} (corrupt or rewritten shard)")
        total += int(next((e[k] for k in _COUNT_KEYS if k in e), 0))
        urls.append(str(path))
    return urls, total


def resolve_one(spec: str, verify_sha256: bool = False) -> ShardSet:
    path, weight = _split_weight(spec.strip())
    if not path:
        raise SpecError(f"--shards {spec!r}: empty SPEC")
    if os.path.isdir(path):
        urls, total = read_manifest(path, verify_sha256)
        return ShardSet(spec, urls, weight, total or None)
    if any(c in path for c in "*?["):
        urls = sorted(glob.glob(path))
        if not urls:
            raise SpecError(f"--shards {spec!r}: the glob matches no files")
    elif "{" in path:
        urls = list(braceexpand.braceexpand(path))
        missing = [u for u in urls if not os.path.isfile(u)]
        if missing:
            raise SpecError(f"--shards {spec!r}: {len(missing)} of {len(urls)} shards do not exist, "
                            f"e.g. {missing[0]}")
    elif os.path.isfile(path):
        urls = [path]
    else:
        raise SpecError(f"--shards {spec!r}: no such directory or file (expected a job directory "
                        "with manifest.json, a glob, or brace notation like 'DIR/shard-{000000..000003}.tar')")
    bad = [u for u in urls if not u.endswith(".tar")]
    if bad:
        raise SpecError(f"--shards {spec!r}: not a .tar shard: {bad[0]}")
    return ShardSet(spec, urls, weight, None)


def resolve(specs: list[str] | tuple[str, ...] | str, verify_sha256: bool = False) -> list[ShardSet]:
    """Resolve one or more SPECs (see module docstring); raises SpecError with a clear message."""
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise SpecError("no --shards SPEC given")
    return [resolve_one(s, verify_sha256) for s in specs]
