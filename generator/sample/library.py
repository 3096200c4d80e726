"""What a job may draw from: HDRIs, texture variants and background photos, resolved once per job
from names/globs and sorted, so the same files give the same samples."""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
from pathlib import Path

from generator import hdri as hdri_lib
from generator.schema import JobError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclasses.dataclass
class Library:
    hdris: list            # HdriEntry, sorted by name
    textures: list         # texture variant dicts (manifest entries with absolute map paths)
    images: list           # absolute background image paths, sorted

    @functools.cached_property
    def hdri_by_name(self):
        return {e.name: e for e in self.hdris}

    @functools.cached_property
    def texture_by_name(self):
        return {v["name"]: v for v in self.textures}


def glob_filter(names, include, exclude, what, source):
    for p in list(include) + list(exclude):
        if not fnmatch.filter(names, p):
            raise JobError(f"{source}: {what} pattern {p!r} matches none of: {', '.join(names) or '(none)'}")
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include)
            and not any(fnmatch.fnmatchcase(n, p) for p in exclude)]


def load_textures(texture_dir: str | Path) -> list[dict]:
    """A relative folder that is not under the working directory is looked up in the checkout,
    so the default `textures` works from anywhere."""
    from generator.paths import REPO_ROOT
    from generator.textures import load_texture_set
    path = Path(texture_dir)
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path
    return list(load_texture_set(path).variants)


def resolve_library(job, textures: list[dict] | None = None) -> Library:
    """The HDRIs, texture variants and background images this job may use."""
    L, A, B = job.lighting, job.appearance, job.background
    entries = hdri_lib.load_library(L.hdri_dirs or None, embedded=L.embedded_hdris)
    names = glob_filter([e.name for e in entries], L.hdris, L.exclude_hdris, "lighting.hdris", job.source)
    by_name = {e.name: e for e in entries}
    hdris = [by_name[n] for n in names]
    if textures is None:
        textures = load_textures(A.texture_dir)
    tex_names = glob_filter(sorted(v["name"] for v in textures), A.textures, A.exclude_textures,
                            "appearance.textures", job.source)
    tex = {v["name"]: v for v in textures}
    variants = [tex[n] for n in tex_names if not A.skin_tones or tex[n].get("mst") in A.skin_tones]
    if not variants:
        raise JobError(f"{job.source}: appearance: no texture variant left after the name and skin-tone filters")
    images = []
    if B.image_dir:
        d = Path(B.image_dir)
        if not d.is_dir():
            raise JobError(f"{job.source}: background.image_dir: folder {d} does not exist")
        images = sorted(str(p.resolve()) for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        from generator.assets import usable_images   # drops photos the render's check found unreadable
        images = usable_images(images)
        if not images:
            raise JobError(f"{job.source}: background.image_dir: no images ({', '.join(IMAGE_EXTENSIONS)}) in {d}")
    if job.lighting.kinds.get("hdri", 0) > 0 and not hdris:
        raise JobError(f"{job.source}: lighting.hdris: no HDRI selected but lighting.kinds.hdri > 0")
    return Library(hdris=hdris, textures=variants, images=images)
