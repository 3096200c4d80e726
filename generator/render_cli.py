"""`cyclehand-gen render`: N cyclic pairs of a job into resumable webdataset shards.

The parent takes the folder's lock, checks the job's asset files, plans shards (all of them, or
this task's range of a job array), skips the complete ones (listed in OUT/manifest.json) and
hands batches of whole shards to an executor (generator.run: local worker processes restarted
after ``render.pairs_per_process`` pairs, or Ray actors). Workers write shard files; the parent
alone lists them in the manifest. A worker that dies loses only the shard it was rendering, which
is retried up to ``--retries`` times; shards it had not started go back to the queue uncounted.
A deterministic failure (a damaged asset, a bad job value) stops the run without retries.
"""
from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import click
import msgspec
from tqdm import tqdm

from generator import dataset as D
from generator.assets import check_library, record_digest
from generator.dataset.folder import prepare, writable_folder
from generator.dataset.lock import RunLock
from generator.jobs import DEVICES, PRESET_NAMES, JobError, load_job
from generator.paths import REPO_ROOT

DEFAULT_JOB = REPO_ROOT / "render_jobs" / "default.toml"   # what `render` runs without --job


def batches(todo: list[dict], pairs_per_process: int) -> list[list[dict]]:
    """Whole shards per worker process, up to pairs_per_process pairs (at least one shard)."""
    out, cur, n = [], [], 0
    for s in todo:
        if cur and n + s["count"] > pairs_per_process:
            out.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += s["count"]
    if cur:
        out.append(cur)
    return out


def shard_range(n_shards: int, spec: str | None = None, task_index: int | None = None,
                task_count: int | None = None) -> tuple[int, int] | None:
    """[start, stop) of the shard indices this run renders: ``START:STOP`` (either may be empty),
    or task I of N (contiguous, balanced blocks), or None for all."""
    if spec is not None and task_index is not None:
        raise click.UsageError("give --shard-range or --task-index/--task-count, not both")
    if spec is not None:
        try:
            lo, hi = (p.strip() for p in spec.split(":"))
            lo, hi = int(lo or 0), int(hi) if hi else n_shards
        except ValueError:
            raise click.BadParameter(f"{spec!r} is not START:STOP (shard indices)", param_hint="--shard-range") from None
        if not 0 <= lo < hi <= n_shards:
            raise click.BadParameter(f"{spec!r}: need 0 <= START < STOP <= {n_shards} (the job has "
                                     f"{n_shards} shards)", param_hint="--shard-range")
        return lo, hi
    if task_index is not None or task_count is not None:
        if task_index is None or task_count is None:
            raise click.UsageError("--task-index and --task-count go together")
        if not 0 <= task_index < task_count:
            raise click.BadParameter(f"{task_index} is not in [0, {task_count})", param_hint="--task-index")
        return task_index * n_shards // task_count, (task_index + 1) * n_shards // task_count
    return None


class Scheduler:
    """Pending batches, per-shard attempts, and what each worker exit means."""

    def __init__(self, todo: list[dict], per_batch: int, retries: int, log):
        self.pending = batches(todo, per_batch)
        self.attempts = {s["name"]: 0 for s in todo}
        self.retries, self.log = retries, log
        self.failures: list[str] = []

    def worker_exited(self, w, how) -> list[dict]:
        """Re-queue what the worker left; returns the shards whose work is lost (to redo).
        Raises ClickException for a deterministic error or a shard out of retries."""
        lost = [s for s in w.shards() if s["name"] not in w.done_shards]
        if how.ok and not lost:
            return []
        started = [s for s in lost if s["name"] == w.current]
        msg = (f"worker {w.pid}: {how.reason or 'stopped early'}; " +
               (f"was rendering {w.current}" if w.current else "before starting a shard") +
               (f"; {len(lost) - len(started)} queued shard(s) go back to the queue" if len(lost) > len(started) else ""))
        tail = _log_tail(w)
        self.log(msg + (f"\n  its log ({w.log_path}):\n{tail}" if tail and not how.ok else ""))
        self.failures.append(msg)
        if how.deterministic:
            raise click.ClickException(f"{how.reason}\n(a retry would fail the same way; fix this and "
                                       "re-run the same command to resume)")
        for s in started:
            self.attempts[s["name"]] += 1
            if self.attempts[s["name"]] > self.retries:
                raise click.ClickException(
                    f"{s['name']} failed {self.attempts[s['name']]} time(s) (last: {how.reason}); giving up. "
                    "Re-run the same command to resume.")
        if lost:
            self.pending.insert(0, lost)
        return started


def _log_tail(w) -> str:
    from generator.run.local import log_tail
    return log_tail(w.log_path) if w.log_path else ""


def run_render(job, out: Path, n_pairs: int, renderer: str | None = None, retries: int = 2,
               progress: bool = True, log=click.echo, assets: dict | None = None,
               span: tuple[int, int] | None = None, executor: str = "local",
               ray_address: str | None = None) -> dict:
    """Render (or resume) n_pairs of job (or the shard range ``span`` of them) into out; returns a
    summary dict. ``assets``: the record of the checked asset library (generator.assets), part of
    the fingerprint. Call with the folder's RunLock held."""
    R = job.render
    assets = assets or {}
    fingerprint = f"{job.fingerprint()}-{record_digest(assets)}"
    plan = D.plan_shards(n_pairs, R.shard_size)
    fresh = D.Manifest(shards=[], job=job.to_dict(), job_fingerprint=fingerprint, assets=assets,
                       shard_size=R.shard_size, pairs_requested=n_pairs,
                       shard_range=list(span) if span else None)
    plan = fresh.planned()
    m = prepare(out, fresh, plan, log=log)
    done = {s.name for s in m.shards}
    todo = [s for s in plan if s["name"] not in done]
    pairs_todo = sum(s["count"] for s in todo)
    where = f" (shards {span[0]}:{span[1]} of the job's {len(D.plan_shards(n_pairs, R.shard_size))})" if span else ""
    log(f"{out}: {len(plan)} shards of up to {R.shard_size} pairs{where}; {len(plan) - len(todo)} complete, "
        f"{len(todo)} to render ({pairs_todo} pairs = {2 * pairs_todo} views)")
    per_batch = R.shard_size if executor == "ray" else max(R.pairs_per_process, R.shard_size)
    sched = Scheduler(todo, per_batch, retries, log)
    events: queue.Queue = queue.Queue()
    running: list = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    t0 = time.time()
    render_seconds = pair_seconds = 0.0
    views = started = 0
    devices = set()
    parts = {"prepare_seconds": 0.0, "view_seconds": 0.0, "write_seconds": 0.0}
    bar = tqdm(total=2 * pairs_todo, unit="view", disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} views [{elapsed}<{remaining}{postfix}]")
    say = (lambda msg: bar.write(msg)) if progress else log
    sched.log = say
    resources = None
    if executor == "ray" and todo:
        from generator.run import ray_executor
        resources = ray_executor.start(ray_address, R.workers, log=say)
    idle_actors: list = []
    try:
        while sched.pending or running:
            while sched.pending and len(running) < R.workers:
                task = {"job": job.to_dict(), "source": job.source, "out": str(out), "fingerprint": fingerprint,
                        "shards": sched.pending.pop(0), "renderer": renderer}
                if executor == "ray":
                    from generator.run.ray_executor import RayWorker
                    running.append(RayWorker(task, events, resources, idle_actors.pop() if idle_actors else None))
                else:
                    from generator.run.local import LocalWorker
                    running.append(LocalWorker(task, events, Path(out) / D.names.LOG_DIR / f"render-{stamp}-w{started:03d}.log"))
                started += 1
            w, ev = events.get()
            kind = ev.get("event")
            if kind == "ready":
                if ev.get("device") not in devices:
                    devices.add(ev.get("device"))
                    say(f"worker {ev.get('pid')}: rendering on {ev.get('device')}")
            elif kind == "shard_start":
                w.current = ev["name"]
            elif kind == "pair":
                w.pairs_seen.add(ev["index"])
                views += 2
                render_seconds += ev.get("render_seconds", 0.0)
                pair_seconds += ev.get("seconds", 0.0)
                for k in parts:
                    parts[k] += ev.get(k, 0.0)
                bar.update(2)
                minutes = (time.time() - t0) / 60
                bar.set_postfix_str(f"{views / max(minutes, 1e-9):.1f} views/min")
            elif kind == "shard":
                entry = msgspec.convert({k: v for k, v in ev.items() if k != "event"}, D.ShardEntry)
                D.record_shard(out, entry)
                w.done_shards.add(entry.name)
                w.current = None
            elif kind == "error":
                w.error = ev
            elif kind == "exit":
                running.remove(w)
                how = w.finish()
                for s in sched.worker_exited(w, how):
                    # the lost shard's views will be rendered (and counted) again
                    redo = sum(1 for i in w.pairs_seen if s["first"] <= i < s["first"] + s["count"])
                    bar.total += 2 * redo
                if executor == "ray" and how.ok:
                    idle_actors.append(w.actor)
    finally:
        bar.close()
        for w in running:
            w.kill()
        for w in running:
            if hasattr(w, "proc"):
                w.proc.wait()
        _remove_temporaries(out, fingerprint, plan)
    wall = time.time() - t0
    m = D.read_manifest(out)
    summary = {"out": str(out), "pairs": m.counts["pairs"], "views": m.counts["views"],
               "complete": m.complete, "rendered_views": views, "wall_seconds": round(wall, 2),
               "views_per_hour": round(views / wall * 3600, 1) if wall > 0 and views else 0.0,
               "render_seconds": round(render_seconds, 2),
               # wall time (incl. worker start-up) over Cycles' own render time, and the same
               # ratio inside the worker's per-pair loop (sampling, posing, annotating, encoding)
               "pipeline_over_render": round(wall * R.workers / render_seconds, 3) if render_seconds else None,
               "pair_loop_over_render": round(pair_seconds / render_seconds, 3) if render_seconds else None,
               # where a pair's time goes: drawing + posing the sample, BlenderView.render calls
               # (Cycles + its read-back and compositing), annotating + encoding + tar writing
               "seconds_per_pair": {k.replace("_seconds", ""): round(v / max(views // 2, 1), 3)
                                    for k, v in parts.items()},
               "devices": sorted(d for d in devices if d), "worker_processes": started,
               "worker_failures": len(sched.failures), "executor": executor,
               "shard_range": list(span) if span else None}
    return summary


def _remove_temporaries(out: Path, fingerprint: str, plan: list[dict]) -> None:
    """The run holds the folder: no temporary of this job outlives it (killed workers leave them)."""
    for spec in plan:
        for t in Path(out).glob(D.names.shard_temp_prefix(spec["name"], fingerprint) + "*"):
            t.unlink(missing_ok=True)


@click.command("render")
@click.option("--views", "n_pairs", type=click.IntRange(min=1), default=None,
              help="Number of cyclic pairs (each pair = views a and b). Default: the job's `views`.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder for shard-*.tar and manifest.json.")
@click.option("--job", "job_path", type=click.Path(dir_okay=False), default=None,
              help="Job file (render_jobs/NAME.toml). Default: render_jobs/default.toml, the main job.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Job seed (overrides the job file).")
@click.option("--resolution", type=click.IntRange(min=1), default=None, help="Image width = height in pixels.")
@click.option("--samples", type=click.IntRange(min=1), default=None, help="Cycles samples per pixel.")
@click.option("--device", type=click.Choice(DEVICES), default=None, help="Render device.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (or Ray actors).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None, help="Quality preset.")
@click.option("--shard-size", type=click.IntRange(min=1), default=None, help="Pairs per shard.")
@click.option("--pairs-per-process", type=click.IntRange(min=1), default=None,
              help="Restart a worker after this many pairs (rounded up to whole shards).")
@click.option("--textures", "texture_dir", type=click.Path(file_okay=False), default=None,
              help="Texture set folder (default: the job's, textures/).")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Times a shard is retried after the worker rendering it died.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local worker processes, or Ray actors (pip install -e '.[ray]').")
@click.option("--ray-address", default=None,
              help="Join this Ray cluster (e.g. auto) instead of starting a local Ray instance.")
@click.option("--shard-range", default=None, metavar="START:STOP",
              help="Render only shards START..STOP-1 of the job (a job-array task); gather with `merge`.")
@click.option("--task-index", type=click.IntRange(min=0), default=None,
              help="This task's index in a job array (with --task-count): renders its block of shards.")
@click.option("--task-count", type=click.IntRange(min=1), default=None, help="Tasks in the job array.")
@click.option("--renderer", default=None, hidden=True,
              help="module:attr of the renderer class (tests inject a fake one).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def render(n_pairs, out, job_path, seed, resolution, samples, device, workers, preset, shard_size,
           pairs_per_process, texture_dir, retries, executor, ray_address, shard_range, task_index,
           task_count, renderer, no_progress):
    """Render cyclic pairs into resumable webdataset shards. Re-running the same command resumes."""
    try:
        if job_path is None and DEFAULT_JOB.is_file():
            job_path = DEFAULT_JOB
        job = load_job(job_path).override({
            "seed": seed, "camera.resolution": resolution, "render.samples": samples,
            "render.device": device, "render.workers": workers, "render.preset": preset,
            "render.shard_size": shard_size, "render.pairs_per_process": pairs_per_process,
            "appearance.texture_dir": texture_dir})
    except JobError as e:
        raise click.ClickException(str(e)) from None
    n_pairs = n_pairs if n_pairs is not None else job.views
    span = _span(n_pairs, job.render.shard_size, shard_range, task_index, task_count)
    if executor == "ray":
        from generator.run.ray_executor import _ray
        try:
            _ray()
        except RuntimeError as e:
            raise click.ClickException(str(e)) from None
    assets = _preflight(job)
    try:
        lock = RunLock(writable_folder(out))
        for note in lock.acquire():
            click.echo(note)
        try:
            summary = run_render(job, out, n_pairs, renderer=renderer, retries=retries,
                                 progress=not no_progress, assets=assets, span=span,
                                 executor=executor, ray_address=ray_address)
        finally:
            lock.release()
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(summary, indent=1))
    if not summary["complete"]:
        raise click.ClickException(f"{out}: incomplete; re-run the same command to resume")


def _span(n_pairs, shard_size, spec, task_index, task_count):
    return shard_range(len(D.plan_shards(n_pairs, shard_size)), spec, task_index, task_count)


def _preflight(job) -> dict:
    """Fail fast, in the parent, on what every worker would fail on: missing textures, bad globs,
    damaged asset files, a missing MANO model file, an absent named device. Returns the record of
    the checked asset library."""
    from generator.sample import resolve_library
    try:
        assets = check_library(resolve_library(job), log=click.echo)
    except (JobError, FileNotFoundError, KeyError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if job.hand.model == "mano":
        from generator.hand.mano_backend import find_model_file
        try:
            find_model_file(job.hand.mano_dir or None)
        except Exception as e:  # the backend's message says where to get MANO and where to put it
            raise click.ClickException(str(e)) from None
    if job.render.device != "auto":
        from generator.render.blender_view import DeviceUnavailable, select_device
        try:
            select_device(job.render.device)
        except DeviceUnavailable as e:
            raise click.ClickException(str(e)) from None
    return assets
