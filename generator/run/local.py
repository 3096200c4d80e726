"""The local executor: a worker subprocess per batch of shards.

Workers run ``python -P -m generator.render_worker`` with the parent's package root first on
PYTHONPATH: -P keeps the working directory off sys.path, so a `generator/` folder lying there
(another checkout, planted code) is never imported; the worker also checks that it imported the
parent's package. Its stdout and stderr (Blender, libpng, warp's CUDA probe) go to a log file in
OUT/logs, shown only when the worker fails.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import generator
from generator.run import Exit, oom_kills

PACKAGE_DIR = Path(generator.__file__).resolve().parent


def worker_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_DIR.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + t for t in text[-lines:])


class LocalWorker:
    """One worker subprocess with a reader thread turning its progress lines into events."""

    def __init__(self, task: dict, events, log_path: Path):
        r, w = os.pipe()
        self.task = dict(task, fd=w, package=str(PACKAGE_DIR))
        self.log_path = log_path
        self.oom_before = oom_kills()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-P", "-m", "generator.render_worker"],
                                         stdin=subprocess.PIPE, stdout=log, stderr=log,
                                         pass_fds=(w,), env=worker_env())
        os.close(w)
        self.pid = self.proc.pid
        self.proc.stdin.write(json.dumps(self.task).encode())
        self.proc.stdin.close()
        self.done_shards: set[str] = set()
        self.current: str | None = None
        self.pairs_seen: set[int] = set()
        self.error: dict | None = None
        self.thread = threading.Thread(target=self._read, args=(r, events), daemon=True)
        self.thread.start()

    def _read(self, r, events):
        with os.fdopen(r) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                events.put((self, ev))
        events.put((self, {"event": "exit"}))

    def shards(self) -> list[dict]:
        return self.task["shards"]

    def finish(self) -> Exit:
        self.thread.join()
        rc = self.proc.wait()
        if self.error:
            return Exit(False, self.error["kind"], f"{self.error['type']}: {self.error['message']}")
        if rc == 0:
            return Exit(True)
        if rc < 0:
            sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            after = oom_kills()
            if rc == -signal.SIGKILL and self.oom_before is not None and after is not None and after > self.oom_before:
                return Exit(False, "oom", "killed by the kernel for lack of memory (out-of-memory killer); "
                            "fewer --workers or a smaller --pairs-per-process need less")
            return Exit(False, "killed", f"killed by {sig}")
        return Exit(False, "exit-code", f"exited with code {rc}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
