"""`cyclehand-gen merge OUT TASK_DIR...`: gather the output folders of a job array into one.

The job-array model (docs/RENDER_PIPELINE.md): each task renders its own shard range
(`render --task-index I --task-count N` or `--shard-range START:STOP`) into its OWN folder, with
no coordinator and no shared writes; `merge` then checks that every folder belongs to the same
job (fingerprint, shard size, pair count), verifies each shard's sha256, and hard-links (or
copies, across file systems) the shards into OUT with one manifest. Shard k holds the same pairs
whichever task rendered it, so a shard present in two folders must have identical bytes' worth
of samples; a conflicting duplicate is an error. Re-running merge with more folders resumes.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from generator.atomic import atomic_path, fsync_dir
from generator.dataset.lock import RunLock
from generator.dataset.manifest import (DatasetError, Manifest, check_listed, manifest_lock,
                                        read_manifest, write_manifest)


def merge_folders(out: str | Path, sources: list[str | Path], log=print) -> Manifest:
    out = Path(out)
    if not sources:
        raise DatasetError("merge: name at least one task folder")
    ms = [(Path(d), read_manifest(d)) for d in sources]
    first = ms[0][1]
    for d, m in ms:
        for attr in ("job_fingerprint", "shard_size", "pairs_requested"):
            if getattr(m, attr) != getattr(first, attr):
                raise DatasetError(f"merge: {d} has {attr} {getattr(m, attr)!r}, {ms[0][0]} has "
                                   f"{getattr(first, attr)!r}: not tasks of one job")
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out, what="merge"):
        target = read_manifest(out, missing_ok=True)
        if target is not None and target.job_fingerprint != first.job_fingerprint:
            raise DatasetError(f"merge: {out} already holds another job ({target.job_fingerprint})")
        merged = {s.name: s for s in (target.shards if target else [])}
        for d, m in ms:
            good, problems = check_listed(d, m, sha256=True)
            if problems:
                raise DatasetError("merge: " + "; ".join(problems))
            for s in good:
                have = merged.get(s.name)
                if have is not None:
                    if (have.first, have.count, have.sha256) != (s.first, s.count, s.sha256):
                        raise DatasetError(f"merge: {s.name} differs between folders ({d} and an earlier one); "
                                           "tasks of one job must render disjoint shard ranges")
                    if (out / s.name).is_file():
                        continue
                src, dst = d / s.name, out / s.name
                if src.resolve() != dst.resolve():
                    with atomic_path(dst) as tmp:
                        try:
                            os.link(src, tmp)
                        except OSError:
                            shutil.copyfile(src, tmp)
                merged[s.name] = s
            log(f"{d}: {len(good)} shard(s)")
        fsync_dir(out)
        with manifest_lock(out):
            m = Manifest(shards=sorted(merged.values(), key=lambda s: s.name), job=first.job,
                         job_fingerprint=first.job_fingerprint, assets=first.assets,
                         shard_size=first.shard_size, pairs_requested=first.pairs_requested)
            write_manifest(out, m)
    return m


@click.command("merge")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def merge(out, sources):
    """Gather the task folders of one job (render --task-index/--shard-range) into OUT."""
    try:
        m = merge_folders(out, list(sources), log=click.echo)
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{out}: {m.counts['shards']} shards, {m.counts['pairs']} of {m.pairs_requested} pairs"
               + ("; complete" if m.complete else "; INCOMPLETE: merge the remaining task folders"))
    if not m.complete:
        raise SystemExit(1)
