"""Helpers for the render pipeline tests: a tiny real texture set, and the CLI as a subprocess."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def texture_entries(tones=range(1, 11), variants: str = "a") -> list[dict]:
    """Texture-set entries without maps (tone x variant, tone-major): what a SampleContext needs
    to draw samples, for tests that never render the skin."""
    return [{"name": f"mst{m:02d}_{v}", "mst": m, "maps": {}, "subsurface_radius_m": [0.004, 0.002, 0.001]}
            for m in tones for v in variants]


def build_tiny_textures(out: Path) -> Path:
    """The textures engineer's builder at 64 px, two variants (MST 3 and 8)."""
    from generator.textures.builder import build
    build(out, resolution=64, individuals=1, tones=[3, 8], workers=1, log=lambda *a: None)
    return out


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), env.get("PYTHONPATH", "")])
    env.setdefault("CYCLEHAND_CACHE_DIR", str(REPO / ".cache"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def render_cmd(out: Path, views: int, textures: Path, *args: str, fake: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "generator.cli", "render", "--views", str(views), "--out", str(out),
           "--job", str(REPO / "render_jobs" / "smoke.toml"), "--textures", str(textures),
           "--no-progress", *args]
    if fake:
        cmd += ["--renderer", "fake_view:FakeView"]
    return cmd


def run_render(out, views, textures, *args, fake=False, check=True, **env):
    p = subprocess.run(render_cmd(out, views, textures, *args, fake=fake), cwd=REPO, env=cli_env(**env),
                       capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"render failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def read_shards(out: Path) -> dict[str, dict[str, bytes]]:
    """{key: {member suffix: bytes}} of the complete shards (per the manifest)."""
    from generator.dataset import iter_raw, resolve_urls
    return {s["__key__"]: {k: v for k, v in s.items() if not k.startswith("__")}
            for s in iter_raw(resolve_urls(out).urls)}


def npy(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)
