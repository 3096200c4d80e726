"""Crop packs (trainer/pack.py): the shards' crop cache in one small folder that --shards reads as
those shards: same pairs, keys and labels, JPEG pixels, its own identity; damage and a wrong crop
size are refused by name; training, evaluation and the experiment run from packs."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from trainer.cache import CropSet
from trainer.cli import main
from trainer.data import DataConfig, split_pairs
from trainer.experiment import experiment
from trainer.pack import is_pack, shard_ids, write_pack
from trainer.spec import resolve
from trainer.testing import write_fixture_shards, write_prior_poses

GEO = DataConfig(crop=32).geometry()


@pytest.fixture()
def shards(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    return write_fixture_shards(tmp_path / "shards", pairs=12, per_shard=4, resolution=64)


def test_a_pack_reads_as_the_shards_it_was_made_from(shards, tmp_path):
    src = CropSet(resolve(str(shards)), GEO, log=None)
    info = write_pack(src, tmp_path / "pack", quality=95, log=None)
    assert is_pack(tmp_path / "pack") and info["count"] == 12 and len(info["shards"]) == 3
    got = CropSet(resolve(str(tmp_path / "pack")), GEO, log=None)
    assert len(got) == len(src) and list(got.meta["keys"]) == list(src.meta["keys"])   # "shard-000000.tar/KEY"
    for k in ("K", "K_image", "X", "in_frame", "R_ab", "left", "resolution"):
        assert np.array_equal(got.meta[k], src.meta[k]), k
    idx = np.arange(len(src))
    assert np.array_equal(got.parts(idx), src.parts(idx))                 # ids are labels: exact
    diff = np.abs(got.images(idx).astype(int) - src.images(idx).astype(int))
    assert 0 < diff.mean() < 8                     # JPEG of the fixture's noisy drawings, near the PNG crops
    for a, b in zip(split_pairs(got, 0.5), split_pairs(src, 0.5)):        # a label budget picks the same pairs
        assert np.array_equal(a, b)
    assert got.sha256 == shard_ids(tmp_path / "pack") and not set(got.sha256) & set(src.sha256)
    assert [c.skipped() for c in got.shards] == [[] for _ in range(3)]
    with pytest.raises(FileExistsError):
        write_pack(src, tmp_path / "pack", log=None)


def test_a_pack_that_fails_midway_leaves_nothing(shards, tmp_path, monkeypatch):
    import trainer.pack as pack
    src = CropSet(resolve(str(shards)), GEO, log=None)
    calls = []

    def failing(a, quality):
        calls.append(1)
        if len(calls) > 5:
            raise OSError("disk full")
        return b"x"
    monkeypatch.setattr(pack, "_jpeg", failing)
    with pytest.raises(OSError, match="disk full"):
        write_pack(src, tmp_path / "out" / "pack", log=None)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_damaged_pack_or_another_crop_size_is_refused(shards, tmp_path):
    write_pack(CropSet(resolve(str(shards)), GEO, log=None), tmp_path / "pack", log=None)
    with pytest.raises(ValueError, match="--crop 32"):
        CropSet(resolve(str(tmp_path / "pack")), DataConfig(crop=64).geometry(), log=None)
    blob = tmp_path / "pack" / "images.bin"
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="images.bin: sha256 differs"):
        CropSet(resolve(str(tmp_path / "pack")), GEO, log=None)


def test_train_and_eval_from_a_pack_made_by_the_cli(shards, tmp_path):
    res = CliRunner().invoke(main, ["pack", "--shards", str(shards), "--out", str(tmp_path / "pack"), "--crop", "32"])
    assert res.exit_code == 0 and "packed 12 pairs of 3 shards" in res.output, res.output
    res = CliRunner().invoke(main, ["pack", "--shards", str(shards), "--out", str(tmp_path / "pack")])
    assert res.exit_code != 0 and "exists" in res.output
    res = CliRunner().invoke(main, ["pack", "--shards", f"{shards}:0.7", "--out", str(tmp_path / "weighted")])
    assert res.exit_code != 0 and "without a weight" in res.output and not (tmp_path / "weighted").exists()
    prior = write_prior_poses(tmp_path / "prior.npz")
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["--shards", str(tmp_path / "pack"), "--out", str(run), "--steps", "3",
                                    "--batch-size", "4", "--unlabeled-batch", "4", "--crop", "32", "--width", "0.125",
                                    "--workers", "0", "--threads", "1", "--quiet", "--w-teacher", "1",
                                    "--unsup-start", "0", "--label-fraction", "0.5", "--prior-file", str(prior)])
    assert res.exit_code == 0, res.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["step"] == 3 and m["pairs"]["labeled"] + m["pairs"]["unlabeled"] == 12
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(tmp_path / "pack")])
    assert res.exit_code == 0 and json.loads((run / "eval.json").read_text())["count"] == 24, res.output


def test_the_experiment_runs_on_packed_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    for i, split in enumerate(("train", "test", "hard")):
        d = write_fixture_shards(tmp_path / "data" / split, pairs=8, per_shard=8, resolution=64, seed=i)
        write_pack(CropSet(resolve(str(d)), GEO, log=None), tmp_path / "packs" / split, log=None)
    write_prior_poses(tmp_path / "prior.npz")
    common = ["--out", str(tmp_path / "exp"), "--results", str(tmp_path / "R.md"), "--results-json",
              str(tmp_path / "r.json"), "--prior-file", str(tmp_path / "prior.npz"), "--steps", "2", "--batch-size", "4",
              "--unlabeled-batch", "4", "--crop", "32", "--width", "0.125", "--workers", "0", "--threads", "1",
              "--label-fraction", "0.5", "--seeds", "0", "--arms", "supervised", "--jobs", "1"]
    for src in ("packs", "data"):
        res = CliRunner().invoke(experiment, ["--shards-from", str(tmp_path / src), *common])
        assert res.exit_code == 0, res.output
    runs = sorted(p.name for p in (tmp_path / "exp" / "runs").iterdir())
    assert len(runs) == 2 and all(r.startswith("supervised-seed0-") for r in runs)   # JPEG crops: another run
    res = CliRunner().invoke(experiment, ["--shards-from", str(tmp_path / "packs"), *common, "--crop", "64"])
    assert res.exit_code != 0 and "--crop 32" in res.output                        # named, not a traceback
