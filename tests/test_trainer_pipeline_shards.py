"""The trainer reads what `cyclehand-gen render` writes: shards of the real pipeline (anny hand,
render-free z-buffer stand-in renderer, tests/fake_view.py) train and evaluate, and the crop labels
agree with the rendered masks."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from render_helpers import build_tiny_textures, run_render
from trainer.cli import main
from trainer.data import DataConfig, loader, pair_dataset
from trainer.spec import resolve


@pytest.fixture(scope="module")
def pipeline_shards(tmp_path_factory):
    tex = build_tiny_textures(tmp_path_factory.mktemp("tex"))
    out = tmp_path_factory.mktemp("render") / "out"
    run_render(out, 4, tex, "--shard-size", "2", fake=True)
    return out


def test_pipeline_shards_decode_with_exact_pair_relation(pipeline_shards):
    ds = pair_dataset(resolve(str(pipeline_shards)), DataConfig(crop=32), seed=0, train=True)
    b = next(iter(loader(ds, 4, 0)))
    rot = torch.einsum("bij,bkj->bki", b["R_ab"], b["kp3d_a"])
    assert torch.allclose(rot, b["kp3d_b"], atol=2e-5)           # float32 labels, metres
    # hands fill the crop: 2D labels of in-frame joints are inside it and spread over it
    uv = b["kp2d_a"][b["vis_a"]]
    assert uv.abs().max() <= 1 and uv.std() > 0.1


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
                                  "--batch-size", "2", "--crop", "32", "--workers", "0", "--threads", "1",
                                  "--w-cycle", "1", "--w-rot", "1", "--w-nce", "0.1", "--w-prior", "0.1", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", "--checkpoint", str(run / "checkpoint.safetensors"),
                                  "--shards", f"{pipeline_shards}/shard-{{000000..000001}}.tar", "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "eval.json").read_text())["count"] == 8
