"""The trainer reads what `cyclehand-gen render` writes: shards of the real pipeline (anny hand,
render-free z-buffer stand-in renderer, tests/fake_view.py) train and evaluate, and the crop labels
agree with the rendered masks."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from render_helpers import run_render
from trainer.cache import CropSet
from trainer.cli import main
from trainer.data import DataConfig, eval_batches, views
from trainer.spec import resolve
from trainer.testing import write_prior_poses


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def pipeline_shards(tmp_path_factory, textures):
    out = tmp_path_factory.mktemp("render") / "out"
    run_render(out, 4, textures, "--shard-size", "2", fake=True)
    return out


def test_pipeline_shards_decode_with_exact_pair_relation(pipeline_shards):
    crops = CropSet(resolve(str(pipeline_shards)), DataConfig(crop=32).geometry(), log=None)
    part = next(eval_batches(crops, 4))
    V = views(part, "ab", DataConfig(crop=32), np.random.default_rng(0), "cpu")
    rot = torch.einsum("bij,bkj->bki", V["R"], V["X_a"])
    assert torch.allclose(rot, V["X_b"], atol=2e-5)               # float32 labels, metres
    # hands fill the crop: 2D labels of in-frame joints are inside it and spread over it
    uv = V["uv_a"][V["vis_a"]]
    assert uv.abs().max() <= 1 and uv.std() > 0.1
    # label transport from a reproduces b's own annotation on real pipeline pairs
    T = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu", transport=True)
    B = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu")
    assert torch.allclose(T["X_b"], B["X_b"], atol=2e-5)


def test_cropped_labels_land_on_the_cropped_mask(pipeline_shards):
    """Crop each view's rendered mask exactly as the image is cropped: the visible keypoints'
    2D labels must fall on (or next to) hand pixels."""
    import io
    import webdataset as wds
    from PIL import Image
    from scipy.ndimage import binary_dilation
    from trainer.crop import crop, square_box
    from generator.conventions import project

    hits, total = 0, 0
    for s in wds.WebDataset(resolve(str(pipeline_shards))[0].urls, shardshuffle=False, empty_check=False):
        ann = json.loads(s["json"])
        for v in ("a", "b"):
            if ann[v]["bbox"] is None:
                continue
            mask = Image.open(io.BytesIO(s[f"{v}.mask.png"])).convert("RGB")
            centre, side = square_box(ann[v]["bbox"], 0.25)
            X = np.array(ann[v]["keypoints_3d"])
            m, Kc, Xc, _, _ = crop(mask, ann[v]["K"], X, centre, side, 96, theta=0.6)
            on = binary_dilation(m[..., 0] > 127, iterations=2)
            uv = np.round(project(Kc, Xc)).astype(int)
            vis = np.array(ann[v]["visible"]) & (uv >= 0).all(1) & (uv < 96).all(1)
            hits += int(on[uv[vis, 1], uv[vis, 0]].sum())
            total += int(vis.sum())
    assert total > 20 and hits / total > 0.9, (hits, total)


def test_cli_trains_and_evaluates_on_pipeline_shards(pipeline_shards, tmp_path):
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["--shards", str(pipeline_shards), "--out", str(run), "--steps", "2",
                                  "--batch-size", "2", "--unlabeled-batch", "2", "--crop", "32", "--width", "0.125",
                                  "--workers", "0", "--threads", "1", "--label-fraction", "0.5",
                                  "--w-teacher", "1", "--w-cycle", "1", "--w-nce", "0.1", "--w-prior", "0.1",
                                  "--unsup-start", "0", "--quiet",
                                  "--prior-file", str(write_prior_poses(tmp_path / "prior.npz"))])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", "--checkpoint", str(run / "checkpoint.safetensors"),
                                  "--shards", f"{pipeline_shards}/shard-{{000000..000001}}.tar"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "eval.json").read_text())["count"] == 8
