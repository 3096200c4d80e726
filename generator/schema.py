"""Typed, validated configuration tables: the machinery behind render jobs (generator.jobs) and
the kinds' specs (generator.sample.kinds).

A table is a dataclass whose fields are made with ``field(default, doc, **rules)``; ``build(cls,
data, source, prefix)`` turns a TOML/JSON table into it, failing with a JobError that names the
source and the dotted key for unknown keys (with a "did you mean" hint) and bad values. A field
made with ``table(cls)`` holds a nested table.

Rules: ``min``/``max`` (numbers), ``choices`` (strings), ``range=(lo, hi)`` (a [low, high] list),
``items`` (a list of allowed values), ``keys`` (a table of non-negative weights with these keys).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math


class JobError(ValueError):
    """A bad job value (jobs and kind specs alike); the message starts with "SOURCE: dotted.key: "."""


def field(default, doc: str = "", **rules):
    """A field with a default (copied for mutables), a doc string and validation rules."""
    kw = {"default_factory": (lambda d=default: json.loads(json.dumps(d)))} if isinstance(
        default, (list, dict)) else {"default": default}
    return dataclasses.field(metadata={"doc": doc, **rules}, **kw)


def table(cls, doc: str = ""):
    """A field holding a nested table of dataclass ``cls`` (its defaults when absent)."""
    return dataclasses.field(default_factory=cls, metadata={"doc": doc or (cls.__doc__ or "").strip(),
                                                            "table": cls})


def fail(source, key, msg):
    raise JobError(f"{source}: {key}: {msg}")


def _number(source, key, value, typ):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(source, key, f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):     # TOML allows nan and inf
        fail(source, key, f"expected a finite number, got {value!r}")
    if typ is int:
        if isinstance(value, float) and not value.is_integer():
            fail(source, key, f"expected an integer, got {value!r}")
        return int(value)
    try:
        return float(value)
    except OverflowError:
        fail(source, key, f"{value} is too large")


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


def check_value(source, key, f: dataclasses.Field, value):
    meta = f.metadata
    typ = f.type if not isinstance(f.type, str) else _TYPES[f.type]
    if typ in (int, float):
        value = _number(source, key, value, typ)
        if "min" in meta and value < meta["min"]:
            fail(source, key, f"{value} is below the minimum {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(source, key, f"{value} is above the maximum {meta['max']}")
    elif typ is bool:
        if not isinstance(value, bool):
            fail(source, key, f"expected true or false, got {value!r}")
    elif typ is str:
        if not isinstance(value, str):
            fail(source, key, f"expected a string, got {value!r}")
        if "choices" in meta and value not in meta["choices"]:
            fail(source, key, f"{value!r} is not one of {', '.join(map(str, meta['choices']))}")
    elif typ is list:
        if not isinstance(value, list):
            fail(source, key, f"expected a list, got {value!r}")
        if "range" in meta:
            if len(value) != 2:
                fail(source, key, f"expected a [low, high] pair, got {value!r}")
            lo, hi = (_number(source, key, v, float) for v in value)
            if lo > hi:
                fail(source, key, f"low {lo} is above high {hi}")
            rlo, rhi = meta["range"]
            if lo < rlo or hi > rhi:
                fail(source, key, f"{value} is outside the allowed range [{rlo}, {rhi}]")
            value = [lo, hi]
        elif "items" in meta:
            for v in value:
                if v not in meta["items"] or isinstance(v, bool):
                    fail(source, key, f"{v!r} is not one of {', '.join(map(str, meta['items']))}")
        else:
            for v in value:
                if not isinstance(v, str):
                    fail(source, key, f"expected a list of strings, got {v!r}")
    elif typ is dict:
        if not isinstance(value, dict):
            fail(source, key, f"expected a table, got {value!r}")
        for k, v in value.items():
            if k not in meta["keys"]:
                fail(source, f"{key}.{k}", f"unknown key (known: {', '.join(meta['keys'])})")
            v = _number(source, f"{key}.{k}", v, float)
            if v < 0:
                fail(source, f"{key}.{k}", f"weight {v} is negative")
            value[k] = v
        if sum(value.values()) <= 0:
            fail(source, key, "the weights must not all be zero")
    return value


def public_fields(cls) -> dict:
    return {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


def build(cls, data, source: str, prefix: str = ""):
    """A ``cls`` from a table, validated; nested tables recurse. Unknown keys fail naming them."""
    if not isinstance(data, dict):
        fail(source, prefix.rstrip(".") or "(top level)", f"expected a table, got {data!r}")
    fields = public_fields(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            near = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(fields)})"
            fail(source, prefix + key, f"unknown key{hint}")
        f = fields[key]
        if "table" in f.metadata:
            kwargs[key] = build(f.metadata["table"], value, source, prefix + key + ".")
        else:
            kwargs[key] = check_value(source, prefix + key, f, value)
    return cls(**kwargs)


def describe(cls, prefix: str = "") -> list[str]:
    """``key = default  # doc`` for every key of a table, nested tables flattened to dotted keys."""
    lines = []
    for f in public_fields(cls).values():
        if "table" in f.metadata:
            lines += describe(f.metadata["table"], prefix + f.name + ".")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{prefix}{f.name} = {json.dumps(default)}  # {f.metadata['doc']}")
    return lines
