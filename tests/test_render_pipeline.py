"""Orchestration of `cyclehand-gen render` with a render-free z-buffer renderer (tests/fake_view.py):
shards and manifest, resume, crashes, worker restarts, determinism, preview. The same path with
real Cycles renders is tested in test_render_e2e.py."""
import io
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from generator.annotate import VISIBILITY_SLACK_M
from generator.conventions import project
from generator.preview import contact_sheet
from render_helpers import npy, read_shards, run_render

MEMBERS = {"a.png", "b.png", "a.mask.png", "b.mask.png", "a.parts.png", "b.parts.png", "json",
           "a.verts.npy", "b.verts.npy", "a.depth.npy", "b.depth.npy", "a.normals.npy", "b.normals.npy"}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, textures):
    out = tmp_path_factory.mktemp("clean") / "out"
    p = run_render(out, 5, textures, "--shard-size", "2", "--pairs-per-process", "2", fake=True)
    return out, json.loads(p.stdout[p.stdout.index("{"):])


def test_shards_manifest_and_members(clean_run):
    out, summary = clean_run
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] and m["counts"] == {"shards": 3, "pairs": 5, "views": 10}
    assert [(s["name"], s["first"], s["count"]) for s in m["shards"]] == [
        ("shard-000000.tar", 0, 2), ("shard-000001.tar", 2, 2), ("shard-000002.tar", 4, 1)]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "logs", "manifest.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert len(list((out / "logs").glob("render-*-w*.log"))) == 3       # worker output, not the console
    # a worker process is restarted after pairs_per_process pairs (rounded up to whole shards)
    assert summary["worker_processes"] == 3 and summary["devices"] == ["fake"]
    samples = read_shards(out)
    assert sorted(samples) == [f"{i:09d}" for i in range(5)]
    for key, mem in samples.items():
        assert set(mem) == MEMBERS
        ann = json.loads(mem["json"])
        assert ann["index"] == int(key)
        R_ab = np.asarray(ann["R_ab"])
        ka, kb = (np.asarray(ann[v]["keypoints_3d"]) for v in "ab")
        assert np.abs((kb - kb[0]) - (ka - ka[0]) @ R_ab.T).max() < 1e-12
        va, vb = npy(mem["a.verts.npy"]), npy(mem["b.verts.npy"])
        assert va.dtype == np.float32 and va.shape[1] == 3
        assert np.abs((vb - vb[0]).astype(np.float64) - (va - va[0]).astype(np.float64) @ R_ab.T).max() < 1e-6
        for v in "ab":
            view = ann[v]
            assert np.allclose(project(np.asarray(view["K"]), view["keypoints_3d"]), view["keypoints_2d"])
            rgb = np.asarray(Image.open(io.BytesIO(mem[f"{v}.png"])))
            mask = np.asarray(Image.open(io.BytesIO(mem[f"{v}.mask.png"])))
            assert rgb.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.dtype == np.uint8
            ys, xs = np.nonzero(mask)
            assert view["bbox"] == [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]
            assert view["visible"] == [a and b for a, b in zip(view["in_frame"], view["unoccluded"])]


def test_visibility_agrees_with_a_ray_cast_of_its_definition(clean_run):
    """The flags, made from the rendered part-ID and depth passes, recomputed from the geometry
    alone (trimesh ray casts through the posed mesh), pixel by pixel as generator.annotate defines
    them: a keypoint is seen when the ray through the centre of its pixel (for a fingertip, of any
    pixel within SEARCH_PX) misses the hand, or first hits one of the keypoint's own segments no
    nearer than where the keypoint's own ray enters the flesh (less the slack and one pixel's
    footprint). The passes rasterise pixel centres where the cast is exact, so a ray grazing an
    edge may differ: they agree on at least 95% of keypoints. The part image shows the id of the
    first face each centre pixel's ray hits. Keypoints near what the arm wears or a distractor are
    left out (not part of the cast mesh)."""
    import trimesh

    from generator.annotate import SEARCH_PX, flesh_entry
    from generator.conventions import TIP_KEYPOINTS
    from generator.jobs import load_job
    from generator.parts import KEYPOINT_SEGMENTS, HandPartIds
    from generator.sample import load_hand
    from render_helpers import REPO
    out, _ = clean_run
    hand = load_hand(load_job(REPO / "render_jobs" / "smoke.toml"))
    ids = HandPartIds.of(hand)
    agree = total = n_hidden = same_id = hit = 0
    for mem in read_shards(out).values():
        ann = json.loads(mem["json"])
        faces = hand.faces if ann["hand"]["side"] == "right" else hand.faces[:, ::-1]
        for v in "ab":
            view = ann[v]
            verts = npy(mem[f"{v}.verts.npy"]).astype(np.float64)
            mesh = trimesh.Trimesh(verts, faces, process=False)
            kp = np.asarray(view["keypoints_3d"])
            K = np.asarray(view["K"], np.float64)
            entry = flesh_entry(verts, faces, kp)
            parts = np.asarray(Image.open(io.BytesIO(mem[f"{v}.parts.png"])))
            assert parts.dtype == np.uint8 and set(np.unique(parts)) <= set(range(29))
            H, W = parts.shape
            uv = np.floor(np.asarray(view["keypoints_2d"]) + 0.5).astype(int)
            keys, pix = [], []                     # the pixels each keypoint's flag looks at
            for k in range(21):
                if not view["in_frame"][k]:
                    continue
                win = parts[max(uv[k, 1] - 1, 0):uv[k, 1] + 2, max(uv[k, 0] - 1, 0):uv[k, 0] + 2]
                if (win >= 26).any():    # a sleeve, accessory or distractor: not in the mesh cast here
                    continue
                r = SEARCH_PX if k in TIP_KEYPOINTS else 0
                for y in range(max(uv[k, 1] - r, 0), min(uv[k, 1] + r, H - 1) + 1):
                    for x in range(max(uv[k, 0] - r, 0), min(uv[k, 0] + r, W - 1) + 1):
                        keys.append(k)
                        pix.append((x, y, x == uv[k, 0] and y == uv[k, 1]))
            pix = np.asarray(pix, float)
            dirs = np.c_[pix[:, :2], np.ones(len(pix))] @ np.linalg.inv(K).T
            dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
            loc, ray, tri = mesh.ray.intersects_location(np.zeros_like(dirs), dirs, multiple_hits=True)
            seen = {}
            for i, k in enumerate(keys):
                hits = np.flatnonzero(ray == i)
                centre = bool(pix[i, 2])
                if len(hits) == 0:       # the ray misses the hand: at the centre pixel nothing hides k
                    seen[k] = seen.get(k, False) or centre
                    continue
                first = hits[np.argmin(np.linalg.norm(loc[hits], axis=1))]
                footprint = kp[k, 2] / K[0, 0]
                own = bool(ids.face[tri[first]] in KEYPOINT_SEGMENTS[k]
                           and loc[first, 2] >= entry[k] - VISIBILITY_SLACK_M - footprint)
                seen[k] = seen.get(k, False) or own
                if centre:
                    hit += 1
                    same_id += ids.face[tri[first]] == parts[int(pix[i, 1]), int(pix[i, 0])]
            for k, mine in seen.items():
                agree += mine == view["visible"][k]
                total += 1
                n_hidden += not view["visible"][k]
    assert agree >= 0.95 * total and n_hidden > 0 and total - n_hidden > 20 and total > 150
    assert same_id >= 0.95 * hit


def test_rerun_skips_complete_shards_and_same_seed_gives_identical_bytes(clean_run, textures, tmp_path):
    out, _ = clean_run
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.glob("shard-*.tar")}
    p = run_render(out, 5, textures, "--shard-size", "2", fake=True)
    assert "3 complete, 0 to render" in p.stdout
    assert before == {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.glob("shard-*.tar")}
    # same command into a fresh folder, with 2 workers in parallel that draw the next pair while
    # rendering (as on every real device): byte-identical annotations
    other = tmp_path / "again"
    p = run_render(other, 5, textures, "--shard-size", "2", "--workers", "2", fake=True,
                   FAKE_VIEW_DEVICE="fake-gpu")
    assert "rendering on fake-gpu" in p.stdout
    a, b = read_shards(out), read_shards(other)
    assert {k: v["json"] for k, v in a.items()} == {k: v["json"] for k, v in b.items()}
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (out, other))
    assert [s["sha256"] for s in ma["shards"]] == [s["sha256"] for s in mb["shards"]]
    # a different seed gives different samples; into the same folder it is refused
    p = run_render(out, 5, textures, "--shard-size", "2", "--seed", "8", fake=True, check=False)
    assert p.returncode != 0 and "holds shards of a different job" in p.stderr


def test_killed_worker_loses_only_its_shard_and_rerun_resumes(clean_run, textures, tmp_path):
    out = tmp_path / "out"
    # the worker SIGKILLs itself on its 5th view: pair 2, the first of shard 1
    p = run_render(out, 5, textures, "--shard-size", "2", "--retries", "0", fake=True, check=False,
                   FAKE_VIEW_CRASH_AT=5)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "killed by SIGKILL; was rendering shard-000001.tar; 1 queued shard(s) go back" in p.stdout, p.stderr
    assert "shard-000001.tar failed 1 time(s)" in p.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in m["shards"]] == ["shard-000000.tar"] and not m["complete"]
    assert not list(out.glob(".shard-*")), "no temporaries are left after a crash"
    t0 = (out / "shard-000000.tar").stat().st_mtime_ns
    p = run_render(out, 5, textures, "--shard-size", "2", fake=True)
    assert "1 complete, 2 to render" in p.stdout
    assert (out / "shard-000000.tar").stat().st_mtime_ns == t0
    assert not list(out.glob(".shard-*"))
    clean = read_shards(clean_run[0])
    assert {k: v["json"] for k, v in read_shards(out).items()} == {k: v["json"] for k, v in clean.items()}


def test_crashed_worker_is_retried_within_the_run(textures, tmp_path):
    out = tmp_path / "out"
    p = run_render(out, 2, textures, "--shard-size", "1", fake=True, FAKE_VIEW_CRASH_AT=3)
    summary = json.loads(p.stdout[p.stdout.index("{"):])
    assert summary["complete"] and summary["worker_failures"] == 1 and summary["pairs"] == 2
    assert summary["worker_processes"] == 2


def test_more_views_rebuilds_only_changed_shards(clean_run, textures, tmp_path):
    out = tmp_path / "grow"
    run_render(out, 1, textures, "--shard-size", "2", fake=True)
    p = run_render(out, 3, textures, "--shard-size", "2", fake=True)
    # shard 0 held 1 pair at --views 1 and now needs 2: rebuilt, as is the new shard 1
    assert "0 complete, 2 to render" in p.stdout
    clean = read_shards(clean_run[0])
    got = read_shards(out)
    assert sorted(got) == [f"{i:09d}" for i in range(3)]
    assert {k: v["json"] for k, v in got.items()} == {k: clean[k]["json"] for k in got}
    # fewer views than are already complete would throw work away: refused, nothing touched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    p = run_render(out, 2, textures, "--shard-size", "2", fake=True, check=False)
    assert p.returncode != 0 and "already holds complete shards up to pair 3" in p.stdout + p.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_preview_sheet(clean_run, tmp_path):
    from click.testing import CliRunner
    from generator.preview import preview
    out, _ = clean_run
    sheet = tmp_path / "sheet.png"
    r = CliRunner().invoke(preview, [str(out), "--out", str(sheet), "--pairs", "3", "--cell", "128"])
    assert r.exit_code == 0, r.output
    im = np.asarray(Image.open(sheet).convert("RGB"))
    # 2 pairs per row, 2 rows; each pair = 2 views of 128 px
    assert im.shape[1] == 2 * (2 * 128 + 4) + 4 and im.shape[0] > 2 * 128
    # skeleton colours are drawn (thumb red, middle green) on top of the fake renders
    assert ((im[..., 0] > 240) & (im[..., 1] < 100) & (im[..., 2] < 100)).sum() > 10
    assert ((im[..., 1] > 200) & (im[..., 0] < 80) & (im[..., 2] < 110)).sum() > 10
    r = CliRunner().invoke(preview, [str(tmp_path), "--out", str(sheet)])
    assert r.exit_code != 0 and "no manifest.json" in r.output


def test_cli_errors_name_the_problem(textures, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from generator.render_cli import render
    monkeypatch.delenv("CYCLEHAND_MANO_DIR", raising=False)
    job = tmp_path / "mano.toml"
    job.write_text('[hand]\nmodel = "mano"\n')
    out = tmp_path / "out"
    r = CliRunner().invoke(render, ["--views", "1", "--out", str(out), "--job", str(job),
                                    "--textures", str(textures)])
    assert r.exit_code != 0 and "MANO_RIGHT.pkl" in r.output and not out.exists()
    r = CliRunner().invoke(render, ["--views", "1", "--out", str(out), "--textures", str(tmp_path / "none")])
    assert r.exit_code != 0 and "make textures" in r.output
    job.write_text('[render]\nshard_sise = 4\n')
    r = CliRunner().invoke(render, ["--views", "1", "--out", str(out), "--job", str(job)])
    assert r.exit_code != 0 and f"{job}: render.shard_sise: unknown key; did you mean 'shard_size'?" in r.output
    r = CliRunner().invoke(render, ["--views", "1", "--out", str(out), "--samples", "-3",
                                    "--textures", str(textures)])
    assert r.exit_code != 0 and "'--samples': -3 is not in the range x>=1" in r.output
    for flag, bad in (("--retries", "-1"), ("--resolution", "0"), ("--workers", "0")):
        r = CliRunner().invoke(render, ["--views", "1", "--out", str(out), flag, bad, "--textures", str(textures)])
        assert r.exit_code != 0 and f"'{flag}': {bad} is not in the range" in r.output, r.output
