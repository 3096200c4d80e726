"""Executors of `cyclehand-gen render`: where a batch of shards is rendered.

``local``: one worker subprocess per batch (generator.render_worker), restarted after
``render.pairs_per_process`` pairs to bound Blender's memory. ``ray``: one long-lived Ray actor
per worker slot (one GPU each where the cluster has GPUs), on a local Ray instance or an existing
cluster. Both report the same events to the scheduler in generator.render_cli:
ready, shard_start, pair, shard, error, exit (with an ``Exit`` describing how it ended).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Exit:
    ok: bool
    kind: str = "ok"          # ok | killed | oom | python | asset | exit-code
    reason: str = ""

    @property
    def deterministic(self) -> bool:
        """A retry would fail the same way (a damaged asset, a bad job value)."""
        return self.kind == "asset"


def oom_kills() -> int | None:
    """The cgroup's count of out-of-memory kills (cgroup v2), to tell an OOM kill from kill -9."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            for line in open(path):
                k, _, v = line.partition(" ")
                if k == "oom_kill":
                    return int(v)
        except (OSError, ValueError):
            continue
    return None
