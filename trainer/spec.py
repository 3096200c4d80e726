"""Shard SPECs: what `--shards` accepts (the forms are read by generator.dataset.reader).

    DIR            a render-job directory: the shards its manifest.json lists (and only those:
                   anything else in DIR is work in progress), each checked against its size and
                   sha256; a manifest marked `complete: false` warns
    'DIR/*.tar'    a glob
    'DIR/shard-{000000..000009}.tar'   webdataset brace notation
    PACK           a crop pack folder (`cyclehand-train pack`, trainer/pack.py): the shards it holds
    SPEC:W         any of the above with a mixing weight W (default 1), e.g. `syn:0.7 real:0.3`

Several SPECs may be given; training draws from them in proportion to their weights.
"""
from __future__ import annotations

import dataclasses
import os
import re

from generator.dataset import DatasetError, resolve_urls


class SpecError(ValueError):
    """A --shards SPEC that cannot be resolved; the message names the SPEC and the problem."""


@dataclasses.dataclass
class ShardSet:
    spec: str
    urls: list[str]
    weight: float = 1.0
    samples: int | None = None       # known from a manifest, else None


def split_weight(spec: str, option: str = "--shards") -> tuple[str, float]:
    """A SPEC's path and mixing weight: 'DIR:0.7' -> ('DIR', 0.7); a path that exists is taken whole.
    ``option``: the flag that gave the SPEC, for the error message."""
    m = re.match(r"^(.*):([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$", spec)
    if m and not os.path.exists(spec):
        w = float(m.group(2))
        if w <= 0:
            raise SpecError(f"{option} {spec!r}: weight must be > 0, got {w}")
        return m.group(1), w
    return spec, 1.0


def resolve_one(spec: str, verify_sha256: bool = True, option: str = "--shards") -> ShardSet:
    path, weight = split_weight(spec.strip(), option)
    if not path:
        raise SpecError(f"{option} {spec!r}: empty SPEC")
    from trainer.pack import is_pack, read_info
    if is_pack(path):                   # a crop pack (trainer/pack.py): read as the shards it holds
        return ShardSet(spec, [path], weight, read_info(path)["count"])
    try:
        r = resolve_urls(path, sha256=verify_sha256)
    except DatasetError as e:
        raise SpecError(f"{option} {spec!r}: {e}") from None
    return ShardSet(spec, r.urls, weight, r.samples)


def resolve(specs: list[str] | tuple[str, ...] | str, verify_sha256: bool = True,
            option: str = "--shards") -> list[ShardSet]:
    """Resolve one or more SPECs (see module docstring) given by ``option``; raises SpecError with a
    clear message naming it."""
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise SpecError(f"no {option} SPEC given")
    return [resolve_one(s, verify_sha256, option) for s in specs]
