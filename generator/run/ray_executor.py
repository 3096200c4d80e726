"""The Ray executor: one long-lived render actor per worker slot.

``--executor ray`` starts a local Ray instance (``--ray-address`` joins an existing cluster
instead, e.g. ``auto`` on a cluster node). Each actor holds one renderer (Blender scene, hand
model, texture and HDRI library) for its whole life and renders one shard per call; it asks for
one GPU where the cluster has GPUs. Actors write their shard files into OUT (a folder every node
sees, on a cluster: a shared file system) and return the manifest entry; the driver alone writes
the manifest. An actor that dies is replaced; its shard is re-queued like a local worker's.
Needs the optional extra: ``pip install -e '.[ray]'``.
"""
from __future__ import annotations

import os
import threading

from generator.run import Exit
from generator.run.local import PACKAGE_DIR


def _ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def start(address: str | None, workers: int, log=print) -> dict:
    """Connect to (or start) Ray; returns the resources each actor asks for."""
    ray = _ray()
    if not ray.is_initialized():
        env = {"PYTHONPATH": os.pathsep.join([str(PACKAGE_DIR.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        for k in ("CYCLEHAND_CACHE_DIR", "FAKE_VIEW_SLEEP", "FAKE_VIEW_CRASH_AT", "FAKE_VIEW_DEVICE"):
            if k in os.environ:
                env[k] = os.environ[k]
        kw = dict(runtime_env={"env_vars": env}, log_to_driver=False, include_dashboard=False,
                  configure_logging=True, logging_level="ERROR")
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=max(workers, 1), **kw)
    gpus = ray.cluster_resources().get("GPU", 0)
    res = {"num_cpus": 1, "num_gpus": 1 if gpus >= 1 else 0}
    log(f"ray: {ray.cluster_resources().get('CPU', 0):g} CPUs, {gpus:g} GPUs; {workers} actor(s) "
        f"with {res['num_gpus']} GPU each")
    return res


class _Actor:
    """Runs inside the Ray worker process."""

    def __init__(self, task: dict):
        from generator.render_worker import Session, check_package
        check_package(task)
        self.session = Session(task)

    def info(self) -> dict:
        return {"device": self.session.device, "pid": os.getpid()}

    def render_shard(self, spec: dict) -> tuple[list[dict], dict]:
        events = []
        (entry,) = self.session.render_shards([spec], lambda **ev: events.append(ev))
        import msgspec
        return events, msgspec.to_builtins(entry)


class RayWorker:
    """A worker slot backed by a Ray actor (kept across batches while it lives)."""

    actor_class = None

    def __init__(self, task: dict, events, resources: dict, actor=None):
        ray = _ray()
        if RayWorker.actor_class is None:
            RayWorker.actor_class = ray.remote(_Actor)
        self.task = dict(task, package=str(PACKAGE_DIR))
        self.actor = actor or RayWorker.actor_class.options(**resources, max_restarts=0).remote(self.task)
        self.done_shards: set[str] = set()
        self.current: str | None = None
        self.pairs_seen: set[int] = set()
        self.error: dict | None = None
        self.pid = "ray"
        self.log_path = None
        self.exit: Exit | None = None
        self.thread = threading.Thread(target=self._run, args=(events,), daemon=True)
        self.thread.start()

    def _run(self, events):
        ray = _ray()
        try:
            info = ray.get(self.actor.info.remote())
            self.pid = f"ray:{info['pid']}"
            events.put((self, {"event": "ready", "device": info["device"], "pid": self.pid}))
            for spec in self.task["shards"]:
                events.put((self, {"event": "shard_start", "name": spec["name"]}))
                evs, entry = ray.get(self.actor.render_shard.remote(spec))
                for ev in evs:
                    if ev.get("event") == "pair":
                        events.put((self, ev))
                events.put((self, {"event": "shard", **entry}))
            self.exit = Exit(True)
        except ray.exceptions.OutOfMemoryError as e:
            self.exit = Exit(False, "oom", f"Ray killed the actor for lack of memory ({str(e).splitlines()[0]})")
        except ray.exceptions.RayActorError as e:
            cause = getattr(e, "cause", None) or e
            self.exit = self._classify(cause) if not isinstance(cause, ray.exceptions.RayActorError) else \
                Exit(False, "killed", f"the Ray actor died ({str(e).splitlines()[0]})")
        except ray.exceptions.RayTaskError as e:
            self.exit = self._classify(e.cause if getattr(e, "cause", None) else e)
        except Exception as e:  # the driver's own error talking to Ray
            self.exit = Exit(False, "python", f"{type(e).__name__}: {e}")
        events.put((self, {"event": "exit"}))

    @staticmethod
    def _classify(e: BaseException) -> Exit:
        from generator.render_worker import error_kind
        return Exit(False, error_kind(e), f"{type(e).__name__}: {e}")

    def shards(self) -> list[dict]:
        return self.task["shards"]

    def finish(self) -> Exit:
        self.thread.join()
        return self.exit

    def kill(self):
        try:
            _ray().kill(self.actor)
        except Exception:
            pass
