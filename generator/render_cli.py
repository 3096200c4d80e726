"""`cyclehand-gen render`: N cyclic pairs of a job into resumable webdataset shards.

The parent plans shards, skips the complete ones (listed in OUT/manifest.json), and runs worker
processes (generator.render_worker), each given whole shards up to ``render.pairs_per_process``
pairs and then replaced by a fresh process (bounds Blender's memory). A worker that dies loses
only its unfinished shard, which goes back to the queue (at most ``--retries`` times).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from tqdm import tqdm

from generator import shards as S
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


class Worker:
    """One worker subprocess with a reader thread turning its progress lines into events."""

    def __init__(self, task: dict, events: queue.Queue, env=None):
        r, w = os.pipe()
        self.task = dict(task, fd=w)
        self.proc = subprocess.Popen([sys.executable, "-m", "generator.render_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     pass_fds=(w,), env=env)
        os.close(w)
        self.proc.stdin.write(json.dumps(self.task).encode())
        self.proc.stdin.close()
        self.done_shards: set[str] = set()
        self.pairs_seen: set[int] = set()
        self.thread = threading.Thread(target=self._read, args=(r, events), daemon=True)
        self.thread.start()

    def _read(self, r, events):
        with os.fdopen(r) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if ev.get("event") == "shard":
                    self.done_shards.add(ev["name"])
                events.put((self, ev))
        events.put((self, {"event": "exit"}))

    def unfinished(self) -> list[dict]:
        return [s for s in self.task["shards"] if s["name"] not in self.done_shards]


def run_render(job, out: Path, n_pairs: int, renderer: str | None = None, retries: int = 2,
               progress: bool = True, log=click.echo) -> dict:
    """Render (or resume) n_pairs of job into out; returns a summary dict."""
    R = job.render
    S.open_manifest(out, job.to_dict(), job.fingerprint(), n_pairs, R.shard_size)
    done = S.complete_shards(out)
    removed = S.clean_stale(out, keep=done)
    if removed:
        log(f"removed unfinished work: {', '.join(sorted(removed))}")
    plan = S.plan_shards(n_pairs, R.shard_size)
    todo = [s for s in plan if s["name"] not in done]
    pairs_todo = sum(s["count"] for s in todo)
    log(f"{out}: {len(plan)} shards of up to {R.shard_size} pairs; {len(plan) - len(todo)} complete, "
        f"{len(todo)} to render ({pairs_todo} pairs = {2 * pairs_todo} views)")
    pending = batches(todo, max(R.pairs_per_process, R.shard_size))
    attempts = {s["name"]: 0 for s in todo}
    events: queue.Queue = queue.Queue()
    running: list[Worker] = []
    t0 = time.time()
    render_seconds = 0.0
    views = 0
    devices = set()
    started = 0
    pair_seconds = 0.0
    parts = {"prepare_seconds": 0.0, "view_seconds": 0.0, "write_seconds": 0.0}
    bar = tqdm(total=2 * pairs_todo, unit="view", disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} views [{elapsed}<{remaining}{postfix}]")
    failures = []
    try:
        while pending or running:
            while pending and len(running) < R.workers:
                task = {"job": job.to_dict(), "source": job.source, "out": str(out),
                        "shards": pending.pop(0), "renderer": renderer}
                running.append(Worker(task, events))
                started += 1
            w, ev = events.get()
            kind = ev.get("event")
            if kind == "ready":
                if ev.get("device") not in devices:
                    devices.add(ev.get("device"))
                    log(f"worker {ev.get('pid')}: rendering on {ev.get('device')}")
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
            elif kind == "exit":
                w.thread.join()
                rc = w.proc.wait()
                running.remove(w)
                lost = w.unfinished()
                if rc != 0 or lost:
                    msg = f"worker {w.proc.pid} exited with code {rc}; unfinished: " + \
                          (", ".join(s["name"] for s in lost) or "none")
                    log(msg)
                    failures.append(msg)
                    for s in lost:
                        attempts[s["name"]] += 1
                        if attempts[s["name"]] > retries:
                            raise click.ClickException(f"{s['name']} failed {attempts[s['name']]} times; "
                                                       f"giving up (see the worker's error above)")
                        # the lost shard's views will be rendered (and counted) again
                        redo = sum(1 for i in w.pairs_seen if s["first"] <= i < s["first"] + s["count"])
                        bar.total += 2 * redo
                    if lost:
                        pending.insert(0, lost)
    finally:
        bar.close()
        for w in running:
            if w.proc.poll() is None:
                w.proc.kill()
    wall = time.time() - t0
    m = S.read_manifest(out)
    summary = {"out": str(out), "pairs": m["counts"]["pairs"], "views": m["counts"]["views"],
               "complete": m["complete"], "rendered_views": views, "wall_seconds": round(wall, 2),
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
               "worker_failures": len(failures)}
    return summary


@click.command("render")
@click.option("--views", "n_pairs", type=int, default=None,
              help="Number of cyclic pairs (each pair = views a and b). Default: the job's `views`.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder for shard-*.tar and manifest.json.")
@click.option("--job", "job_path", type=click.Path(dir_okay=False), default=None,
              help="Job file (render_jobs/NAME.toml). Default: render_jobs/default.toml, the main job.")
@click.option("--seed", type=int, default=None, help="Job seed (overrides the job file).")
@click.option("--resolution", type=int, default=None, help="Image width = height in pixels.")
@click.option("--samples", type=int, default=None, help="Cycles samples per pixel.")
@click.option("--device", type=click.Choice(DEVICES), default=None, help="Render device.")
@click.option("--workers", type=int, default=None, help="Worker processes.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None, help="Quality preset.")
@click.option("--shard-size", type=int, default=None, help="Pairs per shard.")
@click.option("--pairs-per-process", type=int, default=None,
              help="Restart a worker after this many pairs (rounded up to whole shards).")
@click.option("--textures", "texture_dir", type=click.Path(file_okay=False), default=None,
              help="Texture set folder (default: the job's, textures/).")
@click.option("--retries", type=int, default=2, show_default=True,
              help="Times a shard is retried after its worker died.")
@click.option("--renderer", default=None, hidden=True,
              help="module:attr of the renderer class (tests inject a fake one).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def render(n_pairs, out, job_path, seed, resolution, samples, device, workers, preset, shard_size,
           pairs_per_process, texture_dir, retries, renderer, no_progress):
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
    if n_pairs < 1:
        raise click.ClickException(f"--views must be >= 1, got {n_pairs}")
    _preflight(job)
    try:
        summary = run_render(job, out, n_pairs, renderer=renderer, retries=retries,
                             progress=not no_progress)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(summary, indent=1))
    if not summary["complete"]:
        raise click.ClickException(f"{out}: incomplete; re-run the same command to resume")


def _preflight(job) -> None:
    """Fail fast, in the parent, on what every worker would fail on: missing textures, bad globs,
    a missing MANO model file, an absent named device."""
    from generator.sample import resolve_library
    try:
        resolve_library(job)
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
