"""Training on a tiny shard set: the loss falls, runs resume, the CLI trains and evaluates."""
import json

import pytest
from click.testing import CliRunner
from safetensors import safe_open

from trainer.cli import main
from trainer.loop import TrainConfig, train
from trainer.testing import write_fixture_shards

TINY = dict(batch_size=8, crop=32, workers=0, threads=1, log_every=5, warmup=5, lr=3e-3)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_fixture_shards(tmp_path_factory.mktemp("fx"), pairs=16, per_shard=8, resolution=64)


def _step(path):
    with safe_open(str(path / "checkpoint.safetensors"), "pt") as f:
        return int(f.metadata()["step"])


def test_a_few_steps_reduce_the_loss(shards, tmp_path):
    # 8 fixed pairs, no augmentation: the network must fit them within 30 steps
    small = write_fixture_shards(tmp_path / "fx8", pairs=8, per_shard=8, resolution=64)
    r = train(TrainConfig(shards=[str(small)], out=str(tmp_path / "run"), steps=30, augment=False,
                          w_cycle=0.5, w_prior=0.5, **TINY), progress=False)
    h = r["history"]
    assert h[-1]["sup3d"] < 0.8 * h[0]["sup3d"], h
    assert h[-1]["total"] < h[0]["total"], h
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_resume_continues_the_same_run(shards, tmp_path):
    run = tmp_path / "run"
    cfg = dict(shards=[str(shards)], out=str(run), w_cycle=1.0, w_rot=1.0, w_nce=0.2, ckpt_every=5, **TINY)
    first = train(TrainConfig(steps=10, **cfg), progress=False)
    assert _step(run) == 10
    r = train(TrainConfig(steps=15, **cfg), progress=False)
    assert _step(run) == 15 and r["step"] == 15
    # the run's training time adds up over its parts; a finished run adds nothing
    assert 0 < first["train_seconds"] < r["train_seconds"]
    again = train(TrainConfig(steps=15, **cfg), progress=False)
    assert again["train_seconds"] == pytest.approx(r["train_seconds"], abs=0.5)
    # the history of the first part is kept and continued, not restarted
    assert [h["step"] for h in r["history"]] == [5, 10, 15]
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        assert any(k.startswith("optim.") for k in f.keys())


def test_cli_train_then_eval(shards, tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["--shards", f"{shards}/*.tar:1", "--out", str(run), "--steps", "4",
                                    "--batch-size", "4", "--crop", "32", "--workers", "0", "--threads", "1", "--quiet",
                                    "--w-cycle", "1", "--labels", "a", "--label-fraction", "0.5"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "metrics.json").read_text())["step"] == 4
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards), "--workers", "0"])
    assert res.exit_code == 0, res.output
    ev = json.loads((run / "eval.json").read_text())
    assert ev["count"] == 32 and ev["mpjpe_mm"] > 0 and 0 <= ev["auc_3d"] <= 1
    assert (run / "eval_pck.png").stat().st_size > 500
    for line in ("MPJPE", "PA-MPJPE", "AUC", "PCK2D"):
        assert line in res.output


def test_cli_clear_errors(shards, tmp_path):
    res = CliRunner().invoke(main, ["--shards", str(tmp_path / "missing"), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "no such directory or file" in res.output
    res = CliRunner().invoke(main, ["--shards", str(shards), "--out", str(tmp_path / "r"), "--w-sup3d", "0",
                                    "--w-sup2d", "0"])
    assert res.exit_code != 0 and "every loss weight is 0" in res.output


def test_unlabeled_photos_feed_rotation_and_contrastive_losses(shards, tmp_path):
    import numpy as np
    from PIL import Image
    from trainer.data import DataConfig, UnlabeledImages
    photos = tmp_path / "photos"
    photos.mkdir()
    g = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(g.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(photos / f"{i}.jpg")
    item = next(iter(UnlabeledImages(photos, DataConfig(crop=32))))
    R = item["R_u"]
    assert item["img_u1"].shape == (32, 32, 3) and abs(np.linalg.det(R) - 1) < 1e-5 and R[2, 2] == 1
    r = train(TrainConfig(shards=[str(shards)], out=str(tmp_path / "run"), steps=3, w_rot=1.0, w_nce=0.5,
                          unlabeled=str(photos), unlabeled_batch=4, **TINY), progress=False)
    assert r["train"]["rot"] > 0 and r["train"]["nce"] > 0
    with pytest.raises(FileNotFoundError, match="no .png/.jpg images"):
        UnlabeledImages(tmp_path / "run" / "tb", DataConfig())
