"""The HDRI library: the eight CC0 HDRIs shipped inside the bpy wheel, plus any .hdr/.exr files
users drop into ``hdri/`` (or folders they name), indexed into a manifest.

Each entry: name (file stem, the name jobs select by, with globs), path, source ("bpy" or
"user"), license, sha256, bytes. A user file's license comes from a sidecar ``NAME.license``
(or ``NAME.txt``) or a ``LICENSE``/``license.txt`` in its folder; otherwise "unknown". The
manifest ``hdri/manifest.json`` caches sha256 by (path, size, mtime) so re-indexing is cheap.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import json
from pathlib import Path

import click

from generator.atomic import atomic_write
from generator.paths import file_sha256

EXTENSIONS = (".hdr", ".exr")
BPY_LICENSE = "CC0-1.0 (Poly Haven, via Blender's studiolights)"


@dataclasses.dataclass
class HdriEntry:
    name: str
    path: str
    source: str
    license: str
    sha256: str
    bytes: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def bpy_hdri_dir() -> Path | None:
    """Blender's studiolights/world folder inside the installed bpy wheel (without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        hits = sorted(Path(root).glob("*/datafiles/studiolights/world"))
        if hits:
            return hits[-1]
    return None


def default_user_dir() -> Path:
    from generator.paths import REPO_ROOT
    return REPO_ROOT / "hdri"


def _user_license(path: Path) -> str:
    for side in (path.with_suffix(".license"), path.with_suffix(".txt")):
        if side.is_file():
            return side.read_text().strip().splitlines()[0][:200] if side.read_text().strip() else "unknown"
    for name in ("LICENSE", "LICENSE.txt", "license.txt"):
        f = path.parent / name
        if f.is_file() and f.read_text().strip():
            return f.read_text().strip().splitlines()[0][:200]
    return "unknown"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def index_hdris(user_dirs: list[str | Path] | None = None, embedded: bool = True,
                cache: dict | None = None) -> list[HdriEntry]:
    """All HDRIs, sorted by name. ``user_dirs`` defaults to the repository's ``hdri/``; a named
    folder that does not exist is an error. Duplicate names are an error naming both files."""
    cache = cache or {}
    sources: list[tuple[Path, str]] = []
    if embedded:
        d = bpy_hdri_dir()
        if d is None:
            raise FileNotFoundError("the bpy wheel's studiolights/world HDRIs were not found; "
                                    "is bpy installed in this Python? (make setup)")
        sources += [(p, "bpy") for p in _files(d)]
    if user_dirs is None:
        user_dirs = [default_user_dir()] if default_user_dir().is_dir() else []
    for d in user_dirs:
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"HDRI folder {d} does not exist")
        sources += [(p, "user") for p in _files(d)]
    entries: dict[str, HdriEntry] = {}
    for path, source in sources:
        path = path.resolve()
        st = path.stat()
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        sha = cache.get(key) or file_sha256(path)
        cache[key] = sha
        name = path.stem
        if name in entries:
            raise ValueError(f"two HDRIs are named {name!r}: {entries[name].path} and {path}; "
                             "rename one (jobs select HDRIs by name)")
        lic = BPY_LICENSE if source == "bpy" else _user_license(path)
        entries[name] = HdriEntry(name, str(path), source, lic, sha, st.st_size)
    return [entries[k] for k in sorted(entries)]


def load_library(user_dirs=None, embedded: bool = True, manifest: Path | None = None) -> list[HdriEntry]:
    """Index with the sha256 cache kept in ``manifest`` (default hdri/manifest.json), and rewrite
    the manifest atomically when it changed (skipped quietly if the folder is read-only)."""
    manifest = Path(manifest) if manifest else default_user_dir() / "manifest.json"
    cache = {}
    old = None
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
            cache = old.get("sha256_cache", {})
        except (json.JSONDecodeError, AttributeError):
            old = None
    entries = index_hdris(user_dirs, embedded, cache)
    new = {"version": 1, "hdris": [e.to_json() for e in entries],
           "sha256_cache": {k: v for k, v in cache.items()
                            if any(k.startswith(e.path + "|") for e in entries)}}
    if new != old and manifest.parent.is_dir():
        try:
            atomic_write(manifest, json.dumps(new, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass
    return entries


def select(entries: list[HdriEntry], patterns: list[str], exclude: list[str] = ()) -> list[HdriEntry]:
    """Entries whose name matches any pattern (names or globs) and no exclude pattern. A pattern
    that matches nothing is an error naming it (a typo must not silently shrink a split)."""
    names = [e.name for e in entries]
    for p in list(patterns) + list(exclude):
        if not fnmatch.filter(names, p):
            raise ValueError(f"HDRI pattern {p!r} matches none of: {', '.join(names) or '(none)'}")
    return [e for e in entries
            if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)
            and not any(fnmatch.fnmatchcase(e.name, p) for p in exclude)]


@click.command("hdri")
@click.option("--dir", "dirs", multiple=True, type=click.Path(file_okay=False),
              help="HDRI folder(s) to index (default: the repository's hdri/).")
@click.option("--no-embedded", is_flag=True, help="Leave out the HDRIs shipped in the bpy wheel.")
@click.option("--json", "as_json", is_flag=True, help="Print the index as JSON.")
def hdri_cli(dirs, no_embedded, as_json):
    """List and index the HDRI library (writes hdri/manifest.json)."""
    entries = load_library(list(dirs) or None, embedded=not no_embedded)
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=1))
        return
    for e in entries:
        click.echo(f"{e.name:24s} {e.source:5s} {e.bytes / 1e6:7.2f} MB  {e.sha256[:12]}  {e.license}  {e.path}")
    click.echo(f"{len(entries)} HDRIs")
