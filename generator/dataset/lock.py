"""One run per output folder: OUT/.render.lock, created with O_CREAT|O_EXCL (atomic on local and
network file systems, unlike flock on some NFS mounts), holding who took it. The holder touches
it every ``HEARTBEAT_S`` seconds. A lock whose holder is gone is taken over: on this host when its
process no longer exists, from another host when its heartbeat is older than ``STALE_S``."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from generator.dataset.manifest import DatasetError
from generator.dataset.names import LOCK

HEARTBEAT_S = 30.0
STALE_S = 300.0


class FolderBusy(DatasetError):
    """Another live run holds the folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    def __init__(self, folder: str | Path, what: str = "render"):
        self.path = Path(folder) / LOCK
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "what": what,
                   "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        self._stop = threading.Event()
        self._thread = None

    def holder(self) -> dict | None:
        try:
            info = json.loads(self.path.read_text() or "{}")
            info["age_s"] = time.time() - self.path.stat().st_mtime
            return info
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return {"host": "?", "pid": -1, "age_s": STALE_S + 1}   # unreadable: treat as stale

    def _stale(self, h: dict) -> bool:
        if h.get("host") == self.me["host"]:
            return not _alive(int(h.get("pid", -1)))
        return h.get("age_s", 0) > STALE_S

    def acquire(self) -> list[str]:
        """Take the lock; returns notes (a stale lock taken over). Raises FolderBusy."""
        notes = []
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                h = self.holder()
                if h is None:
                    continue
                if not self._stale(h):
                    raise FolderBusy(
                        f"{self.path.parent} is being written by another {h.get('what', 'run')}: host "
                        f"{h.get('host')} pid {h.get('pid')} since {h.get('started', '?')} (last sign of "
                        f"life {h.get('age_s', 0):.0f} s ago). Wait for it to finish, or use another --out. "
                        f"If that run is gone (its machine died), delete {self.path}.")
                notes.append(f"took over the lock of a dead run (host {h.get('host')} pid {h.get('pid')})")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.me))
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
            return notes
        raise FolderBusy(f"{self.path}: could not take the lock (another run keeps taking it)")

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        h = self.holder()
        if h and h.get("host") == self.me["host"] and h.get("pid") == self.me["pid"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False
