"""Issue 11 cases, each as a test, on the render-free renderer (tests/fake_view.py): nothing
deleted that the run did not write, damaged assets refused by name, crashes counted per shard
and classified, workers importing the parent's code, one run per folder, clear messages, job
arrays with merge, and the Ray executor on a local Ray instance with two actors."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator import dataset as D
from generator.dataset.verify import verify_folder
from render_helpers import REPO, cli_env, read_shards, render_cmd, run_render

FAKE = dict(fake=True)
SMALL = ("--shard-size", "2")


def smoke_job_with(tmp_path, extra: str) -> Path:
    """render_jobs/smoke.toml plus extra TOML sections."""
    job = tmp_path / "job.toml"
    job.write_text((REPO / "render_jobs" / "smoke.toml").read_text() + "\n" + extra)
    return job


def run_job(job, out, textures, views):
    cmd = render_cmd(out, views, textures, "--renderer", "fake_view:FakeView")
    cmd[cmd.index("--job") + 1] = str(job)
    return subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)


def jsons(out):
    return {k: v["json"] for k, v in read_shards(out).items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory, textures):
    out = tmp_path_factory.mktemp("clean") / "out"
    run_render(out, 4, textures, *SMALL, **FAKE)
    return out


# --- 1. data loss -------------------------------------------------------------------------------

def test_foreign_shards_are_refused_and_kept(clean, textures, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for f in clean.glob("shard-*.tar"):          # a dataset of another job (seed 0), no manifest
        shutil.copy(f, out / f.name)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    p = run_render(out, 4, textures, *SMALL, "--seed", "5", check=False, **FAKE)
    assert p.returncode != 0
    assert "holds shard files that this run did not list and cannot adopt: shard-000000.tar (sample 000000000 " \
           "belongs to job" in p.stderr and "nothing was deleted" in p.stderr, p.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".") and p.name != "manifest.json"} == before


def test_unlisted_complete_shards_of_this_job_are_adopted(clean, textures, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean, out)
    (out / "manifest.json").unlink()             # a crash between rename and manifest update
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.tar")}
    p = run_render(out, 4, textures, *SMALL, **FAKE)
    assert p.stdout.count("adopted") == 2 and "2 complete, 0 to render" in p.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.tar")} == mtimes


def test_truncated_manifest_is_named_kept_and_rebuilt(clean, textures, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean, out)
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text[:len(text) // 2])
    p = run_render(out, 4, textures, *SMALL, **FAKE)
    assert f"{out}/manifest.json: not a valid shard manifest" in p.stdout
    assert "2 complete, 0 to render" in p.stdout and list(out.glob("manifest.json.unreadable-*"))
    from trainer.spec import SpecError, resolve
    (out / "manifest.json").write_text("")
    with pytest.raises(SpecError, match=f"{out}/manifest.json: empty"):
        resolve(str(out))


def test_listed_shard_with_changed_bytes_is_rendered_again(clean, textures, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(clean, out)
    p = out / "shard-000001.tar"
    b = bytearray(p.read_bytes())
    b[600] ^= 0xFF                                # same size, different bytes
    p.write_bytes(bytes(b))
    r = run_render(out, 4, textures, *SMALL, **FAKE)
    assert "shard-000001.tar: its bytes differ from the manifest; moved aside" in r.stdout
    assert "1 complete, 1 to render" in r.stdout and jsons(out) == jsons(clean)
    assert list(out.glob("shard-000001.tar.changed-*"))


# --- 2. damaged assets ------------------------------------------------------------------------------

def test_damaged_texture_map_is_refused_by_name_and_rebuilt(textures, tmp_path):
    from generator.textures.builder import build
    tex = tmp_path / "tex"
    shutil.copytree(textures, tex)
    bad = tex / "mst03_a" / "base_color.png"
    bad.write_bytes(bad.read_bytes()[:200])      # truncated PNG
    p = run_render(tmp_path / "out", 1, tex, *SMALL, check=False, **FAKE)
    assert p.returncode != 0 and f"{bad}: " in p.stderr and "make textures" in p.stderr, p.stderr
    assert not list((tmp_path / "out").glob("shard-*")) if (tmp_path / "out").exists() else True
    r = build(tex, resolution=64, individuals=1, tones=[3, 8], workers=1, log=None)
    assert r["built"] == ["mst03_a"]             # the hash check, not only existence
    np.asarray(Image.open(bad))                  # decodes again


@pytest.mark.parametrize("name,data", [("garbage.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 64 +X 128\n" + b"\x02\x02\x00\x80" * 10),
                                       ("cut.exr", None)])
def test_damaged_hdri_is_refused_by_name(textures, tmp_path, name, data):
    from generator.hdri import bpy_hdri_dir
    d = tmp_path / "hdri"
    d.mkdir()
    if data is None:                              # a truncated copy of a real EXR
        data = (bpy_hdri_dir() / "city.exr").read_bytes()[:60000]
    (d / name).write_bytes(data)
    job = smoke_job_with(tmp_path, f'[lighting]\nkinds = {{hdri = 1.0}}\nhdri_dirs = ["{d}"]\nembedded_hdris = false\n')
    p = run_job(job, tmp_path / "out", textures, 1)
    assert p.returncode != 0 and f"{d / name}: does not decode" in p.stderr, p.stdout + p.stderr


def test_unreadable_photos_are_skipped_and_reported(textures, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(photos / "good.png")
    (photos / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    job = smoke_job_with(tmp_path, f'[background]\nkinds = {{image = 1.0}}\nimage_dir = "{photos}"\n')
    p = run_job(job, tmp_path / "out", textures, 2)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "skipping 1 unreadable photo(s) of 2" in p.stdout and str(photos / "bad.jpg") in p.stdout
    for mem in read_shards(tmp_path / "out").values():
        assert "bad.jpg" not in mem["json"].decode()
    # a changed photo library is a different job: refused, not silently mixed into the folder
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(photos / "new.png")
    p = run_job(job, tmp_path / "out", textures, 2)
    assert p.returncode != 0 and "asset files (HDRIs, textures, photos) changed" in p.stderr


# --- 4. verify ----------------------------------------------------------------------------------------

def test_verify_passes_a_render_and_names_each_broken_invariant(clean, tmp_path):
    r = subprocess.run([sys.executable, "-m", "generator.cli", "verify", str(clean)], cwd=REPO, env=cli_env(),
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 shard(s), 4 sample(s) checked" in r.stdout and r.stdout.strip().endswith("OK")
    out = tmp_path / "bad"
    shutil.copytree(clean, out)
    raws = list(D.iter_raw([str(out / "shard-000000.tar")]))
    ann = json.loads(raws[0]["json"])
    ann["a"]["bbox"][0] += 1                                    # bbox no longer the mask's extent
    ann["b"]["keypoints_2d"][5][1] += 0.8                       # off the projection
    raws[0]["json"] = D.encode_json(ann)
    ann = json.loads(raws[1]["json"])
    ann["b"]["keypoints_3d"][8][0] += 0.002                     # breaks the R_ab relation
    raws[1]["json"] = D.encode_json(ann)
    with D.ShardWriter(out, {"name": "shard-000000.tar", "first": 0, "count": 2}, record=False) as w:
        for s in raws:
            w.write({k: v for k, v in s.items() if k != "__url__"})
        entry = w.commit()
    D.record_shard(out, entry)                                  # hashes fine: only content is wrong
    with open(out / "shard-000001.tar", "r+b") as f:            # and a changed byte in another shard
        f.seek(700)
        c = f.read(1)
        f.seek(700)
        f.write(bytes([c[0] ^ 0xFF]))
    r = subprocess.run([sys.executable, "-m", "generator.cli", "verify", str(out)], cwd=REPO, env=cli_env(),
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stdout
    assert "sample 000000000: view a: bbox" in r.stdout and "is not the mask's extent" in r.stdout
    assert "sample 000000000: view b: keypoints_2d are 0.800 px from the projection" in r.stdout
    assert "sample 000000001: keypoints break Xb - Xb[0] = R_ab (Xa - Xa[0]) by 2.0000 mm" in r.stdout
    assert "shard-000001.tar: sha256 differs from manifest.json" in r.stdout
    assert r.stdout.strip().endswith("FAILED: 4 problem(s)")


# --- 5. crashes ----------------------------------------------------------------------------------------

def test_a_crash_counts_only_against_the_shard_being_rendered(textures, tmp_path):
    # one worker gets shards 0-3 (one pair each) and dies at its 3rd view (shard 1); the next
    # worker gets 1-3 and dies on shard 2. With --retries 1, old counting (every queued shard
    # charged) would give up on shard 2 or 3; per-shard attempts finish the job.
    out = tmp_path / "out"
    p = run_render(out, 4, textures, "--shard-size", "1", "--pairs-per-process", "4", "--retries", "1",
                   FAKE_VIEW_CRASH_AT=3, **FAKE)
    summary = json.loads(p.stdout[p.stdout.index("{"):])
    # worker 1 [0-3] dies on 1, worker 2 [1-3] on 2, worker 3 [2-3] on 3, worker 4 [3] finishes
    assert summary["complete"] and summary["worker_failures"] == 3 and summary["worker_processes"] == 4
    assert "was rendering shard-000001.tar; 2 queued shard(s) go back" in p.stdout
    assert "was rendering shard-000002.tar; 1 queued shard(s) go back" in p.stdout
    assert "was rendering shard-000003.tar\n" in p.stdout


def test_deterministic_errors_are_not_retried_python_errors_are(textures, tmp_path):
    p = run_render(tmp_path / "a", 2, textures, *SMALL, check=False, FAKE_VIEW_ERROR="asset:1", **FAKE)
    assert p.returncode != 0 and "AssetError: /fake/texture.png: does not decode (injected)" in p.stderr
    assert "a retry would fail the same way" in p.stderr
    assert len(set(re.findall(r"worker (\d+):", p.stdout))) == 1, p.stdout        # no second worker
    # a Python error is retried (each fresh worker fails at its first view: 1 + 2 retries),
    # and its traceback is shown from the worker's log
    p = run_render(tmp_path / "b", 2, textures, *SMALL, check=False, FAKE_VIEW_ERROR="python:1", **FAKE)
    assert p.returncode != 0 and "shard-000000.tar failed 3 time(s) (last: RuntimeError: injected" in p.stderr
    assert "Traceback" in p.stdout and "RuntimeError: injected failure in the renderer" in p.stdout


# --- 6. workers run the parent's code ------------------------------------------------------------------

def test_workers_ignore_a_generator_package_in_the_working_directory(textures, tmp_path):
    planted = tmp_path / "cwd"
    (planted / "generator").mkdir(parents=True)
    marker = tmp_path / "PLANTED"
    (planted / "generator" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (planted / "generator" / "render_worker.py").write_text("raise SystemExit(7)\n")
    exe = Path(sys.executable).parent / "cyclehand-gen"
    cmd = [str(exe) if exe.exists() else "cyclehand-gen"] + render_cmd(tmp_path / "out", 1, textures, fake=True)[3:]
    env = cli_env()
    env["PYTHONPATH"] = str(REPO / "tests")      # the fake renderer only: generator comes from the install
    p = subprocess.run(cmd, cwd=planted, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not marker.exists()


# --- 7. one run per folder ---------------------------------------------------------------------------

def test_a_second_render_into_a_busy_folder_is_refused(textures, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(render_cmd(out, 2, textures, *SMALL, fake=True), cwd=REPO,
                             env=cli_env(FAKE_VIEW_SLEEP=1.0), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / D.names.LOCK).exists() and time.time() < deadline:
        time.sleep(0.05)
    p = run_render(out, 4, textures, *SMALL, check=False, **FAKE)
    assert p.returncode != 0 and f"{out} is being written by another render: host" in p.stderr, p.stderr
    assert "Wait for it to finish, or use another --out" in p.stderr
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stdout + stderr
    m = D.read_manifest(out)
    assert m.complete and m.pairs_requested == 2 and m.counts["pairs"] == 2
    assert not (out / D.names.LOCK).exists()


# --- 8. messages, not tracebacks ------------------------------------------------------------------------

def test_clear_messages_for_unwritable_out_and_non_utf8_job(textures, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run_render(blocker / "out", 1, textures, check=False, **FAKE)
    assert p.returncode != 0 and f"cannot write to {blocker}/out" in p.stderr and "Traceback" not in p.stderr
    job = tmp_path / "latin1.toml"
    job.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    cmd = render_cmd(tmp_path / "o2", 1, textures, fake=True)
    cmd[cmd.index("--job") + 1] = str(job)
    p = subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True)
    assert p.returncode != 0 and f"{job}: not UTF-8 text" in p.stderr and "Traceback" not in p.stderr


# --- beyond one machine ----------------------------------------------------------------------------------

def test_job_array_tasks_merge_into_the_same_dataset(clean, textures, tmp_path):
    for i in (0, 1):
        run_render(tmp_path / f"task{i}", 4, textures, *SMALL, "--task-index", str(i), "--task-count", "2", **FAKE)
        m = D.read_manifest(tmp_path / f"task{i}")
        assert m.shard_range == [i, i + 1] and m.complete and m.counts["shards"] == 1
    r = subprocess.run([sys.executable, "-m", "generator.cli", "merge", str(tmp_path / "all"),
                        str(tmp_path / "task0"), str(tmp_path / "task1")], cwd=REPO, env=cli_env(),
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 shards, 4 of 4 pairs; complete" in r.stdout, r.stdout + r.stderr
    assert jsons(tmp_path / "all") == jsons(clean)
    assert verify_folder(tmp_path / "all").ok
    p = run_render(tmp_path / "x", 4, textures, *SMALL, "--shard-range", "1:5", check=False, **FAKE)
    assert p.returncode != 0 and "need 0 <= START < STOP <= 2" in p.stderr


def test_ray_executor_with_two_actors_gives_the_same_annotations(clean, textures, tmp_path):
    import ray  # noqa: F401  (make setup installs the [ray] extra: this test must run, not skip)
    out = tmp_path / "ray"
    p = run_render(out, 4, textures, *SMALL, "--executor", "ray", "--workers", "2", **FAKE)
    summary = json.loads(p.stdout[p.stdout.index("{"):])
    assert summary["complete"] and summary["executor"] == "ray" and summary["devices"] == ["fake"]
    assert summary["worker_processes"] == 2
    assert jsons(out) == jsons(clean)
