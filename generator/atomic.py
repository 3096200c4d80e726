"""The one way this project replaces a file: write a hidden temporary beside it, fsync it, rename
it over the target, fsync the folder. A crash leaves either the old file or the new one, never a
half-written one, and the rename survives a power cut. Used for manifests, checkpoints, caches."""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def temp_name(path: Path, tag: str = "") -> Path:
    """A hidden sibling ``.NAME.tmp-[TAG-]HOST-PID``: unique per writer, recognisable as ours."""
    who = f"{socket.gethostname()}-{os.getpid()}"
    return path.with_name(f".{path.name}.tmp-{tag + '-' if tag else ''}{who}")


def fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:        # some file systems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path, tag: str = ""):
    """Yield a temporary path to write (by any library: safetensors, PIL, ...); on a clean exit it
    is fsynced and renamed onto ``path``; on an exception it is removed."""
    path = Path(path)
    tmp = temp_name(path, tag)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | Path, data: bytes | str, tag: str = "") -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically and durably."""
    with atomic_path(path, tag) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)
