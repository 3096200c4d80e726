"""Reading shards: which files a SPEC names, and the samples in them, decoded.

    DIR            a render output folder: the shards its manifest.json lists (and only those:
                   anything else in DIR is work in progress), each checked against its entry
    'DIR/*.tar'    a glob
    'DIR/shard-{000000..000009}.tar'   webdataset brace notation
    FILE.tar       one shard

A decoded sample is a dict keyed by member name (generator.dataset.names): images as uint8 arrays
(RGB for views, 2D for masks and part ids), .npy members as arrays, "json" as a dict, plus
"__key__" and "__url__". A sample that cannot be decoded raises SampleError naming the shard, the
key and the member; ``SkipBadSamples`` skips, counts and reports them up to a threshold instead.
"""
from __future__ import annotations

import dataclasses
import glob
import io
import json
import os
import tarfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import braceexpand
import numpy as np
from PIL import Image

from generator.dataset.manifest import DatasetError, check_listed, read_manifest
from generator.dataset.names import IMAGE_EXTS, JSON, MANIFEST, VIEWS


class SampleError(DatasetError):
    """One sample that cannot be decoded: names the shard, the key and what is wrong."""

    def __init__(self, url: str, key: str, reason: str):
        super().__init__(f"{url}: sample {key}: {reason}")
        self.url, self.key, self.reason = url, key, reason


class TooManyBadSamples(DatasetError):
    pass


@dataclasses.dataclass
class Resolved:
    urls: list[str]
    samples: int | None          # known from a manifest, else None


def resolve_urls(spec: str | os.PathLike, sha256: bool = True, warn_incomplete: bool = True) -> Resolved:
    """The shard files a SPEC names (module docstring). A folder's listed shards are checked for
    existence, size and (with sha256, the default) content; a manifest marked incomplete warns."""
    path = str(spec)
    if not path:
        raise DatasetError("empty shard SPEC")
    if os.path.isdir(path):
        m = read_manifest(path, warn_incomplete=warn_incomplete)
        if not m.shards:
            raise DatasetError(f"{Path(path) / MANIFEST}: lists no complete shards")
        for s in m.shards:
            if not (Path(path) / s.name).is_file():
                raise DatasetError(f"{Path(path) / MANIFEST}: lists shard {s.name!r}, but "
                                   f"{Path(path) / s.name} does not exist")
        good, problems = check_listed(path, m, sha256=sha256)
        if problems:
            raise DatasetError("; ".join(problems))
        return Resolved([str(Path(path) / s.name) for s in good], sum(s.count for s in good))
    if any(c in path for c in "*?["):
        urls = sorted(glob.glob(path))
        if not urls:
            raise DatasetError(f"{path!r}: the glob matches no files")
    elif "{" in path:
        urls = list(braceexpand.braceexpand(path))
        missing = [u for u in urls if not os.path.isfile(u)]
        if missing:
            raise DatasetError(f"{path!r}: {len(missing)} of {len(urls)} shards do not exist, e.g. {missing[0]}")
    elif os.path.isfile(path):
        urls = [path]
    else:
        raise DatasetError(f"{path!r}: no such directory or file (expected a folder with {MANIFEST}, "
                           "a glob, or brace notation like 'DIR/shard-{000000..000003}.tar')")
    bad = [u for u in urls if not u.endswith(".tar")]
    if bad:
        raise DatasetError(f"{path!r}: not a .tar shard: {bad[0]}")
    return Resolved(urls, None)


def iter_raw(urls: Iterable[str]) -> Iterator[dict]:
    """Samples as {"__key__", "__url__", member: bytes}, grouped by key in tar order. A truncated
    or unreadable tar raises SampleError naming the shard."""
    for url in urls:
        cur: dict | None = None
        try:
            with tarfile.open(url, "r|") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    base = os.path.basename(info.name)
                    if "." not in base:
                        continue
                    key, suffix = base.split(".", 1)
                    if cur is None or cur["__key__"] != key:
                        if cur is not None:
                            yield cur
                        cur = {"__key__": key, "__url__": url}
                    cur[suffix] = tar.extractfile(info).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise SampleError(url, cur["__key__"] if cur else "(start)", f"unreadable tar ({e})") from None
        if cur is not None:
            yield cur


def _decode_image(data: bytes, rgb: bool) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im.convert("RGB") if rgb else im)


def decode_member(name: str, data: bytes):
    if name == JSON or name.endswith(".json"):
        return json.loads(data)
    ext = name.rsplit(".", 1)[-1]
    if ext == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if ext in ("png", "jpg", "jpeg"):
        return _decode_image(data, rgb=name.count(".") == 1)   # "a.png" is RGB; "a.mask.png" is not
    return data


def decode_sample(raw: dict, members: Iterable[str] | None = None) -> dict:
    """Decode a raw sample (all members, or only ``members``; the view images may be named as
    "a.png" whatever their extension). Raises SampleError naming the sample and the member."""
    key, url = raw.get("__key__", "?"), str(raw.get("__url__", "?"))
    wanted = None
    if members is not None:
        wanted = set(members)
        for v in VIEWS:
            if f"{v}.png" in wanted:
                wanted |= {f"{v}.{e}" for e in IMAGE_EXTS}
    out = {"__key__": key, "__url__": url}
    for name, data in raw.items():
        if name.startswith("__") or (wanted is not None and name not in wanted):
            continue
        try:
            out[name] = decode_member(name, data)
        except Exception as e:   # any decoder's failure is this sample's problem, named
            raise SampleError(url, key, f"member {name!r} does not decode ({type(e).__name__}: {e})") from None
    if (wanted is None or JSON in wanted) and JSON not in out:
        raise SampleError(url, key, f"no {JSON!r} annotations (members: {sorted(k for k in raw if not k.startswith('__'))})")
    return out


def view_image(sample: dict, view: str) -> np.ndarray:
    """The RGB image of a view, whichever extension the shard used."""
    for ext in IMAGE_EXTS:
        if f"{view}.{ext}" in sample:
            return sample[f"{view}.{ext}"]
    raise SampleError(sample.get("__url__", "?"), sample.get("__key__", "?"),
                      f"no image '{view}.png' or '{view}.jpg' (members: {sorted(k for k in sample if not k.startswith('__'))})")


class SkipBadSamples:
    """Skip samples that do not decode, count them, warn naming each, and fail once more than
    ``max_fraction`` of the samples seen (after ``grace`` samples) were bad. Optionally appends
    one JSON line per bad sample to ``log`` (several loader processes may share it)."""

    def __init__(self, max_fraction: float = 0.01, grace: int = 100, log: str | Path | None = None):
        self.max_fraction, self.grace, self.log = max_fraction, grace, log
        self.seen = self.bad = 0
        self.examples: list[str] = []

    def ok(self) -> None:
        self.seen += 1

    def __call__(self, err: Exception) -> bool:
        """Record err; returns True to continue, raises TooManyBadSamples past the threshold."""
        self.seen += 1
        self.bad += 1
        if len(self.examples) < 5:
            self.examples.append(str(err))
        warnings.warn(f"skipped a bad sample: {err}", stacklevel=2)
        if self.log:
            with open(self.log, "a") as f:
                f.write(json.dumps({"error": str(err)}) + "\n")
        if self.seen >= self.grace and self.bad > self.max_fraction * self.seen:
            raise TooManyBadSamples(f"{self.bad} of {self.seen} samples were bad (more than "
                                    f"{100 * self.max_fraction:g}%), e.g. {self.examples[0]}")
        return True

    def summary(self) -> str:
        return f"{self.bad} bad sample(s) skipped of {self.seen}" + (f", e.g. {self.examples[0]}" if self.bad else "")


def iter_samples(spec, members: Iterable[str] | None = None, sha256: bool = True,
                 on_error: SkipBadSamples | None = None) -> Iterator[dict]:
    """Decoded samples of a SPEC (or a list of SPECs/shard paths), in order. ``members`` limits
    decoding to those members; ``on_error`` (SkipBadSamples) skips bad ones instead of raising."""
    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    urls = [u for s in specs for u in resolve_urls(s, sha256=sha256).urls]
    raw_iter = iter_raw(urls)
    while True:
        try:
            raw = next(raw_iter)
        except StopIteration:
            return
        except SampleError as e:        # a broken tar: the rest of that shard is lost
            if on_error is None:
                raise
            on_error(e)
            raw_iter = iter_raw(urls[urls.index(e.url) + 1:])
            continue
        try:
            s = decode_sample(raw, members)
        except SampleError as e:
            if on_error is None:
                raise
            on_error(e)
            continue
        if on_error is not None:
            on_error.ok()
        yield s
