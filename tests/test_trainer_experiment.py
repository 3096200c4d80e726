"""The experiment's orchestration on fixture shards (no rendering): every arm and seed, the
results files in the issue's schema, runs named by config hash, a kept analysis."""
import json

import pytest
from click.testing import CliRunner

from trainer.experiment import ANALYSIS_MARKER, ARMS, claim, experiment
from trainer.testing import write_fixture_shards, write_prior_poses

ARGS = ["--steps", "2", "--batch-size", "4", "--unlabeled-batch", "4", "--crop", "32", "--width", "0.125",
        "--workers", "0", "--threads", "1", "--label-fraction", "0.5", "--seeds", "0,1"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    for i, split in enumerate(("train", "test", "hard")):
        write_fixture_shards(tmp_path / "data" / split, pairs=8, per_shard=8, resolution=64, seed=i)
    write_prior_poses(tmp_path / "prior.npz")
    return tmp_path / "data"


def test_experiment_on_fixture_shards(data, tmp_path):
    md, js = tmp_path / "RESULTS.md", tmp_path / "results.json"
    md.write_text("old table\n" + ANALYSIS_MARKER + "\nhand-written analysis\n")
    common = ["--shards-from", str(data), "--out", str(tmp_path / "exp"), "--results", str(md),
              "--results-json", str(js), "--prior-file", str(tmp_path / "prior.npz"), *ARGS]
    res = CliRunner().invoke(experiment, common)
    assert res.exit_code == 0, res.output
    r = json.loads(js.read_text())
    assert set(r) == {"splits", "mean_pose_pa_mpjpe_mm", "command"}
    for split in ("hard", "test"):
        assert list(r["splits"][split]) == list(ARMS)
        for arm in ARMS:
            assert set(r["splits"][split][arm]) == {"pa_mpjpe_mm", "mpjpe_mm", "pa_auc"}
            assert all(len(v) == 2 for v in r["splits"][split][arm].values())      # one per seed
        assert r["mean_pose_pa_mpjpe_mm"][split] > 0
    table = md.read_text()
    assert "| cycle-teacher+contrastive |" in table and "mean training pose (floor)" in table
    assert "old table" not in table and table.endswith(ANALYSIS_MARKER + "\nhand-written analysis\n")
    runs = sorted(p.name for p in (tmp_path / "exp" / "runs").iterdir())
    assert len(runs) == 12 and all(len(n.rsplit("-", 1)[1]) == 10 for n in runs)
    assert "2 at a time" in res.output                  # the cpu preset trains two runs at once
    # the same command again, one run at a time, reuses every run and reports the same figures;
    # another label fraction trains new ones
    res = CliRunner().invoke(experiment, [*common, "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "at a time" not in res.output and json.loads(js.read_text())["splits"] == r["splits"]
    assert len(list((tmp_path / "exp" / "runs").iterdir())) == 12
    res = CliRunner().invoke(experiment, [*common, "--label-fraction", "0.4", "--arms", "supervised", "--seeds", "0"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "exp" / "runs").iterdir())) == 13
    # the teacher's decay names new teacher runs only
    res = CliRunner().invoke(experiment, [*common, "--ema-decay", "0.999", "--arms", "label-transport,cycle-teacher",
                                          "--seeds", "0", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "exp" / "runs").iterdir())) == 14 and "EMA teacher decay 0.999" in md.read_text()
    before = set((tmp_path / "exp" / "runs").iterdir())
    # more unlabeled pairs name new label-free runs only, by the hash the trainer gives them
    more = write_fixture_shards(tmp_path / "more", pairs=8, per_shard=8, resolution=64, seed=7)
    res = CliRunner().invoke(experiment, [*common, "--unlabeled-shards", str(more), "--arms",
                                          "label-transport,cycle-teacher", "--seeds", "0", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    new = set((tmp_path / "exp" / "runs").iterdir()) - before
    assert [p.name.split("-seed")[0] for p in new] == ["cycle-teacher"]
    m = json.loads((new.pop() / "metrics.json").read_text())
    lt = json.loads(next((tmp_path / "exp" / "runs").glob("label-transport-seed0-*/metrics.json")).read_text())
    assert m["config_hash"] == m["run"].rsplit("-", 1)[1]
    assert m["pairs"] == {"labeled": lt["pairs"]["labeled"], "unlabeled": lt["pairs"]["unlabeled"] + 8}
    res = CliRunner().invoke(experiment, [*common, "--unlabeled-shards", str(tmp_path / "nowhere")])
    assert res.exit_code != 0 and "--unlabeled-shards" in res.output and "no manifest.json" in res.output
    res = CliRunner().invoke(experiment, [*common, "--unlabeled-shards", f"{more}x:0"])
    assert res.exit_code != 0 and "--unlabeled-shards" in res.output and "weight must be > 0" in res.output
    res = CliRunner().invoke(experiment, ["--shards-from", str(tmp_path), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "neither a render directory (manifest.json) nor a pack" in res.output
    res = CliRunner().invoke(experiment, [*common, "--w-teacher-a", "1"])
    assert res.exit_code != 0 and "--w-teacher-a needs --teacher-clean" in res.output
    # bad options fail before any split is rendered (no --shards-from: it would render them first)
    for bad in (["--w-teacher-a", "1"], ["--arms", "nope"], ["--unlabeled-shards", str(tmp_path / "nowhere")],
                ["--teacher-keep", "0"]):
        res = CliRunner().invoke(experiment, ["--out", str(tmp_path / "fresh"), *bad])
        assert res.exit_code != 0 and not (tmp_path / "fresh").exists(), (bad, res.output)


def test_a_failing_run_stops_the_parallel_experiment_with_its_error(data, tmp_path):
    """Every pair labeled leaves the label-free arms nothing to learn from: their runs raise in
    the pool's processes, and the experiment stops with that error instead of writing results."""
    js = tmp_path / "results.json"
    res = CliRunner().invoke(experiment, ["--shards-from", str(data), "--out", str(tmp_path / "exp"),
                                          "--results", str(tmp_path / "R.md"), "--results-json", str(js),
                                          "--prior-file", str(tmp_path / "prior.npz"), *ARGS,
                                          "--label-fraction", "1.0", "--jobs", "2"])
    assert res.exit_code != 0 and "need unlabeled pairs" in str(res.exception)
    assert not js.exists()


def test_claim_needs_the_gain_and_a_gap_beyond_the_spread():
    def res(base, arm):
        return {"splits": {"hard": {"label-transport": {"pa_mpjpe_mm": base}, "cycle-teacher": {"pa_mpjpe_mm": arm}}}}
    (c,) = claim(res([10.0, 10.2, 9.8], [8.0, 8.1, 7.9]))
    assert c["reached"] and c["gain"] == pytest.approx(0.2)
    (c,) = claim(res([10.0, 10.2, 9.8], [9.0, 9.1, 8.9]))             # only 10% lower
    assert not c["reached"]
    (c,) = claim(res([10.0, 12.0, 8.0], [8.0, 8.1, 7.9]))             # 20% lower, but the spread is 4 mm
    assert not c["reached"] and c["twice_larger_std_mm"] == pytest.approx(4.0)
