"""Post-processing without Blender: the one sRGB conversion, backgrounds, compositing, noise."""
import warnings

import numpy as np
import pytest

from generator.colour import linear_to_srgb, srgb_to_linear
from generator.render.postprocess import (composite_over, depth_from_pass, procedural_background,
                                          sensor_noise)

W, H = 64, 48


def test_srgb_conversion_matches_colour_science():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    x = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(srgb_to_linear(x), colour.cctf_decoding(x, "sRGB"), atol=1e-12)
    np.testing.assert_allclose(linear_to_srgb(x), colour.cctf_encoding(x, "sRGB"), atol=1e-12)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    assert srgb_to_linear(x, np.float32).dtype == np.float32


@pytest.mark.parametrize("style", ["gradient", "noise", "checker"])
def test_procedural_backgrounds_are_seeded(style):
    a = procedural_background(W, H, 7, style, [[0.1, 0.2, 0.9], [0.9, 0.8, 0.1]])
    b = procedural_background(W, H, 7, style, [[0.1, 0.2, 0.9], [0.9, 0.8, 0.1]])
    c = procedural_background(W, H, 8, style, [[0.1, 0.2, 0.9], [0.9, 0.8, 0.1]])
    assert a.shape == (H, W, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.05
    with pytest.raises(ValueError, match="style"):
        procedural_background(W, H, 7, "plaid")


def test_composite_is_over_in_linear_light():
    bg = np.full((2, 2, 3), 0.5, np.float32)
    premult = np.zeros((2, 2, 3), np.float32)
    premult[0, 0] = 0.2                       # half-covered pixel of a 0.4 surface
    alpha = np.array([[0.5, 0.0], [1.0, 0.0]], np.float32)
    out = composite_over(premult, alpha, bg)
    np.testing.assert_allclose(out[0, 0], 0.2 + 0.5 * 0.5)
    np.testing.assert_allclose(out[0, 1], 0.5)
    np.testing.assert_allclose(out[1, 0], 0.0)


def test_sensor_noise_is_seeded_with_the_asked_sigma():
    img = np.full((200, 200, 3), 128, np.uint8)
    a, b = sensor_noise(img, 3.0, 5), sensor_noise(img, 3.0, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sensor_noise(img, 3.0, 6))
    assert abs(float((a.astype(float) - 128).std()) - 3.0) < 0.1
    assert sensor_noise(img, 0.0, 5) is img


def test_depth_pass_holes_at_mask_edges_are_filled():
    z = np.full((5, 5), 1e10, np.float32)
    z[1:4, 1:4] = 0.5
    z[2, 3] = 1e10                             # an edge pixel whose first sample missed
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    d = depth_from_pass(z, mask)
    assert np.isfinite(d[mask]).all() and d[2, 3] == pytest.approx(0.5)
    assert np.isinf(d[~mask]).all()
