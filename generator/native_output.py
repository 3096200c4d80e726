"""Silencing output that C code writes straight to the process's file descriptors (Cycles' tile
progress, warp's CUDA probe): Python's ``redirect_stdout`` never sees it."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_output_silenced(*fds: int):
    """Point file descriptors FDS (e.g. 1, 2) at /dev/null for the block, then restore them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
        for copy in (*saved, devnull):
            os.close(copy)
