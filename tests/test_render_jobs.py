"""Job files: every shipped job loads; bad keys and values fail naming the key and the file."""
import glob
from pathlib import Path

import pytest

from generator.hdri import load_library
from generator.jobs import Job, JobError, describe, job_from_dict, load_job
from generator.sample import glob_filter

JOBS = sorted(glob.glob(str(Path(__file__).parents[1] / "render_jobs" / "*.toml")))


def test_the_required_jobs_are_shipped():
    names = {Path(p).stem for p in JOBS}
    assert {"smoke", "default", "hard_views", "train", "test"} <= names


@pytest.mark.parametrize("path", JOBS, ids=lambda p: Path(p).stem)
def test_shipped_job_loads(path):
    job = load_job(path)
    assert job.name == Path(path).stem
    assert job.source == path
    assert job.resolution >= 8 and job.samples >= 1


def test_hard_views_job_is_hard():
    assert load_job(JOBS[[Path(p).stem for p in JOBS].index("hard_views")]).rotation.mode == "hard"


@pytest.mark.parametrize("text, key, message", [
    ("seed = 1\nsed = 2\n", "sed", "did you mean 'seed'"),
    ("[render]\nsampels = 3\n", "render.sampels", "did you mean 'samples'"),
    ("[cmaera]\nfill = [0.5, 0.6]\n", "cmaera", "did you mean 'camera'"),
    ("[camera]\nfill = [0.9, 0.1]\n", "camera.fill", "low 0.9 is above high 0.1"),
    ("[camera]\nfill = [0.5]\n", "camera.fill", "expected a [low, high] pair"),
    ("[camera]\nfocal_mm = [1.0, 50.0]\n", "camera.focal_mm", "outside the allowed range"),
    ("[render]\npreset = \"ultra\"\n", "render.preset", "'ultra' is not one of draft, default, high"),
    ("[render]\nworkers = 0\n", "render.workers", "below the minimum 1"),
    ("[render]\nshard_size = 2.5\n", "render.shard_size", "expected an integer"),
    ("[render]\npasses = [\"albedo\"]\n", "render.passes", "'albedo' is not one of depth, normals"),
    ("seed = \"zero\"\n", "seed", "expected a number"),
    ("[lighting]\nkinds = { hdri = -1.0 }\n", "lighting.kinds.hdri", "negative"),
    ("[lighting]\nkinds = { disco = 1.0 }\n", "lighting.kinds.disco", "unknown key"),
    ("[lighting]\nkinds = { hdri = 0.0, sky = 0.0, studio = 0.0 }\n", "lighting.kinds", "all be zero"),
    ("[lighting]\nembedded_hdris = 1\n", "lighting.embedded_hdris", "expected true or false"),
    ("[appearance]\nskin_tones = [11]\n", "appearance.skin_tones", "11 is not one of"),
    ("rotation = 3\n", "rotation", "expected a table"),
])
def test_bad_job_names_file_and_key(tmp_path, text, key, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(JobError) as e:
        load_job(p)
    assert str(e.value).startswith(f"{p}: {key}: ")
    assert message in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(JobError, match="does not exist"):
        load_job(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("[render\n")
    with pytest.raises(JobError, match=f"{p}: not valid TOML"):
        load_job(p)


def test_flags_override_job_values_and_are_validated():
    job = load_job(JOBS[[Path(p).stem for p in JOBS].index("smoke")])
    o = job.override({"seed": 5, "render.samples": 9, "camera.resolution": None, "render.workers": 3})
    assert (o.seed, o.samples, o.resolution, o.render.workers) == (5, 9, 64, 3)
    assert (job.seed, job.samples) == (7, 4)              # the original is untouched
    with pytest.raises(JobError, match="render.workers: 0 is below the minimum 1"):
        job.override({"render.workers": 0})
    # the fingerprint (what the shards depend on) ignores how they are computed
    assert job.override({"render.workers": 2, "render.device": "cpu"}).fingerprint() == job.fingerprint()
    assert job.override({"seed": 8}).fingerprint() != job.fingerprint()


def test_fingerprint_follows_the_presets_settings(monkeypatch):
    from generator.render import presets
    job = load_job(JOBS[[Path(p).stem for p in JOBS].index("default")])
    before = job.fingerprint()
    monkeypatch.setitem(presets.PRESETS, job.render.preset,
                        {**presets.PRESETS[job.render.preset], "subsurface": "RANDOM_WALK_SKIN"})
    assert job.fingerprint() != before


def test_defaults_and_describe():
    assert Job().to_dict() == job_from_dict({}).to_dict()
    text = describe()
    assert "render.shard_size = 64" in text and "rotation.mode = \"natural\"" in text


def test_train_and_test_hdris_are_disjoint():
    """test and hard_views (the experiment's evaluation splits) see no HDRI, no texture variant
    and no procedural sky or studio rig that train uses."""
    by = {Path(p).stem: load_job(p) for p in JOBS}
    names = [e.name for e in load_library()]
    picked = {}
    for split in ("train", "test", "hard_views"):
        L = by[split].lighting
        picked[split] = set(glob_filter(names, L.hdris, L.exclude_hdris, "lighting.hdris", split))
        assert picked[split]
    A_tr = by["train"].appearance
    for held_out in ("test", "hard_views"):
        assert not picked["train"] & picked[held_out]
        assert set(by[held_out].appearance.textures) <= set(A_tr.exclude_textures)
        assert {k for k, w in by[held_out].lighting.kinds.items() if w > 0} == {"hdri"}
