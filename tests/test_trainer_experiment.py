"""The experiment's orchestration on fixture shards (no rendering): three models, eval, table."""
from click.testing import CliRunner

from trainer.experiment import experiment
from trainer.testing import write_fixture_shards


def test_experiment_on_fixture_shards(tmp_path):
    for i, split in enumerate(("train", "test", "hard")):
        write_fixture_shards(tmp_path / "data" / split, pairs=8, per_shard=8, resolution=64, seed=i)
    res = CliRunner().invoke(experiment, [
        "--shards-from", str(tmp_path / "data"), "--out", str(tmp_path / "exp"), "--results",
        str(tmp_path / "RESULTS.md"), "--steps", "2", "--batch-size", "4", "--crop", "32",
        "--workers", "0", "--threads", "1", "--label-fraction", "0.5"])
    assert res.exit_code == 0, res.output
    table = (tmp_path / "RESULTS.md").read_text()
    for model in ("| supervised |", "| cycle |", "| cycle+contrastive |"):
        assert model in table
    assert "train 8 pairs" in table and "+0.0%" in table          # supervised vs itself
    assert (tmp_path / "exp" / "cycle-seed0" / "eval_hard.json").is_file()
    res = CliRunner().invoke(experiment, ["--shards-from", str(tmp_path), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "manifest.json is missing" in res.output
