"""`cyclehand-gen render` end to end with real Cycles renders (64 px, 4 samples): shards, visibility
against Cycles' depth, a real worker killed with SIGKILL mid-shard, resume, determinism, preview."""
import io
import json
import os
import signal
import sys
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from generator.parts import ARM_IDS, HAND_IDS
from render_helpers import cli_env, npy, read_shards, render_cmd, run_render, REPO

pytestmark = pytest.mark.render
ARGS = ("--shard-size", "1")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, textures):
    out = tmp_path_factory.mktemp("real") / "out"
    p = run_render(out, 3, textures, *ARGS)
    return out, json.loads(p.stdout[p.stdout.index("{"):]), p


def test_real_renders_end_to_end(real_run, tmp_path):
    out, summary, p = real_run
    assert summary["complete"] and summary["pairs"] == 3 and summary["devices"] == ["cpu"]
    assert "rendering on cpu" in p.stdout
    # Blender, libpng and warp's CUDA probe talk into the worker's log file, not the console
    assert "Warp" not in p.stdout + p.stderr and "libpng" not in p.stdout + p.stderr, p.stdout + p.stderr
    assert list((out / "logs").glob("render-*-w000.log"))
    assert summary["render_seconds"] > 0
    samples = read_shards(out)
    assert sorted(samples) == ["000000000", "000000001", "000000002"]
    for mem in samples.values():
        ann = json.loads(mem["json"])
        assert ann["appearance"]["texture"] in ("mst03_a", "mst08_a")
        for v in "ab":
            rgb = np.asarray(Image.open(io.BytesIO(mem[f"{v}.png"])))
            mask = np.asarray(Image.open(io.BytesIO(mem[f"{v}.mask.png"])))
            depth = npy(mem[f"{v}.depth.npy"])
            normals = npy(mem[f"{v}.normals.npy"])
            assert normals.shape == (64, 64, 3) and normals.dtype == np.float16
            n_hand = normals[mask == 255].astype(np.float64)
            assert np.allclose(np.linalg.norm(n_hand, axis=1), 1.0, atol=0.01)
            assert (n_hand[:, 2] < 0.2).mean() > 0.9     # seen surfaces face the camera (-z)
            assert rgb.shape == (64, 64, 3) and rgb.std() > 5
            assert 50 < (mask == 255).sum() < 64 * 64
            # depth covers the hand and its arm; the mask only the hand (its parts: hand ids)
            parts = np.asarray(Image.open(io.BytesIO(mem[f"{v}.parts.png"])))
            assert np.isfinite(depth[mask == 255]).all()
            assert not np.isin(parts[mask == 255], list(ARM_IDS) + [26, 27, 28]).any()
            assert np.isin(parts[mask == 255], HAND_IDS).mean() > 0.9
            assert np.isfinite(depth[np.isin(parts, ARM_IDS)]).mean() > 0.95
            view = ann[v]
            # the hand's depth in Cycles' buffer matches the annotated geometry
            z = np.asarray(view["keypoints_3d"])[:, 2]
            hand_depth = depth[mask == 255]                  # the arm may come nearer than the hand
            assert hand_depth.min() > z.min() - 0.05 and hand_depth.max() < z.max() + 0.15
            # visible fingertips (surface points) sit on the rendered surface within the slack
            uv = np.rint(np.asarray(view["keypoints_2d"])).astype(int)
            for k in (4, 8, 12, 16, 20):
                if view["visible"][k]:
                    assert mask[uv[k, 1], uv[k, 0]] == 255 or not np.isfinite(depth[uv[k, 1], uv[k, 0]])
            assert 0 < sum(view["visible"]) <= 21
    sheet = tmp_path / "sheet.png"
    q = subprocess.run([sys.executable, "-m", "generator.cli", "preview", str(out), "--out", str(sheet)],
                       cwd=REPO, env=cli_env(), capture_output=True, text=True)
    assert q.returncode == 0, q.stderr
    assert Image.open(sheet).size[0] == 2 * (2 * 256 + 4) + 4


def test_sigkill_of_a_real_worker_mid_shard_then_resume(real_run, textures, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(render_cmd(out, 3, textures, *ARGS, "--retries", "0"), cwd=REPO,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        m = out / "manifest.json"
        tmps = list(out.glob(".shard-*.tar.tmp-*")) if out.is_dir() else []
        if m.is_file() and json.loads(m.read_text())["shards"] and tmps:
            killed = tmps[0]
            os.kill(int(killed.name.rsplit("-", 1)[1]), signal.SIGKILL)   # the worker writing it
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=120)
    assert killed is not None, "never caught a worker mid-shard:\n" + stdout + stderr
    shard = killed.name[1:].split(".tmp-")[0]
    assert proc.returncode != 0 and f"killed by SIGKILL; was rendering {shard}" in stdout + stderr, stdout + stderr
    assert not list(out.glob(".shard-*")), "the run removes its dead workers' temporaries"
    listed = [s["name"] for s in json.loads((out / "manifest.json").read_text())["shards"]]
    assert listed and shard not in listed
    kept = {n: (out / n).stat().st_mtime_ns for n in listed}
    p = run_render(out, 3, textures, *ARGS)
    assert f"{len(listed)} complete, {3 - len(listed)} to render" in p.stdout
    assert {n: (out / n).stat().st_mtime_ns for n in listed} == kept
    assert not list(out.glob(".shard-*"))
    # same seed -> byte-identical annotations, whether resumed or rendered in one go
    clean = read_shards(real_run[0])
    got = read_shards(out)
    assert {k: v["json"] for k, v in got.items()} == {k: v["json"] for k, v in clean.items()}


def test_absent_device_is_a_clear_error(textures, tmp_path):
    p = run_render(tmp_path / "out", 1, textures, "--device", "cuda", check=False)
    assert p.returncode != 0 and "cuda" in p.stderr.lower()
    assert not (tmp_path / "out").exists()
