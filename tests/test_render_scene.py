"""Samples as data: determinism, the R_ab invariant, framing, splits, lighting/background dicts."""
import dataclasses

import numpy as np
import pytest

from generator.camera import in_frame
from generator.conventions import is_hard_view, project
from generator.hand.base import PART_INDEX
from generator.jobs import JobError, job_from_dict
from generator.sample import Sample, SampleContext, build_views, draw_sample, load_hand, resolve_library
from generator.colour import LUMINANCE
from generator.sample.kinds.lighting_studio import kelvin_to_rgb
from render_helpers import texture_entries

TEXTURES = texture_entries(variants="ab")
BASE = {"seed": 11, "camera": {"resolution": 96},
        "lighting": {"kinds": {"hdri": 1.0, "sky": 1.0, "studio": 1.0}}}


@pytest.fixture(scope="module")
def hand():
    return load_hand(job_from_dict(BASE))


def ctx_for(job, hand):
    return SampleContext.for_job(job, TEXTURES, hand=hand)


def _job(**over):
    d = {**BASE, **over}
    return job_from_dict(d, source="test.toml")


@pytest.fixture(scope="module")
def drawn(hand):
    job = _job()
    ctx = ctx_for(job, hand)
    return job, ctx, [draw_sample(job, i, ctx) for i in range(4)]


def test_sample_is_a_pure_function_of_job_and_index(hand, drawn):
    job, ctx, samples = drawn
    again = draw_sample(job, 2, ctx)
    assert again.to_json() == samples[2].to_json()
    assert Sample.from_json(samples[2].to_json()) == samples[2]
    assert len({s.seed for s in samples}) == 4
    assert samples[0].pose != samples[1].pose
    # streams are independent: changing the lighting mix leaves hand, rotation and camera alone
    other = _job(lighting={"kinds": {"studio": 1.0}})
    s2 = draw_sample(other, 2, ctx_for(other, hand))
    for f in ("side", "shape", "pose", "R_a", "R_ab", "wrist", "K", "texture"):
        assert getattr(s2, f) == getattr(samples[2], f), f
    assert s2.lighting["kind"] == "studio"


def test_views_are_exact_rigid_rotations_about_the_wrist(drawn):
    _, ctx, samples = drawn
    for s in samples:
        va, vb, ka, kb = build_views(s, ctx)
        R_ab = np.asarray(s.R_ab)
        assert np.abs((kb - kb[0]) - (ka - ka[0]) @ R_ab.T).max() < 1e-12
        assert np.abs((vb - kb[0]) - (va - ka[0]) @ R_ab.T).max() < 1e-12
        assert np.allclose(kb[0], ka[0]) and np.allclose(ka[0], s.wrist)
        # float32 as stored in the shards: still exact to float32 precision (< 1 micron)
        va32, vb32 = va.astype(np.float32), vb.astype(np.float32)
        err = np.abs((vb32 - vb32[0]).astype(np.float64) - (va32 - va32[0]).astype(np.float64) @ R_ab.T)
        assert err.max() < 1e-6
        # view a is the canonical hand rotated by R_a: distances preserved, same chirality
        assert np.isclose(np.linalg.det(np.asarray(s.R_a)), 1.0)


def test_both_views_fit_the_frame(hand, drawn):
    _, ctx, samples = drawn
    for s in samples:
        va, vb, ka, kb = build_views(s, ctx)
        body = np.asarray(hand.forward(np.asarray(s.pose)[None], s.shape, s.side).parts) != PART_INDEX["forearm"]
        for v, k in ((va, ka), (vb, kb)):
            uv = project(np.asarray(s.K), np.concatenate([k, v[body]]))
            assert in_frame(uv, s.resolution).all()
        assert not s.camera["truncated"]


def test_lighting_background_and_options_follow_the_contract(drawn):
    _, _, samples = drawn
    job = _job()
    lib = resolve_library(job, TEXTURES)
    for s in samples:
        L, B, O = s.lighting, s.background, s.options
        if L["kind"] == "hdri":
            assert {"path", "rotation", "strength", "name", "sha256"} <= set(L)
            assert L["name"] in {e.name for e in lib.hdris}
        elif L["kind"] == "sky":
            assert {"sun_elevation", "sun_rotation", "strength", "air", "dust", "ground", "ground_albedo"} <= set(L)
            assert 0.06 - 1e-6 <= float(np.dot(LUMINANCE, L["ground_albedo"])) <= 0.35 + 1e-6
        else:
            assert 1 <= len(L["lights"]) <= 4 and all(len(x["position"]) == 3 for x in L["lights"])
        assert B["kind"] in ("hdri", "procedural")      # no image folder in this job
        assert O["passes"] == ["depth"] and O["samples"] >= 1 and isinstance(O["seed"], int)
        assert s.skin_tone == int(s.texture[3:5])


def test_hard_view_job_gives_hard_views_in_both_views(hand):
    job = _job(rotation={"mode": "hard"})
    ctx = ctx_for(job, hand)
    for i in range(2):
        s = draw_sample(job, i, ctx)
        _, _, ka, kb = build_views(s, ctx)
        assert is_hard_view(ka) and is_hard_view(kb) and s.views["kinds"] == ["hard", "hard"]


def test_held_out_texture_and_hdri_selection(hand):
    job = _job(appearance={"textures": ["*_b"], "skin_tones": [2, 9]},
               lighting={"hdris": ["night", "studio"], "kinds": {"hdri": 1.0}})
    lib = resolve_library(job, TEXTURES)
    assert [v["name"] for v in lib.textures] == ["mst02_b", "mst09_b"]
    assert [e.name for e in lib.hdris] == ["night", "studio"]
    s = draw_sample(job, 0, ctx_for(job, hand))
    assert s.texture in ("mst02_b", "mst09_b") and s.lighting["name"] in ("night", "studio")
    with pytest.raises(JobError, match="test.toml: appearance.textures pattern 'mst99_\\*' matches none"):
        resolve_library(_job(appearance={"textures": ["mst99_*"]}), TEXTURES)
    with pytest.raises(JobError, match="background.image_dir: folder .* does not exist"):
        resolve_library(_job(background={"image_dir": "/nonexistent"}), TEXTURES)


def test_kelvin_colours_go_from_warm_to_cool():
    warm, cool = kelvin_to_rgb(2700), kelvin_to_rgb(9000)
    assert warm[0] == 1.0 and warm[2] < 0.4 and cool[2] == 1.0 and cool[0] < 1.0


def test_user_background_images(hand, tmp_path):
    from PIL import Image
    for name, colour in (("beach.jpg", (200, 180, 120)), ("office.png", (90, 90, 100))):
        Image.new("RGB", (32, 24), colour).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    job = _job(background={"kinds": {"image": 1.0}, "image_dir": str(tmp_path)})
    lib = resolve_library(job, TEXTURES)
    assert [p.rsplit("/", 1)[1] for p in lib.images] == ["beach.jpg", "office.png"]
    s = draw_sample(job, 0, ctx_for(job, hand))
    assert s.background == {"kind": "image", "path": s.background["path"]} and s.background["path"] in lib.images
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(JobError, match="background.image_dir: no images"):
        resolve_library(_job(background={"image_dir": str(empty)}), TEXTURES)
    # without an image folder the image weight is ignored; if it was the only kind, that is an error
    only = _job(background={"kinds": {"image": 1.0}})
    with pytest.raises(JobError, match="only 'image' has weight"):
        draw_sample(only, 0, ctx_for(only, hand))


def test_studio_lights_are_exposed_by_irradiance_at_the_hand(hand):
    """Light power scales with distance squared, so the summed on-axis irradiance at the wrist
    (P / (pi d^2) per disc light) stays in the job's range however close a light comes."""
    job = _job(lighting={"kinds": {"studio": 1.0}, "studio": {"irradiance": [1.0, 4.0]}})
    ctx = ctx_for(job, hand)
    for i in range(20):
        s = draw_sample(job, i, ctx)
        wrist = np.asarray(s.wrist)
        e = sum(L["power"] / (np.pi * np.sum((np.asarray(L["position"]) - wrist) ** 2))
                for L in s.lighting["lights"])
        assert 1.0 - 1e-9 <= e <= 4.0 + 1e-9
