"""Training on tiny shards: the loss falls, runs resume, a run with other options is refused, the
config hash follows the options, the CLI trains and evaluates."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open

from trainer.cli import main
from trainer.loop import TrainConfig, build_model, config_hash, degenerate, train
from trainer.testing import write_fixture_shards, write_prior_poses

TINY = dict(batch_size=8, unlabeled_batch=8, crop=32, width=0.125, workers=0, threads=1, log_every=5,
            warmup=5, lr=3e-3)


@pytest.fixture(scope="module", autouse=True)
def _prior(tmp_path_factory):
    """A stick-hand pose prior: sampling the generator's poses would take minutes."""
    TINY["prior_file"] = str(write_prior_poses(tmp_path_factory.mktemp("prior") / "poses.npz"))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_fixture_shards(tmp_path_factory.mktemp("fx"), pairs=16, per_shard=8, resolution=64)


def _step(path):
    with safe_open(str(path / "checkpoint.safetensors"), "pt") as f:
        return int(f.metadata()["step"])


def test_a_few_steps_reduce_the_loss(tmp_path):
    # 8 fixed pairs, no augmentation: the network must start fitting them within 60 steps
    small = write_fixture_shards(tmp_path / "fx8", pairs=8, per_shard=8, resolution=64)
    r = train(TrainConfig(shards=[str(small)], out=str(tmp_path / "run"), steps=60, augment=False,
                          labels="both", **TINY), progress=False)
    h = r["history"]
    assert h[-1]["total"] < 0.7 * h[0]["total"], h
    assert h[-1]["uv"] < h[0]["uv"] and h[-1]["pose"] < h[0]["pose"], h
    assert (tmp_path / "run" / "metrics.json").is_file() and r["bad_samples"] == 0


def test_mixed_precision_step_runs_every_loss_with_its_geometry_in_float32(tmp_path, monkeypatch):
    """The autocast path, run on the CPU in bfloat16 (CUDA uses float16 the same way): the Kabsch
    SVD and determinant have no low-precision kernels, so before the geometry ran outside autocast
    the first step failed ("lu_cpu" not implemented for 'BFloat16'). Every loss on, all finite;
    the loss still falls."""
    import math
    import torch
    import trainer.loop as loop
    from trainer.precision import autocast
    monkeypatch.setattr(loop, "amp_enabled", lambda cfg, device: cfg.amp)
    small = write_fixture_shards(tmp_path / "fx8", pairs=8, per_shard=8, resolution=64)
    cfg = TrainConfig(shards=[str(small)], out=str(tmp_path / "run"), steps=40, augment=False, label_fraction=0.5,
                      w_pose=1.0, w_pose25d=1.0, w_prior=1.0, w_parts=1.0, w_teacher=1.0, w_nce=0.1, w_cycle=1.0,
                      unsup_start=0.0, unsup_ramp=0.0, **TINY)
    h = train(cfg, progress=False)["history"]
    assert all(math.isfinite(v) for row in h for v in row.values() if isinstance(v, float)), h
    assert h[-1]["uv"] < h[0]["uv"] and h[-1]["teacher"] > 0 and h[-1]["nce"] > 0, h
    model = build_model(cfg, loop.load_prior(cfg, log=None)).eval()
    x, K = torch.randn(2, 3, 32, 32), torch.tensor([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]]).expand(2, 3, 3)
    with torch.no_grad(), autocast(torch.device("cpu"), True):
        out = model(x, K, torch.tensor([False, True]))
    assert out["pose"].dtype == torch.float32 and out["coef"].dtype == torch.float32


def test_cpu_training_with_a_loader_worker_prepares_views_there(shards, tmp_path):
    """workers > 0 on the CPU: the worker crops and augments; training runs and learns as before."""
    cfg = TrainConfig(shards=[str(shards)], out=str(tmp_path / "run"), steps=30, label_fraction=0.5,
                      w_teacher=1.0, unsup_start=0.0, **{**TINY, "workers": 1})
    r = train(cfg, progress=False)
    h = r["history"]
    assert r["step"] == 30 and h[-1]["uv"] < h[0]["uv"] and h[-1]["teacher"] > 0


def test_the_part_loss_trains_a_segmentation_head_on_the_labeled_views(tmp_path):
    small = write_fixture_shards(tmp_path / "fx8", pairs=8, per_shard=8, resolution=64)
    r = train(TrainConfig(shards=[str(small)], out=str(tmp_path / "run"), steps=40, augment=False,
                          labels="both", w_parts=1.0, **TINY), progress=False)
    h = r["history"]
    assert h[-1]["parts"] < 0.85 * h[0]["parts"], h
    assert "parts.weight" in {k for k, _ in build_model(r["config"]).named_parameters()}


def test_label_free_losses_switch_on_after_the_warm_up(shards, tmp_path):
    r = train(TrainConfig(shards=[str(shards)], out=str(tmp_path / "run"), steps=10, label_fraction=0.5,
                          w_teacher=1.0, w_nce=0.1, w_cycle=0.5, unsup_start=0.5, unsup_ramp=0.2, **TINY),
              progress=False)
    first, last = r["history"]
    assert first["teacher"] == first["nce"] == first["ramp"] == 0        # steps 1-5: supervised only
    assert last["teacher"] > 0 and last["nce"] > 0 and last["cycle"] > 0 and last["ramp"] > 0.5
    assert 0 < last["bone_ratio_unl"] and r["pairs"]["labeled"] + r["pairs"]["unlabeled"] == 16
    assert last["prior_z_unl"] >= 0 and last["prior_z_lab"] >= 0
    with safe_open(str(tmp_path / "run" / "checkpoint.safetensors"), "pt") as f:
        assert any(k.startswith("teacher.") for k in f.keys())


def test_the_monitor_flags_shrinking_bones_and_poses_leaving_the_prior():
    assert degenerate({"bone_ratio_lab": 0.9, "bone_ratio_unl": 0.95, "prior_z_lab": 0.2, "prior_z_unl": 1.0}) == {}
    assert degenerate({"bone_ratio_unl": 0.5}) == {"bone_ratio_unl": 0.5}             # collapse
    assert degenerate({"bone_ratio_unl": 1.25, "prior_z_unl": 2.1}) == {"prior_z_unl": 2.1}   # blown up
    assert degenerate({}) == {}                                                          # nothing logged


def test_a_degenerate_run_warns_also_when_training_quietly(shards, tmp_path, monkeypatch):
    """log=None (benchmarks, the experiment's quiet runs) once crashed at the monitor's first
    warning ('NoneType' object is not callable); the warning is still raised, and logged when a
    log is given."""
    import trainer.loop as loop
    monkeypatch.setattr(loop, "degenerate", lambda row: {"bone_ratio_unl": 0.5})
    base = dict(shards=[str(shards)], steps=5, label_fraction=0.5, **TINY)
    with pytest.warns(UserWarning, match="degenerate"):
        assert train(TrainConfig(out=str(tmp_path / "quiet"), **base), progress=False, log=None)["step"] == 5
    lines = []
    with pytest.warns(UserWarning):
        train(TrainConfig(out=str(tmp_path / "logged"), **base), progress=False, log=lines.append)
    assert any(x.startswith("WARNING") and "bone_ratio_unl 0.50" in x for x in lines)


def test_a_crashed_run_resumes_where_it_stopped(shards, tmp_path, monkeypatch):
    import trainer.loop as loop
    run = tmp_path / "run"
    cfg = TrainConfig(shards=[str(shards)], out=str(run), steps=10, ckpt_every=5, label_fraction=0.5,
                      w_teacher=1.0, unsup_start=0.0, **TINY)
    real_save = loop.checkpoint.save

    def save_then_crash(*a, **k):
        real_save(*a, **k)
        raise KeyboardInterrupt("killed after the step-5 checkpoint")
    monkeypatch.setattr(loop.checkpoint, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False)
    assert _step(run) == 5
    monkeypatch.setattr(loop.checkpoint, "save", real_save)
    r = train(cfg, progress=False)
    assert _step(run) == 10 and r["step"] == 10
    assert [h["step"] for h in r["history"]] == [5, 10]              # the first part's log is kept
    again = train(cfg, progress=False)                                # finished: adds nothing
    assert again["train_seconds"] == pytest.approx(r["train_seconds"], abs=0.5)
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        assert any(k.startswith("optim.") for k in f.keys()) and any(k.startswith("teacher.") for k in f.keys())


def test_a_run_with_other_options_or_data_is_refused(shards, tmp_path):
    run = tmp_path / "run"
    base = dict(shards=[str(shards)], out=str(run), steps=5, label_fraction=0.5, **TINY)
    train(TrainConfig(**base), progress=False)
    with pytest.raises(ValueError, match=r"--label-fraction 0\.5 -> 0\.2.*--rotate-deg 45\.0 -> 90\.0"):
        train(TrainConfig(**{**base, "label_fraction": 0.2, "rotate_deg": 90.0}), progress=False)
    # where it runs and how it logs may change
    train(TrainConfig(**{**base, "steps": 5, "log_every": 1, "workers": 0, "threads": 1}), progress=False)
    other = write_fixture_shards(tmp_path / "other", pairs=16, per_shard=8, resolution=64, seed=5)
    with pytest.raises(ValueError, match="shards' bytes"):
        train(TrainConfig(**{**base, "shards": [str(other)]}), progress=False)


def test_config_hash_follows_the_options_that_change_learning(shards):
    cfg = TrainConfig(shards=[str(shards)], out="a")
    h = config_hash(cfg)
    assert h == config_hash(TrainConfig(shards=["elsewhere"], out="b", workers=4, threads=2, log_every=1))
    for change in ({"label_fraction": 0.5}, {"rotate_deg": 90.0}, {"w_teacher": 1.0}, {"seed": 1},
                   {"steps": 3000}, {"labels": "a"}, {"width": 1.0}, {"pose_head": "25d"},
                   {"prior_components": 10}, {"prior_poses": 500}, {"stem_stride": 2}, {"teacher_target": "pose"}, {"w_parts": 1.0},
                   {"upright": False}, {"upright_share": 0.5}, {"backbone": "mobilenet"}):
        assert config_hash(TrainConfig(shards=[str(shards)], out="a", **change)) != h, change
    # an option added later hashes as before at the value that does what earlier runs did
    assert "w_parts" not in cfg.learned() and "backbone" not in cfg.learned()
    assert "stem_stride" not in cfg.learned() and "stem_stride" in TrainConfig(shards=[], out="a", stem_stride=1).learned()
    assert config_hash(cfg, ["sha-1"]) != config_hash(cfg, ["sha-2"]) != h
    assert "teacher_target" in cfg.learned() and "teacher_target" not in TrainConfig(
        shards=[], out="a", teacher_target="pose").learned()
    # the share is moot without upright crops: it does not rename such a run
    off = dict(shards=[str(shards)], out="a", upright=False)
    assert config_hash(TrainConfig(**off)) == config_hash(TrainConfig(**off, upright_share=0.5))


def test_only_a_run_that_trained_upright_is_evaluated_in_two_passes():
    from trainer.loop import _validate, build_model
    base = dict(shards=[], out="a", pose_head="25d", width=0.125)
    assert build_model(TrainConfig(**base)).cfg.upright
    for off in ({"upright": False}, {"augment": False}, {"upright_share": 0.0}):
        assert not build_model(TrainConfig(**base, **off)).cfg.upright, off
    with pytest.raises(ValueError, match="upright-share"):
        _validate(TrainConfig(**base, upright_share=1.5))


def test_a_run_from_before_an_option_existed_continues_only_at_its_old_value(shards, tmp_path):
    """A checkpoint whose config lacks teacher_target trained with the head's pose as the teacher's
    target (LATER_OPTIONS): continuing it with --teacher-target shape is refused, with pose allowed."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    from trainer import checkpoint
    run = tmp_path / "run"
    base = dict(shards=[str(shards)], out=str(run), steps=4, label_fraction=0.5, w_teacher=1.0,
                unsup_start=0.0, teacher_target="pose", **TINY)
    train(TrainConfig(**base), progress=False)
    path = run / checkpoint.CHECKPOINT
    with safe_open(str(path), framework="pt") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    config = json.loads(meta["config"])
    assert config.pop("teacher_target") == "pose"               # as written before the option existed
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(ValueError, match="--teacher-target 'pose' -> 'shape'"):
        train(TrainConfig(**{**base, "teacher_target": "shape"}), progress=False)
    assert train(TrainConfig(**base), progress=False)["step"] == 4


def test_cli_train_then_eval(shards, tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["--shards", f"{shards}/*.tar:1", "--out", str(run), "--steps", "4",
                                    "--batch-size", "4", "--unlabeled-batch", "4", "--crop", "32",
                                    "--width", "0.125", "--workers", "0", "--threads", "1", "--quiet",
                                    "--w-teacher", "1", "--unsup-start", "0", "--labels", "a",
                                    "--label-fraction", "0.5", "--prior-file", TINY["prior_file"]])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "metrics.json").read_text())["step"] == 4
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards)])
    assert res.exit_code == 0, res.output
    ev = json.loads((run / "eval.json").read_text())
    assert ev["count"] == 32 and ev["mpjpe_mm"] > 0 and 0 <= ev["pa_auc_3d"] <= 1
    assert (run / "eval_pck.png").stat().st_size > 500
    for line in ("MPJPE", "PA-MPJPE", "AUC", "PCK2D", "easy views", "hard views"):
        assert line in res.output
    assert ev["pose"] == "prior head" and ev["pa_mpjpe_head_mm"] == ev["pa_mpjpe_mm"]
    # --fit: the prior fitted to the 2.5D estimate is the prediction, the head's score beside it
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards), "--fit",
                                    "--name", "eval_fit"])
    assert res.exit_code == 0, res.output
    fit = json.loads((run / "eval_fit.json").read_text())
    assert fit["pose"] == "prior fitted to the 2.5D estimate" and fit["count"] == 32
    assert fit["pa_mpjpe_head_mm"] == ev["pa_mpjpe_mm"] and fit["pa_mpjpe_mm"] != ev["pa_mpjpe_mm"]
    # --weights teacher: the run's EMA teacher, another network than the student
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards), "--weights", "teacher",
                                    "--name", "eval_teacher"])
    assert res.exit_code == 0, res.output
    tea = json.loads((run / "eval_teacher.json").read_text())
    assert tea["weights"] == "teacher" and ev["weights"] == "student" and tea["count"] == 32
    assert tea["pa_mpjpe_mm"] != ev["pa_mpjpe_mm"]
    # --limit N: the first N pairs of the shards (both views of each)
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards), "--limit", "5",
                                    "--name", "eval_limit"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "eval_limit.json").read_text())["count"] == 10
    # --by-labels: the pairs whose labels the run used (its --label-fraction 0.5) apart from the others
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(run), "--shards", str(shards), "--by-labels",
                                    "--name", "eval_own"])
    assert res.exit_code == 0, res.output
    own = json.loads((run / "eval_own.json").read_text())["by_label_budget"]
    assert own["label_fraction"] == 0.5 and own["labeled_pairs"]["count"] + own["other_pairs"]["count"] == 32
    assert "labeled pairs" in res.output and "other pairs" in res.output
    res = CliRunner().invoke(main, ["--shards", str(shards), "--out", str(run), "--steps", "4", "--crop", "32",
                                    "--label-fraction", "0.3", "--quiet", "--prior-file", TINY["prior_file"]])
    assert res.exit_code != 0 and "--label-fraction" in res.output and "other options" in res.output


def test_eval_of_the_teacher_of_a_run_without_one_fails_clearly(shards, tmp_path):
    train(TrainConfig(shards=[str(shards)], out=str(tmp_path / "run"), steps=2, **TINY), progress=False)
    res = CliRunner().invoke(main, ["eval", "--checkpoint", str(tmp_path / "run"), "--shards", str(shards),
                                    "--weights", "teacher"])
    assert res.exit_code != 0 and "has no EMA teacher" in res.output


def test_cli_clear_errors(shards, tmp_path):
    res = CliRunner().invoke(main, ["--shards", str(tmp_path / "missing"), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "no such directory or file" in res.output
    res = CliRunner().invoke(main, ["--shards", str(shards), "--out", str(tmp_path / "r"), "--w-uv", "0",
                                    "--w-heatmap", "0", "--w-depth", "0", "--w-pose", "0", "--w-coef", "0"])
    assert res.exit_code != 0 and "every loss weight is 0" in res.output
    res = CliRunner().invoke(main, ["--shards", str(shards), "--out", str(tmp_path / "r"), "--w-teacher", "1"])
    assert res.exit_code != 0 and "need unlabeled pairs" in res.output


def test_teacher_targets_benchmark_agrees_with_eval(shards, tmp_path):
    """benchmarks/teacher_targets.py scores a run's teacher on view a of its unlabeled and labeled
    train pairs as `cyclehand-train eval --weights teacher --by-labels --views a` does (another
    path: trainer.evaluate.predict); its ensembles of one turn and of one run twice are the run."""
    import importlib.util
    from pathlib import Path
    from trainer.cli import run_eval
    spec = importlib.util.spec_from_file_location(
        "teacher_targets", Path(__file__).resolve().parents[1] / "benchmarks" / "teacher_targets.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run = tmp_path / "run"
    train(TrainConfig(shards=[str(shards)], out=str(run), steps=4, label_fraction=0.5, w_teacher=1.0,
                      unsup_start=0.0, **TINY), progress=False)
    out = tmp_path / "targets.json"
    assert bench.main([str(run), str(run), "--shards", str(shards), "--turns", "", "--threads", "1",
                       "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    ref = run_eval(str(run), [str(shards)], views="a", by_labels=True, weights="teacher", echo=False,
                   out_dir=str(tmp_path / "eval"))["by_label_budget"]
    one = got["runs"][0]["one"]
    assert got["pairs"] == {"unlabeled": ref["other_pairs"]["count"], "labeled": ref["labeled_pairs"]["count"]}
    assert one["unlabeled"] == pytest.approx(ref["other_pairs"]["pa_mpjpe_mm"], abs=2e-3)
    assert one["labeled"] == pytest.approx(ref["labeled_pairs"]["pa_mpjpe_mm"], abs=2e-3)
    assert got["runs"][0]["over_turns"] == one and got["over_runs"] == one


def test_the_device_check_script_runs_on_the_cpu(tmp_path, monkeypatch, capsys):
    """benchmarks/cuda_check.py (the prepared check for a lent GPU) runs end to end here: a line
    per run (with and without --amp), every logged value finite, PA-MPJPE beside its floor; and it
    fails (exit 1) when a logged loss is not finite."""
    import importlib.util
    import math
    import sys
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "cuda_check", Path(__file__).resolve().parents[1] / "benchmarks" / "cuda_check.py")
    cuda_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cuda_check)
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["cuda_check.py", "--device", "cpu", "--steps", "30", "--pairs", "32"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "real")])
    cuda_check.main()
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(rows) == 2 and all(x["device"] == "cpu" and not x["autocast"] and x["all_finite"]
                                  and x["floor_pa_mpjpe_mm"] > 0 for x in rows), rows
    import trainer.cli
    import trainer.loop
    fake_eval = {"pa_mpjpe_mm": 1.0, "err_2d_crop": 0.1, "mean_pose_floor": {"pa_mpjpe_mm": 2.0}}
    monkeypatch.setattr(trainer.cli, "run_eval", lambda *a, **k: fake_eval)
    for uv_last, total, rc in ((0.3, 1.0, 0), (0.3, math.nan, 1), (0.7, 1.0, 1)):
        hist = [{"uv": 0.6, "total": 2.0}, {"uv": uv_last, "total": total}]
        monkeypatch.setattr(trainer.loop, "train", lambda cfg, **k: {"history": hist})
        monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / f"fake{rc}{uv_last}")])
        assert cuda_check.main() == rc, (uv_last, total)


def test_teacher_upright_runs_through_the_loader_worker_and_renames_only_teacher_runs(shards, tmp_path):
    """--teacher-upright: the worker leaves the unlabeled pairs' crops to the step, which turns
    them by the teacher's first pass; the teacher loss is live and finite. The option names only
    runs it changes (a teacher and upright crops): other arms keep their config hash."""
    base = dict(shards=[str(shards)], out=str(tmp_path / "run"), steps=6, label_fraction=0.5, w_teacher=1.0,
                unsup_start=0.0, **{**TINY, "workers": 1})
    cfg = TrainConfig(**base, teacher_upright=True)
    assert cfg.turns_unlabeled() and not cfg.view_prep().unlabeled_in_worker
    m = train(cfg, progress=False)
    assert m["step"] == 6
    teach = [r["teacher"] for r in m["history"]]
    assert all(np.isfinite(teach)) and max(teach) > 0
    assert config_hash(cfg) != config_hash(TrainConfig(**base))
    for moot in ({"w_teacher": 0.0}, {"upright": False}):
        assert config_hash(TrainConfig(**{**base, **moot}, teacher_upright=True)) == \
            config_hash(TrainConfig(**{**base, **moot})), moot


@pytest.mark.parametrize("upright", [False, True])
def test_clean_teacher_runs_in_both_paths_and_renames_only_teacher_runs(shards, tmp_path, upright):
    """--teacher-clean: the loader's worker prepares the teacher's plain view a (or, with
    --teacher-upright, the step does); the teacher loss is live and finite, and the option names
    only runs with a teacher."""
    base = dict(shards=[str(shards)], out=str(tmp_path / "run"), steps=6, label_fraction=0.5, w_teacher=1.0,
                unsup_start=0.0, teacher_upright=upright, **{**TINY, "workers": 1})
    cfg = TrainConfig(**base, teacher_clean=True)
    assert cfg.view_prep().unlabeled_in_worker is not upright and cfg.turns_unlabeled() is upright
    m = train(cfg, progress=False)
    teach = [r["teacher"] for r in m["history"]]
    assert m["step"] == 6 and all(np.isfinite(teach)) and max(teach) > 0
    # the same student stream, another teacher input: the first step's teacher loss differs
    m0 = train(TrainConfig(**{**base, "out": str(tmp_path / "run0")}), progress=False)
    assert m0["history"][0]["teacher"] != m["history"][0]["teacher"]
    assert config_hash(cfg) != config_hash(TrainConfig(**base))
    assert config_hash(TrainConfig(**{**base, "w_teacher": 0.0}, teacher_clean=True)) == \
        config_hash(TrainConfig(**{**base, "w_teacher": 0.0}))


@pytest.mark.parametrize("upright", [False, True])
def test_teacher_on_view_a_trains_the_students_view_a_and_needs_a_clean_teacher(shards, tmp_path, upright):
    """--w-teacher-a: the teacher's clean view a is also the target of the student's augmented
    view a; its loss is live and finite in both paths, it names only runs that use it, and it is
    refused where the student's view a would be the teacher's own input (no --teacher-clean)."""
    from trainer.loop import _validate
    base = dict(shards=[str(shards)], out=str(tmp_path / "run"), steps=6, label_fraction=0.5, w_teacher=1.0,
                unsup_start=0.0, teacher_upright=upright, teacher_clean=True, **{**TINY, "workers": 1})
    m = train(TrainConfig(**base, w_teacher_a=1.0), progress=False)
    own = [r["teacher_a"] for r in m["history"]]
    assert m["step"] == 6 and all(np.isfinite(own)) and min(own) > 0
    m0 = train(TrainConfig(**{**base, "out": str(tmp_path / "run0")}), progress=False)
    assert all(r["teacher_a"] == 0 for r in m0["history"]) and m0["config_hash"] != m["config_hash"]
    assert "w_teacher_a" not in TrainConfig(**base).learned()      # off: earlier runs keep their names
    for bad in ({"teacher_clean": False}, {"w_teacher": 0.0}):
        with pytest.raises(ValueError, match="--w-teacher-a needs --w-teacher and --teacher-clean"):
            _validate(TrainConfig(**{**base, **bad}, w_teacher_a=1.0))


def test_unlabeled_shards_feed_only_the_label_free_losses(shards, tmp_path):
    """--unlabeled-shards adds pairs to the unlabeled pool and none to the labeled one (even at
    --label-fraction 1, where they are the only unlabeled pairs); the run is named by them, marked
    apart from the same bytes given as --shards; a continuation with other ones is refused."""
    from trainer.loop import _validate, data_id
    more = write_fixture_shards(tmp_path / "more", pairs=8, per_shard=8, resolution=64, seed=3)
    base = dict(shards=[str(shards)], steps=4, label_fraction=0.5, w_teacher=1.0, unsup_start=0.0, **TINY)
    m0 = train(TrainConfig(**base, out=str(tmp_path / "run0")), progress=False)
    cfg = TrainConfig(**base, out=str(tmp_path / "run"), unlabeled_shards=[str(more)])
    m = train(cfg, progress=False)
    assert m["pairs"] == {"labeled": m0["pairs"]["labeled"], "unlabeled": m0["pairs"]["unlabeled"] + 8}
    assert m["config_hash"] != m0["config_hash"] and all(np.isfinite([r["teacher"] for r in m["history"]]))
    every = train(TrainConfig(**{**base, "label_fraction": 1.0}, out=str(tmp_path / "every"),
                              unlabeled_shards=[str(more)]), progress=False)
    assert every["pairs"] == {"labeled": 16, "unlabeled": 8}
    assert data_id(["s1", "s2"], [False, False]) == ["s1", "s2"]
    assert config_hash(cfg, data_id(["s1", "s2"], [False, True])) != config_hash(cfg, ["s1", "s2"])
    other = write_fixture_shards(tmp_path / "other", pairs=8, per_shard=8, resolution=64, seed=4)
    with pytest.raises(ValueError, match="sha256"):
        train(TrainConfig(**{**base, "steps": 6}, out=str(tmp_path / "run"), unlabeled_shards=[str(other)]),
              progress=False)
    from trainer.spec import SpecError
    with pytest.raises(SpecError, match="^--unlabeled-shards '.*nowhere'"):       # the flag that gave it
        train(TrainConfig(**base, out=str(tmp_path / "bad"), unlabeled_shards=[str(tmp_path / "nowhere")]),
              progress=False)
    with pytest.raises(ValueError, match="feeds only the label-free losses"):
        _validate(TrainConfig(**{**base, "w_teacher": 0.0}, out="x", unlabeled_shards=[str(more)]))


@pytest.mark.parametrize("target", ["shape", "pose"])
def test_teacher_keep_uses_only_the_teachers_most_confident_targets(shards, tmp_path, monkeypatch, target):
    """--teacher-keep: the teacher loss sees only the target and rotation (and one student
    prediction) of the share of unlabeled pairs the teacher is most confident on (here one of eight, the pair
    whose heatmaps are made sharpest), in both target modes; the run is live and renamed, an off
    option keeps earlier names, and bad values are refused."""
    import trainer.loop as loop
    from trainer.loop import _validate
    base = dict(shards=[str(shards)], out=str(tmp_path / "run"), steps=4, label_fraction=0.5, w_teacher=1.0,
                unsup_start=0.0, teacher_target=target, **{**TINY, "workers": 1})
    seen, calls = {}, []
    real_step, real_teacher = loop.compute_losses, loop.EMATeacher.__call__
    real_loss = {"shape": loop.losses.teacher_shape, "pose": loop.losses.teacher}[target]

    def step(model, teacher, batch, *a):
        seen["R"] = batch["unl_views"]["R"]             # the student's view b <- the teacher's view a
        return real_step(model, teacher, batch, *a)

    def teacher(self, x, K, left=None):                 # pair 3 of each batch is the most confident
        t = real_teacher(self, x, K, left)
        t["conf"] = torch.full_like(t["conf"], 0.1)
        t["conf"][3] = 0.9
        seen["pose"] = t["pose"][3].clone()
        return t

    def loss(*args):
        student, t_pose, R = args[0], args[-3 if target == "shape" else -2], args[-1]
        assert len(student) == len(t_pose) == len(R) == 1
        assert torch.equal(t_pose[0], seen["pose"]) and torch.equal(R[0], seen["R"][3])
        calls.append(len(student))
        return real_loss(*args)

    monkeypatch.setattr(loop, "compute_losses", step)
    monkeypatch.setattr(loop.EMATeacher, "__call__", teacher)
    monkeypatch.setattr(loop.losses, "teacher_shape" if target == "shape" else "teacher", loss)
    m = train(TrainConfig(**base, teacher_keep=1 / 8), progress=False)
    assert m["step"] == 4 and len(calls) == 4 and all(np.isfinite([r["teacher"] for r in m["history"]]))
    assert 0.1 < m["history"][-1]["teacher_conf"] < 0.9
    assert m["config_hash"] != config_hash(TrainConfig(**base))
    assert "teacher_keep" not in TrainConfig(**base).learned()     # off: earlier runs keep their names
    with pytest.raises(ValueError, match="--teacher-keep must be in"):
        _validate(TrainConfig(**base, teacher_keep=0.0))
    with pytest.raises(ValueError, match="--teacher-keep .* needs --w-teacher"):
        _validate(TrainConfig(**{**base, "w_teacher": 0.0}, teacher_keep=0.5))
