"""Post-processing without Blender: the one sRGB conversion, backgrounds, compositing, noise."""
import warnings

import numpy as np
import pytest

from generator.colour import lab_to_linear_srgb, linear_srgb_to_lab, linear_to_srgb, srgb_to_linear
from generator.conventions import rng
from generator.image_stats import luma, saturation, spectral_slope
from generator.jobs import job_from_dict
from generator.render.postprocess import (composite_over, depth_from_pass, pink_noise,
                                          procedural_background, procedural_layer, sensor_noise)
from generator.sample.palette import natural_palette

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
    lab = np.stack([np.linspace(5, 95, 50), np.linspace(-40, 40, 50), np.linspace(30, -30, 50)], -1)
    xyz = colour.Lab_to_XYZ(lab, colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    np.testing.assert_allclose(lab_to_linear_srgb(lab), colour.XYZ_to_sRGB(xyz, apply_cctf_encoding=False),
                               atol=1e-3)     # colour-science derives its matrix from the primaries
    np.testing.assert_allclose(linear_srgb_to_lab(lab_to_linear_srgb(lab)), lab, atol=1e-9)


@pytest.mark.parametrize("style", ["clutter", "surface"])
def test_procedural_backgrounds_are_seeded(style):
    palette = [[0.5, 0.45, 0.4], [0.2, 0.25, 0.3], [0.8, 0.78, 0.7]]
    a = procedural_background(W, H, 7, style, palette, 0.01)
    b = procedural_background(W, H, 7, style, palette, 0.01)
    c = procedural_background(W, H, 8, style, palette, 0.01)
    assert a.shape == (H, W, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.std() > 0.01
    with pytest.raises(ValueError, match="style"):
        procedural_background(W, H, 7, "checker")
    layer = procedural_layer({"kind": "procedural", "seed": 7, "style": style, "palette": palette,
                              "blur": 0.01}, W, H)
    np.testing.assert_array_equal(layer, a)
    assert not layer.flags.writeable                       # shared by views a and b


def test_pink_noise_has_the_asked_spectral_slope():
    for exponent in (0.8, 1.0, 1.5):
        slopes = [spectral_slope(pink_noise(rng(s, 0, "t"), 256, 256, exponent)) for s in range(4)]
        assert abs(np.mean(slopes) + exponent) < 0.12


def _picture_stats(images):
    slope = np.median([spectral_slope(luma(im)) for im in images])
    sat_median = np.median([np.median(saturation(im)) for im in images])
    sat_p90 = np.median([np.quantile(saturation(im), 0.9) for im in images])
    return slope, sat_median, sat_p90


def test_procedural_backgrounds_have_photographic_statistics():
    """The default job's procedural backgrounds against the ranges measured on 32 crops of the
    bundled CC0 photographs (benchmarks/background_stats.py: amplitude slope q10-q90 -1.53..-1.07,
    median saturation 0.08..0.47, p90 saturation 0.24..0.70); a picture of random uniform colours,
    like the old checker backgrounds, fails the same checks."""
    spec = job_from_dict({}).background.procedural
    images = []
    for i in range(20):
        d = spec.draw(rng(i, 0, "test_background"), None)
        images.append(linear_to_srgb(procedural_background(256, 256, d["seed"], d["style"], d["palette"], d["blur"])))
    slope, sat_median, sat_p90 = _picture_stats(images)
    assert -1.8 < slope < -1.0
    assert 0.05 < sat_median < 0.35 and sat_p90 < 0.6

    checkers = [np.kron(rng(i, 0, "checker").uniform(0, 1, (8, 8, 3)), np.ones((32, 32, 1))) for i in range(4)]
    _, sat_median_checker, _ = _picture_stats(checkers)
    assert sat_median_checker > 0.35


def test_natural_palettes_are_muted_and_vary_along_the_daylight_axis():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    palettes = np.array([natural_palette(rng(i, 0, "palette"), 6) for i in range(300)])
    assert palettes.min() >= 0 and palettes.max() <= 1
    lab = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(palettes))
    chroma = np.hypot(lab[:, 0, 1], lab[:, 0, 2])
    assert 4 < np.median(chroma) < 10 and np.quantile(chroma, 0.95) < 30
    spread = (lab[:, 1:] - lab[:, :1]).reshape(-1, 3).std(0)
    assert spread[2] > 1.5 * spread[1]                      # b* (yellow-blue) varies more than a*


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


# --- exposure meter ---------------------------------------------------------------------------

def _lit_hand(albedo_grey: float, light: float, n: int = 32, sheen: float = 0.0):
    """A frame whose hand pixels (left half) have one albedo and receive ``light`` (shading
    varies; the right column is a half-covered edge); ``sheen`` adds a specular reflection that,
    like skin's sebum film, does not darken with the albedo. Returns the meter's inputs: the
    diffuse light pass, the hand's coverage, the mask, the composited frame."""
    rng = np.random.default_rng(0)
    shade = rng.uniform(0.3, 1.0, (n, n, 1))
    coverage = np.zeros((n, n))
    coverage[:, : n // 2] = 1.0
    coverage[:, n // 2 - 1] = 0.5
    mask = coverage >= 0.5
    light_pass = np.repeat(coverage[..., None] * shade * light, 3, axis=-1)   # premultiplied, colourless
    hand = albedo_grey * light_pass + coverage[..., None] * sheen * light * shade**8
    frame = hand + (1 - coverage)[..., None] * 0.5
    return light_pass, coverage, mask, frame, hand


def test_hand_meter_reads_the_light_not_the_skin():
    """Two skins under one light get the same factor (so a dark hand stays darker than a light
    one), whatever their sheen; the factor scales exactly with the light: 4x the light, a
    quarter of the factor."""
    from generator.render.postprocess import metered_exposure

    f_dark, meter = metered_exposure(*_lit_hand(0.02, 2.0, sheen=0.05)[:4])
    f_light, _ = metered_exposure(*_lit_hand(0.45, 2.0, sheen=0.05)[:4])
    f_bright, _ = metered_exposure(*_lit_hand(0.02, 8.0)[:4])
    assert meter == "hand"
    assert f_dark == pytest.approx(f_light, rel=1e-9)
    assert f_bright == pytest.approx(f_dark / 4, rel=1e-9)
    light_pass, coverage, mask, frame, hand = _lit_hand(0.2, 3.0)
    f, _ = metered_exposure(light_pass, coverage, mask, frame)
    # after exposure the hand's mean (coverage-weighted) luminance equals its albedo: a grey card
    # reads as its albedo
    assert (hand[mask].mean(-1) * f).sum() / coverage[mask].sum() == pytest.approx(0.2, rel=1e-6)
    assert metered_exposure(light_pass, coverage, mask, frame, ev=1.0)[0] == pytest.approx(2 * f, rel=1e-12)


def test_meter_falls_back_to_the_scene_without_enough_hand():
    from generator.render.postprocess import MIDDLE_GREY, metered_exposure

    light_pass, coverage, mask, frame, _ = _lit_hand(0.3, 1.0, n=8)
    mask[:] = False
    mask[0, 0] = True                                     # one pixel: too few to meter on
    f, meter = metered_exposure(light_pass, coverage, mask, frame, min_pixels=16)
    assert meter == "scene"
    lum = np.maximum(frame * f, 1e-6).mean(-1)
    assert np.exp(np.log(lum).mean()) == pytest.approx(MIDDLE_GREY, rel=1e-6)
