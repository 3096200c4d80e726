"""Preparing an output folder for a (resumed) render, without ever deleting someone's data.

Only what this job provably wrote is touched: its own temporaries (named after the job's
fingerprint), and shards it listed whose bytes later changed (moved aside, never deleted). A
``shard-*.tar`` that the manifest does not list is adopted when it is a complete shard of this
job (a crash between rename and manifest update): every planned sample present, every member
decoding, annotations carrying this job's fingerprint. Anything else is refused, saying what is
there and what to do.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from generator.dataset.manifest import (DatasetError, Manifest, ManifestError, check_listed,
                                        manifest_lock, manifest_path, read_manifest, shard_entry,
                                        write_manifest)
from generator.paths import ensure_writable
from generator.dataset.names import (JSON, MANIFEST, SHARD_RE, VIEWS, image_member, member,
                                     REQUIRED_PER_VIEW, sample_key, shard_temp_prefix)


def writable_folder(out: Path) -> Path:
    try:
        return ensure_writable(out)
    except OSError as e:
        raise DatasetError(f"cannot write to {out}: {e.strerror or e}; choose a writable --out") from None


def shard_problem(path: Path, spec: dict, fingerprint: str) -> str | None:
    """Why ``path`` is not a complete shard of this job's planned ``spec`` (None if it is)."""
    from generator.dataset.reader import SampleError, decode_sample, iter_raw
    want = [sample_key(i) for i in range(spec["first"], spec["first"] + spec["count"])]
    got = []
    try:
        for raw in iter_raw([str(path)]):
            got.append(raw["__key__"])
            s = decode_sample(raw)
            missing = [m for v in VIEWS for m in [member(v, x) for x in REQUIRED_PER_VIEW]
                       + [image_member(v)] if m not in s and not (m.endswith(".png") and
                       image_member(v, "jpg") in s)]
            if missing:
                return f"sample {raw['__key__']} lacks {', '.join(missing)}"
            fp = s[JSON].get("job_fingerprint")
            if fp != fingerprint:
                return f"sample {raw['__key__']} belongs to job {fp or '(unknown: written by older code)'}, not {fingerprint}"
    except SampleError as e:
        return e.reason
    if got != want:
        return f"holds samples {got[0] if got else '-'}..{got[-1] if got else '-'} ({len(got)}), planned {want[0]}..{want[-1]} ({len(want)})"
    return None


def prepare(out: str | Path, fresh: Manifest, plan: list[dict], log=print) -> Manifest:
    """Create or resume OUT's manifest for ``fresh`` (job, fingerprint, sizes, range of this run):
    check it belongs to the same job, drop listed shards whose file changed or whose range
    changed, adopt unlisted complete shards of this job, remove this job's temporaries. Call it
    holding the folder's RunLock. Raises DatasetError with what to do."""
    out = writable_folder(Path(out))
    fp = fresh.job_fingerprint
    with manifest_lock(out):
        try:
            m = read_manifest(out, missing_ok=True)
        except ManifestError as e:
            aside = manifest_path(out).with_name(f"{MANIFEST}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(manifest_path(out), aside)
            log(f"{e}\n  kept it as {aside.name}; listing again the shards that check out as this job's")
            m = None
        if m is not None and m.job_fingerprint != fp:
            why = ("the job's asset files (HDRIs, textures, photos) changed"
                   if m.job_fingerprint.split("-")[0] == fp.split("-")[0] else
                   "its job values, seed or shard size differ")
            raise DatasetError(
                f"{out} holds shards of a different job or shard size: {why} (manifest fingerprint "
                f"{m.job_fingerprint or '(none)'}, this run {fp}); use another --out, or the same job, seed, "
                "flags and asset files to resume")
        if m is not None and m.shard_size != fresh.shard_size:
            raise DatasetError(f"{out} holds shards of a different job or shard size ({m.shard_size}, "
                               f"this run {fresh.shard_size}); use another --out")
        planned = {p["name"]: p for p in plan}
        if m is not None:
            n_pairs = fresh.pairs_requested
            beyond = [s.name for s in m.shards if (s.first or 0) + s.count > n_pairs]
            if beyond:
                have = max((s.first or 0) + s.count for s in m.shards)
                raise DatasetError(
                    f"{out} already holds complete shards up to pair {have}; rendering {n_pairs} pairs "
                    f"would discard {len(beyond)} of them ({', '.join(sorted(beyond))}); ask for at least "
                    f"{have} pairs, or use another --out")
            kept = []
            good, problems = check_listed(out, m, sha256=True)
            good_names = {s.name for s in good}
            for s in m.shards:
                if s.name not in good_names:
                    p = out / s.name
                    if p.is_file():
                        aside = p.with_name(p.name + f".changed-{time.strftime('%Y%m%d-%H%M%S')}")
                        os.replace(p, aside)
                        log(f"{p.name}: its bytes differ from the manifest; moved aside as {aside.name}, rendering it again")
                    else:
                        log(f"{s.name}: listed but missing; rendering it again")
                    continue
                if s.name in planned and (s.first, s.count) == (planned[s.name]["first"], planned[s.name]["count"]):
                    kept.append(s)
                elif s.name in planned:             # ours, listed, but --views grew its range
                    (out / s.name).unlink()
                    log(f"{s.name}: its range grew ({s.count} -> {planned[s.name]['count']} pairs); rendering it again")
                else:
                    kept.append(s)                  # outside this run's shard range: kept as it is
            m.shards = kept
        else:
            m = fresh
        # job and range of this run (a merged folder or another task keeps its own manifest)
        m.job, m.assets, m.pairs_requested, m.shard_range = fresh.job, fresh.assets, fresh.pairs_requested, fresh.shard_range
        listed = {s.name for s in m.shards}
        foreign = []
        for p in sorted(out.iterdir()):
            if not SHARD_RE.match(p.name) or p.name in listed:
                continue
            spec = planned.get(p.name)
            why = shard_problem(p, spec, fp) if spec else "not part of this run's plan of shards"
            if why is None:
                m.shards.append(shard_entry(p, spec["first"], spec["count"]))
                log(f"{p.name}: complete shard of this job not yet listed (a crash after writing it); adopted")
            else:
                foreign.append(f"{p.name} ({why})")
        if foreign:
            raise DatasetError(
                f"{out} holds shard files that this run did not list and cannot adopt: "
                f"{'; '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}. They may be another "
                "dataset's or an older output: nothing was deleted. Move them elsewhere (or render into "
                "another --out); `cyclehand-gen verify` tells what a folder holds.")
        m.shards.sort(key=lambda s: s.name)
        write_manifest(out, m)
    removed = []
    for spec in plan:
        for t in out.glob(shard_temp_prefix(spec["name"], fp) + "*"):
            t.unlink(missing_ok=True)
            removed.append(t.name)
    if removed:
        log(f"removed unfinished work of this job: {', '.join(sorted(removed))}")
    return m
