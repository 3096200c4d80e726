"""A render worker process: ``python -m generator.render_worker`` with a JSON task on stdin.

It keeps one renderer (BlenderView) alive for all its shards, renders each pair's two views,
annotates them and writes whole shards (generator.dataset). The parent (generator.render_cli)
bounds the pairs per process and restarts workers, so Blender's memory cannot grow without end;
a worker killed mid-shard loses only that shard's temporary file. Progress goes to the parent as
JSON lines on the file descriptor named in the task (Cycles writes to stdout, so not there).

Task: {"job": Job.to_dict(), "source": str, "out": dir, "shards": [plan entries], "fd": int,
       "renderer": "module:attr" (default generator.render.blender_view:BlenderView)}
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np

from generator import dataset as D
from generator.annotate import flesh_entry, hand_mask, view_annotation
from generator.hand.base import JOINTS
from generator.jobs import job_from_dict
from generator.parts import HandPartIds
from generator.wear import ArmFrame, wear_meshes
from generator.paths import REPO_ROOT
from generator.sample import (SampleContext, appearance_for, build_views, draw_sample, load_textures,
                              pose_hand)

DEFAULT_RENDERER = "generator.render.blender_view:BlenderView"


def load_renderer(spec: str):
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def portable_paths(obj):
    """Asset paths inside the checkout (bundled HDRIs in .venv, hdri/, textures/) are recorded
    relative to it, so the same command writes the same annotation bytes in any clone."""
    if isinstance(obj, dict):
        return {k: portable_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(f"{REPO_ROOT}/"):
        return obj[len(str(REPO_ROOT)) + 1:]
    return obj


def pair_members(job, sample, batch, renders: dict, views: dict, fingerprint: str = "") -> dict:
    """All tar members of one pair (see docs/FORMAT.md)."""
    key = D.sample_key(sample.index)
    ann = {
        "format_version": D.VERSION,
        "job_fingerprint": fingerprint,
        "index": sample.index,
        "seed": sample.seed,
        "job_seed": sample.job_seed,
        "R_ab": sample.R_ab,
        "hand": {"side": sample.side, "model": sample.model, "shape": sample.shape,
                 "pose": {j: p for j, p in zip(JOINTS, sample.pose)}, "rotation_mode": sample.rotation_mode},
        "appearance": {
            "texture": sample.texture, "skin_tone": sample.skin_tone,
            "hdri": sample.lighting.get("name"), "hdri_rotation": sample.lighting.get("rotation"),
            "lighting": sample.lighting, "background": sample.background,
        },
        "distractors": sample.distractors,
        "wear": sample.wear,
        "camera": sample.camera,
        "options": sample.options,
        "sample": sample.to_json(),
    }
    ext = job.render.image_format
    members = {"__key__": key}
    for v in ("a", "b"):
        out = renders[v]
        kp = views[v][1]
        mask = hand_mask(out["alpha"], out["parts"])
        entry = flesh_entry(views[v][0], batch.faces, kp)
        ann[v] = view_annotation(kp, sample.K, sample.resolution, out["parts"], out["parts_depth"], mask, entry)
        ann[v]["R"] = sample.rotation(v).tolist()
        ann[v]["view_kind"] = sample.views["kinds"]["ab".index(v)]
        if "exposure" in out:          # the metered factor on the scene-linear frame, and its meter
            ann[v]["exposure"] = {"factor": round(float(out["exposure"]["factor"]), 6), "meter": out["exposure"]["meter"]}
        members[D.image_member(v, ext)] = (D.encode_png(out["rgb"]) if ext == "png"
                                 else D.encode_jpg(out["rgb"], job.render.jpeg_quality))
        members[D.member(v, D.MASK)] = D.encode_png(mask)
        members[D.member(v, D.PARTS)] = D.encode_png(out["parts"])
        members[D.member(v, D.VERTS)] = D.encode_npy(views[v][0].astype(np.float32))
        if "depth" in job.render.passes:
            members[D.member(v, D.DEPTH)] = D.encode_npy(out["depth"].astype(np.float32))
        if "normals" in job.render.passes:
            members[D.member(v, D.NORMALS)] = D.encode_npy(out["normals"].astype(np.float16))
    members[D.JSON] = D.encode_json(portable_paths(ann))
    return members


def view_wear(sample, hand, v: str, verts: np.ndarray, kp: np.ndarray) -> list:
    """The sample's wear as meshes in view v's camera frame (generator.wear)."""
    if not sample.wear:
        return []
    return wear_meshes(sample.wear, ArmFrame.of(hand.arm, verts, kp[0]), sample.rotation(v) @ np.array([0.0, 0.0, 1.0]))


class Session:
    """One renderer and the job's hand and library, alive for many shards (a worker process, or
    a Ray actor). ``render_shards`` writes whole shards and returns their manifest entries; the
    caller lists them (one writer per manifest)."""

    def __init__(self, task: dict):
        self.task = task
        self.job = job = job_from_dict(task["job"], source=task.get("source", "(task)"))
        textures = load_textures(job.appearance.texture_dir)
        self.ctx = SampleContext.for_job(job, textures)
        self.tex_by_name = {v["name"]: v for v in textures}
        Renderer = load_renderer(task.get("renderer") or DEFAULT_RENDERER)
        self.view = Renderer(device=job.render.device, preset=job.render.preset)
        self.device = getattr(self.view, "device", "?")
        self.topology = None
        self.part_ids = HandPartIds.of(self.ctx.hand)
        # The next pair is drawn while Cycles renders this one (Cycles releases the GIL). On a GPU
        # the CPU idles meanwhile; on the CPU, where both share the cores, it still pays: the
        # per-pair loop went from 1.15x to 1.07x Cycles' time (benchmarks/render_pipeline.py,
        # docs/RENDER_PIPELINE.md). Samples are drawn from (seed, index) alone, so drawing ahead
        # changes no image.
        self.pool = ThreadPoolExecutor(1) if self.device != "fake" else None

    def _prepare(self, index):
        sample = draw_sample(self.job, index, self.ctx)
        batch = pose_hand(sample, self.ctx)
        return sample, batch, build_views(sample, self.ctx, batch)

    def render_shards(self, shards: list[dict], emit) -> list:
        job, view = self.job, self.view
        order = [i for spec in shards for i in range(spec["first"], spec["first"] + spec["count"])]
        ahead = {}

        def get(index):
            fut = ahead.pop(index, None)
            result = fut.result() if fut is not None else self._prepare(index)
            pos = order.index(index) + 1
            if self.pool is not None and pos < len(order):
                ahead[order[pos]] = self.pool.submit(self._prepare, order[pos])
            return result

        entries = []
        for spec in shards:
            emit(event="shard_start", name=spec["name"])
            with D.ShardWriter(self.task["out"], spec, self.task.get("fingerprint", ""), record=False) as w:
                for index in range(spec["first"], spec["first"] + spec["count"]):
                    t0 = time.perf_counter()
                    sample, batch, (va, vb, ka, kb) = get(index)
                    t_prep = time.perf_counter() - t0
                    if self.topology != sample.side:   # faces are re-wound for left hands
                        view.set_topology(batch.faces, batch.uvs, batch.parts, self.part_ids.face)
                        self.topology = sample.side
                    views = {"a": (va, ka), "b": (vb, kb)}
                    appearance = appearance_for(sample, self.tex_by_name)
                    renders = {}
                    for v in ("a", "b"):
                        renders[v] = view.render(views[v][0].astype(np.float32), np.asarray(sample.K),
                                                 tuple(sample.resolution), sample.lighting,
                                                 sample.background, appearance, sample.options,
                                                 distractors=sample.distractors,
                                                 wear=view_wear(sample, self.ctx.hand, v, *views[v]))
                    t_write = time.perf_counter()
                    w.write(pair_members(job, sample, batch, renders, views, self.task.get("fingerprint", "")))
                    rs = sum(float(renders[v].get("render_seconds", 0.0)) for v in ("a", "b"))
                    w.stats["render_seconds"] += rs
                    now = time.perf_counter()
                    emit(event="pair", index=index, render_seconds=rs, seconds=now - t0,
                         prepare_seconds=t_prep, write_seconds=now - t_write,
                         view_seconds=sum(float(renders[v].get("total_seconds", 0.0)) for v in ("a", "b")))
                entry = w.commit()
            entries.append(entry)
            emit(event="shard", **msgspec.to_builtins(entry))
        return entries

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.view, "close", None)
        if close:
            close()


def error_kind(e: BaseException) -> str:
    """"asset" for errors that a retry repeats (a damaged file, a bad job value, a missing
    model file), "python" for the rest."""
    from generator.assets import AssetError
    from generator.jobs import JobError
    if isinstance(e, (AssetError, JobError, FileNotFoundError, PermissionError)):
        return "asset"
    return "python"


def run(task: dict) -> None:
    report = os.fdopen(task["fd"], "w", buffering=1) if task.get("fd") is not None else sys.stderr

    def emit(**event):
        report.write(json.dumps(event) + "\n")
        report.flush()

    session = None
    try:
        check_package(task)
        session = Session(task)
        emit(event="ready", device=session.device, pid=os.getpid())
        session.render_shards(task["shards"], emit)
    except Exception as e:
        import traceback
        traceback.print_exc()            # into the worker's log file
        emit(event="error", kind=error_kind(e), type=type(e).__name__, message=str(e))
        raise SystemExit(3)
    finally:
        if session is not None:
            session.close()


def check_package(task: dict) -> None:
    """The parent names the generator package it runs; a worker that imported another one (a
    checkout in the working directory, planted code) stops before rendering anything."""
    want = task.get("package")
    have = str(Path(__file__).resolve().parent)
    if want and want != have:
        raise ImportError(f"render worker imported generator from {have}, but the render command runs {want}")


def main() -> int:
    task = json.loads(sys.stdin.read())
    run(task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
