"""The anny hand's rest model as plain arrays (generator.hand.anny_rest) against anny itself, and
what a render worker no longer imports because of it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from generator.hand import anny_backend, anny_rest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def anny_model():
    return anny_backend._load_anny()


@pytest.fixture(scope="module")
def rest():
    return anny_backend.load_rest()


def test_hat_weights_match_anny(anny_model):
    from anny.utils.interpolation import linear_interpolation_coefficients

    for name in ("age", "muscle", "gender"):
        full = anny_model.anchors[name]
        inside = full.numpy()[(full.numpy() >= 0) & (full.numpy() <= 1)]
        v = np.concatenate([np.linspace(0, 1, 13), np.random.default_rng(0).random(50)])
        theirs = linear_interpolation_coefficients(torch.as_tensor(v, dtype=full.dtype), full).numpy()
        cols = np.flatnonzero((full.numpy() >= 0) & (full.numpy() <= 1))
        assert not theirs[:, np.setdiff1d(np.arange(len(full)), cols)].any()   # anchors outside [0, 1]
        np.testing.assert_allclose(anny_rest.hat_weights(v, inside), theirs[:, cols], atol=1e-12)


def test_rest_model_equals_anny_on_random_phenotypes(anny_model, rest):
    """Random phenotypes, the grid's corners and its anchors: vertices and bone heads agree to
    float64 rounding, which is what makes the cached arrays a replacement and not an approximation."""
    rng = np.random.default_rng(7)
    phen = np.concatenate([rng.random((24, 6)), np.array([[0.0] * 6, [1.0] * 6, [0.5, 1 / 3, 0.5, 0.5, 0.5, 0.5],
                                                          [0.2, 2 / 3, 0.0, 1.0, 0.3, 0.9]])])
    with torch.no_grad():
        _, p, local, facial = anny_model.get_tensor_inputs(None, torch.as_tensor(phen, dtype=anny_model.dtype), None, None)
        out = anny_model.get_rest_model(anny_model._get_phenotype_blendshape_coefficients(p, local, facial))
    verts, heads = rest.rest(phen)
    assert rest.names == tuple(anny_backend.SHAPE_RANGES) == tuple(anny_model.phenotype_labels)
    np.testing.assert_allclose(verts, out["rest_vertices"].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(heads, out["rest_bone_heads"].numpy(), rtol=0, atol=1e-12)
    # and the phenotype actually moves the hand (a test that cannot pass on a constant)
    assert np.abs(verts[0] - verts[1]).max() > 5e-3


def test_static_arrays_equal_anny(anny_model, rest):
    np.testing.assert_array_equal(rest.faces, anny_model.faces.numpy())
    np.testing.assert_array_equal(rest.bone_index, anny_model.vertex_bone_indices.numpy())
    np.testing.assert_array_equal(rest.bone_parents, list(anny_model.bone_parents))
    atlas = anny_model.texture_coordinates.numpy()[anny_model.face_texture_coordinate_indices.numpy()]
    np.testing.assert_array_equal(rest.uv_atlas, atlas)


def test_save_load_round_trip(rest, tmp_path):
    path = rest.save(tmp_path / "rest.npz")
    back = anny_rest.AnnyRest.load(path)
    assert back.names == rest.names
    phen = np.random.default_rng(1).random((3, 6))
    for a, b in zip(back.rest(phen), rest.rest(phen)):
        np.testing.assert_array_equal(a, b)


def test_render_worker_start_imports_neither_anny_nor_torch():
    """What the worker loads before its renderer: the job, the hand, the sample context and the
    shard writer. anny's import pulls roma -> torch._dynamo and warp, webdataset's pulls torch."""
    code = ("import sys, generator.render_worker as W\n"
            "from generator.jobs import load_job\n"
            "from generator.sample import SampleContext, load_textures, draw_sample, pose_hand\n"
            "job = load_job('render_jobs/default.toml')\n"
            "tex = [{'name': 'mst05_a', 'mst': 5, 'maps': {}, 'subsurface_radius_m': [0.004, 0.002, 0.001]}]\n"
            "ctx = SampleContext.for_job(job, tex)\n"
            "s = draw_sample(job, 0, ctx); pose_hand(s, ctx)\n"
            "print(sorted(m for m in ('anny', 'torch', 'warp', 'roma', 'webdataset', 'bpy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=anny_backend.__file__.rsplit("/generator/", 1)[0])
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
