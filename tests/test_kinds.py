"""Kinds of scene content: each registered kind has an applier, validates its own job table,
draws deterministically; drawing a sample never loads Blender."""
import json
import subprocess
import sys

import numpy as np
import pytest

from generator.conventions import rng
from generator.jobs import JobError, describe, job_from_dict
from generator.sample import Library, kinds

FAMILIES = ("lighting", "background", "distractor")


def stage():
    class Hdri:
        name, path, sha256 = "studio", "/x/studio.exr", "0" * 64
    return kinds.Stage(library=Library(hdris=[Hdri()], textures=[], images=["/x/a.jpg", "/x/b.jpg"]),
                       wrist=np.array([0.01, -0.02, 0.5]), K=np.eye(3), resolution=(64, 64))


def all_kinds():
    return [(f, n) for f in FAMILIES for n in kinds.registered(f)]


def test_the_shipped_kinds_are_registered():
    assert set(kinds.registered("lighting")) == {"hdri", "sky", "studio"}
    assert set(kinds.registered("background")) == {"hdri", "image", "procedural"}
    assert set(kinds.registered("distractor")) == {"box", "cylinder", "sphere"}


@pytest.mark.parametrize("family, name", all_kinds())
def test_every_kind_draws_deterministically_plain_data(family, name):
    section = {"distractor": "distractors"}.get(family, family)
    spec = getattr(getattr(job_from_dict({}), section), name)
    a = spec.draw(rng(3, 0, family), stage())
    b = spec.draw(rng(3, 0, family), stage())
    assert a == b and a["kind"] == name
    assert json.loads(json.dumps(a)) == a                     # plain data, JSON round trip
    if (family, name) != ("background", "hdri"):              # the only kind with nothing to draw
        assert any(spec.draw(rng(s, 0, family), stage()) != a for s in range(4, 8))


@pytest.mark.parametrize("family, name", all_kinds())
def test_every_kind_table_rejects_unknown_keys_naming_them(family, name):
    section = {"distractor": "distractors"}.get(family, family)
    with pytest.raises(JobError) as e:
        job_from_dict({section: {name: {"no_such_key": 1}}}, source="k.toml")
    assert str(e.value).startswith(f"k.toml: {section}.{name}.no_such_key: unknown key")
    assert f"{section}.kinds" in describe()


def test_kind_tables_validate_their_values():
    job = job_from_dict({"lighting": {"studio": {"irradiance": [2.0, 3.0]}, "sky": {"dust": [0.0, 1.0]}}})
    assert job.lighting.studio.irradiance == [2.0, 3.0] and job.lighting.sky.dust == [0.0, 1.0]
    with pytest.raises(JobError, match="lighting.studio.lights: low 5.0 is above high 2.0"):
        job_from_dict({"lighting": {"studio": {"lights": [5, 2]}}})
    with pytest.raises(JobError, match="background.procedural.styles: 'plaid' is not one of"):
        job_from_dict({"background": {"procedural": {"styles": ["plaid"]}}})
    with pytest.raises(JobError, match="lighting.studio_irradiance: moved to lighting.studio.irradiance"):
        job_from_dict({"lighting": {"studio_irradiance": [1.0, 2.0]}})
    with pytest.raises(JobError, match="lighting.kinds.disco: unknown key"):
        job_from_dict({"lighting": {"kinds": {"disco": 1.0}}})


def test_every_kind_has_a_blender_applier():
    from generator.render import appliers          # imports bpy (the render room)
    for family in FAMILIES:
        assert appliers.registered(family) == list(kinds.registered(family))


def test_drawing_a_sample_does_not_import_bpy():
    code = """
import sys
import generator.sample, generator.jobs
from generator.jobs import job_from_dict
from generator.sample import SampleContext, draw_sample, build_views
job = job_from_dict({"camera": {"resolution": 64}, "lighting": {"kinds": {"hdri": 1, "sky": 1, "studio": 1}}})
tex = [{"name": "mst05_a", "mst": 5, "maps": {}, "subsurface_radius_m": [0.004, 0.002, 0.001]}]
ctx = SampleContext.for_job(job, tex)
for i in range(3):
    s = draw_sample(job, i, ctx)
    build_views(s, ctx)
print(job.samples, job.resolution, "bpy" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False", out.stdout
