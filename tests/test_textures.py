"""Procedural skin textures: optics calibration, UV baking, features on the real hand, builder."""
from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from texture_meshes import seamed_cylinder  # noqa: E402

from generator.textures import TextureSetMissing, load_texture_set
from generator.textures import measured
from generator.textures.skin_optics import (SkinParams, linear_srgb_to_lab, measured_lab, skin_lab, skin_linear_rgb,
                                            spectrum_to_xyz, srgb_to_linear, xyz_to_lab)
from generator.textures.tones import F0, MST_LEVELS, calibrated_dorsum, calibrated_palm, check_level, target_lab
from generator.textures.uv_bake import bake, sample_bilinear, seam_edges

RES = 256


# --- skin optics and the MST calibration ----------------------------------------------------

def _within(site, lab):
    """The measured (ISSA) hands of similar lightness: is lab inside their 2.5-97.5 % range?"""
    b = measured.bin_at(site, lab[0])
    h = measured.hue_deg(lab[1], lab[2])
    return (b["a"][0] <= lab[1] <= b["a"][2] and b["b"][0] <= lab[2] <= b["b"][2]
            and b["h"][0] <= h <= b["h"][2]), b


def test_tone_calibration_within_measured_hands():
    """Every MST level's dorsum and palm, as a spectrophotometer would read them (specular
    included), lie within the measured a*, b* and hue range of real hands of the same lightness,
    and the scale's ends fall in the ITA classes of Chardon et al. 1991 / Del Bino et al. 2006."""
    groups = measured.reference()["groups"]["back_of_hand"].values()
    L_lo, L_hi = min(g["L"]["p"][0] for g in groups), max(g["L"]["p"][2] for g in groups)
    prev = np.inf
    for k in MST_LEVELS:
        d, p = measured_lab(calibrated_dorsum(k), F0), measured_lab(calibrated_palm(k), F0)
        assert abs(d[0] - target_lab(k)[0]) < 0.2
        assert L_lo <= d[0] <= L_hi and d[0] < prev, (k, d)
        prev = d[0]
        for site, lab in (("back_of_hand", d), ("palm", p)):
            ok, b = _within(site, lab)
            assert ok, f"MST {k} {site}: L*a*b* {np.round(lab, 1)} outside measured {b}"
        assert p[0] >= d[0] - 0.5, k                       # palms never darker than the back
    assert measured.ita_deg(*measured_lab(calibrated_dorsum(1), F0)[[0, 2]]) > 41      # light / very light
    assert measured.ita_deg(*measured_lab(calibrated_dorsum(10), F0)[[0, 2]]) < -30    # dark
    d10, p10 = measured_lab(calibrated_dorsum(10), F0), measured_lab(calibrated_palm(10), F0)
    assert np.hypot(d10[1], d10[2]) > 9.0                   # not grey (was 7.8 before calibration)
    assert p10[0] > d10[0] + 10                             # dark palms much lighter (measured: +15)


def test_colour_conversion_agrees_with_colour_science():
    """Our spectrum -> XYZ -> CIELAB path against colour-science's own integration."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    from generator.textures.skin_optics import LAMBDA, reflectance
    R = reflectance(calibrated_dorsum(8))
    sd = colour.SpectralDistribution(dict(zip(LAMBDA.tolist(), R.tolist())))
    xyz = colour.sd_to_XYZ(sd, colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"],
                           colour.SDS_ILLUMINANTS["D65"], method="Integration") / 100
    ref = colour.XYZ_to_Lab(xyz, colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    assert np.abs(xyz_to_lab(spectrum_to_xyz(R)) - ref).max() < 0.6


def test_more_melanin_darker_more_blood_redder():
    base = SkinParams(melanin=0.01, eumelanin_ratio=0.7, blood=0.02)
    assert skin_lab(base.replace(melanin=0.03))[0] < skin_lab(base)[0]
    rgb0, rgb1 = skin_linear_rgb(base), skin_linear_rgb(base.replace(blood=0.06))
    assert rgb1[0] / rgb1[1] > rgb0[0] / rgb0[1]


def test_density_linearisation_matches_exact_model():
    from generator.textures.compose import density_basis
    site = calibrated_dorsum(5)
    b = density_basis(site)
    # within 4 % for local variations, 6 % for the largest (knuckle pigment + redness together)
    for dm, db, tol in [(0.2, 0.0, 0.04), (-0.2, 0.3, 0.04), (0.4, 0.5, 0.06)]:
        approx = np.exp(b["base"] + dm * b["melanin"] + db * b["blood"])
        exact = skin_linear_rgb(site.replace(melanin=site.melanin * np.exp(dm), blood=site.blood * np.exp(db)))
        assert np.abs(approx / exact - 1).max() < tol, (dm, db, approx, exact)


def test_unknown_tone_is_a_clear_error():
    for bad in (0, 11, "3", 2.5, None):
        with pytest.raises(ValueError, match="1-10"):
            check_level(bad)


# --- UV baking on a synthetic seamed cylinder ---------------------------------------------------

def test_bake_cylinder_positions_seams_and_padding():
    V, F, UV = seamed_cylinder(24, 8, radius=0.01)
    b = bake(V, F, UV, 128)
    p = b.position[b.mask]
    assert np.allclose(np.hypot(p[:, 0], p[:, 2]), 0.01, atol=2e-4)     # on the (faceted) surface
    assert abs(b.mask.mean() - 0.81) < 0.03                               # 0.9 x 0.9 of the square
    assert len(seam_edges(F, UV)) == 8                                    # one cut, 8 rings
    assert np.isfinite(b.position).all() and np.abs(b.position).sum(-1).min() > 0  # padded everywhere
    assert np.allclose(np.linalg.norm(b.normal[b.mask], axis=-1), 1, atol=1e-4)
    # tangent follows +u (around the cylinder), bitangent +v (along y)
    assert np.abs(b.bitangent[b.mask][:, 1]).min() > 0.99


def test_bake_rejects_bad_uvs():
    V, F, UV = seamed_cylinder(8, 2)
    with pytest.raises(ValueError, match="uvs must have shape"):
        bake(V, F, UV[:, :2], 64)


# --- features and maps on the real hand -------------------------------------------------------

@pytest.fixture(scope="module")
def hand():
    from generator.textures.anatomy import hand_anatomy
    from generator.textures.builder import hand_geometry
    from generator.textures.features import compute_fields
    g = hand_geometry()
    b = bake(g["vertices"], g["faces"], g["uvs"], RES)
    a = hand_anatomy(g["vertices"], g["parts"], g["keypoints"])
    return g, b, a, compute_fields(b, g["parts"], a)


def _maps(hand, mst, k=0):
    from generator.textures.compose import compose
    from generator.textures.individuals import default_variants
    g, b, a, F = hand
    v = default_variants(k + 1, [mst])[k]
    return compose(b, F, a, v["params"])


def _lab(rgb8):
    return linear_srgb_to_lab(srgb_to_linear(rgb8.astype(np.float64) / 255.0))


def test_fields_finite(hand):
    F = hand[3]
    for name in ("palmar", "nail", "tip", "knuckle", "h_knuckle", "crease", "h_ridges", "pores", "h_micro"):
        v = getattr(F, name)
        assert np.isfinite(v).all(), name
    assert 0 < F.palmar.mean() < 1 and F.crease.max() > 0.5 and F.h_knuckle.min() < 0


def test_maps_size_range_and_lightness_order(hand):
    from generator.hand.base import PART_INDEX
    g, b, a, F = hand
    part = np.asarray(g["parts"])[b.faces[np.where(b.face >= 0, b.face, 0)][..., 0]]
    dorsum = b.mask & (part == PART_INDEX["dorsum"])
    palm = b.mask & (part == PART_INDEX["palm"])
    L = {}
    for mst in (1, 6, 10):
        m = _maps(hand, mst)
        assert m["base_color"].shape == (RES, RES, 3) and m["base_color"].dtype == np.uint8
        assert m["normal"].shape == (RES, RES, 3) and m["roughness"].shape == (RES, RES)
        assert m["subsurface"].shape == (RES, RES)
        assert m["normal"][..., 2][b.mask].min() >= 128          # normals face out of the surface
        r = m["roughness"][b.mask] / 255.0
        assert 0.05 <= r.min() and r.max() <= 0.95
        radius = m["subsurface_radius_m"]
        assert radius[0] > radius[1] > radius[2] > 0 and radius[0] < 0.01  # red scatters furthest
        lab = _lab(m["base_color"])
        L[mst] = np.median(lab[dorsum][:, 0])
        # measured palms: about as light as the back for light skin, much lighter for dark skin
        assert np.median(lab[palm][:, 0]) > L[mst] - 3 + (8 if mst == 10 else 0), f"MST {mst}: palm vs dorsum"
    assert L[1] > L[6] > L[10]


def test_inner_forearm_is_forearm_skin_not_palm(hand):
    """Past the wrist the ventral side is constitutive forearm skin, a little lighter than the back
    of the hand, not palm (an MST 10 arm used to show a palm-coloured underside)."""
    from generator.hand.base import PART_INDEX
    g, b, a, F = hand
    part = np.asarray(g["parts"])[b.faces[np.where(b.face >= 0, b.face, 0)][..., 0]]
    arm = b.mask & (part == PART_INDEX["forearm"]) & (b.position[..., 1] < -0.05)
    ventral, dorsal = arm & (b.normal[..., 2] > 0.5), arm & (b.normal[..., 2] < -0.5)
    palm = b.mask & (part == PART_INDEX["palm"])
    assert ventral.sum() > 50 and dorsal.sum() > 50
    lab = _lab(_maps(hand, 10)["base_color"])
    L = {k: np.median(lab[m][:, 0]) for k, m in (("ventral", ventral), ("dorsal", dorsal), ("palm", palm))}
    assert L["dorsal"] - 1 <= L["ventral"] <= L["dorsal"] + 6, L
    assert L["palm"] > L["ventral"] + 6, L


def test_nails_where_parts_say(hand):
    from generator.hand.base import PART_INDEX
    g, b, a, F = hand
    corner = b.faces[np.where(b.face >= 0, b.face, 0)]
    all_nail = b.mask & (np.asarray(g["parts"])[corner] == PART_INDEX["nail"]).all(-1)
    m = _maps(hand, 7)
    rough = m["roughness"] / 255.0
    glossy = b.mask & (rough < 0.3)
    assert all_nail.sum() > 50
    assert (rough[all_nail] < 0.3).mean() > 0.9          # nail texels are glossy
    assert all_nail[glossy].mean() > 0.6                 # and glossy texels are (mostly) nail
    assert (np.asarray(g["parts"])[corner][glossy] == PART_INDEX["nail"]).any(-1).mean() > 0.97
    # nail plate is lighter/pinker than the MST 7 skin around it
    lab = _lab(m["base_color"])
    assert np.median(lab[all_nail][:, 0]) > np.median(lab[b.mask & ~all_nail][:, 0]) + 10


def test_deterministic_by_seed(hand):
    a1, a2, b1 = _maps(hand, 4, 0), _maps(hand, 4, 0), _maps(hand, 4, 1)
    for k in ("base_color", "normal", "roughness", "subsurface"):
        assert np.array_equal(a1[k], a2[k]), k
    assert not np.array_equal(a1["base_color"], b1["base_color"])


def test_seams_continuous(hand):
    g, b, a, F = hand
    img = _maps(hand, 3)["base_color"].astype(np.float64) / 255.0
    # negative control: a map painted in UV space (not from 3D) breaks at the seams
    ctl = np.repeat((np.sin(np.arange(RES) * 0.3) * 0.5 + 0.5)[None, :, None], RES, 0).repeat(3, 2)
    diffs, ctrl = [], []
    for fa, ca, fb, cb in seam_edges(b.faces, b.uvs):
        for t in (0.25, 0.5, 0.75):
            pa = b.uvs[fa][ca[0]] * (1 - t) + b.uvs[fa][ca[1]] * t
            pb = b.uvs[fb][cb[0]] * (1 - t) + b.uvs[fb][cb[1]] * t
            x = sample_bilinear(img, np.array([pa, pb])); diffs.append(np.abs(x[0] - x[1]).max())
            x = sample_bilinear(ctl, np.array([pa, pb])); ctrl.append(np.abs(x[0] - x[1]).max())
    assert len(diffs) > 100
    assert np.median(diffs) < 0.02 and np.percentile(diffs, 75) < 0.05, np.percentile(diffs, [50, 75, 90])
    assert np.median(ctrl) > 0.15


# --- builder, manifest, incremental, errors ---------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from generator.textures.builder import build
    out = tmp_path_factory.mktemp("tex")
    summary = build(out, resolution=RES, individuals=2, tones=[2, 9], workers=1, log=None)
    return out, summary


def test_build_writes_manifest_maps_and_sheet(built):
    out, summary = built
    assert len(summary["built"]) == 4
    m = json.loads((out / "manifest.json").read_text())
    assert m["version"] == 1 and m["resolution"] == RES and len(m["uv_layout"]) == 64
    assert [v["name"] for v in m["variants"]] == ["mst02_a", "mst02_b", "mst09_a", "mst09_b"]
    for v in m["variants"]:
        assert set(v["maps"]) == {"base_color", "normal", "roughness", "subsurface"}
        for k, rel in v["maps"].items():
            data = (out / rel).read_bytes()
            assert hashlib.sha256(data).hexdigest() == v["sha256"][k]
            with Image.open(out / rel) as im:
                assert im.size == (RES, RES) and im.mode == ("RGB" if k in ("base_color", "normal") else "L")
        assert len(v["subsurface_radius_m"]) == 3 and v["params"]["dorsum"]["melanin"] > 0
    assert (out / "contact_sheet.png").is_file()
    ts = load_texture_set(out)
    assert ts.names() == [v["name"] for v in m["variants"]]
    assert os.path.isabs(ts.get("mst09_b")["maps"]["normal"])
    with pytest.raises(KeyError, match="mst05_a"):
        ts.get("mst05_a")


def test_second_build_does_nothing(built):
    from generator.textures.builder import build
    out, _ = built
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    summary = build(out, resolution=RES, individuals=2, tones=[2, 9], workers=1, log=None)
    assert summary["built"] == []
    assert stamp == {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}


def test_changed_file_or_params_rebuilds_only_that(built):
    from generator.textures.builder import build
    out, _ = built
    (out / "mst02_b" / "roughness.png").unlink()
    summary = build(out, resolution=RES, individuals=2, tones=[2, 9], workers=1, log=None)
    assert summary["built"] == ["mst02_b"]


def test_clear_errors(tmp_path):
    from generator.textures.builder import build, check_resolution
    for bad in (1000, 32, 0, "big", 2048.5):
        with pytest.raises(ValueError, match="power of two"):
            check_resolution(bad)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="cannot write the texture set"):
        build(blocker / "sub", resolution=RES, tones=[1], individuals=1, log=None)
    with pytest.raises(ValueError, match="1-10"):
        build(tmp_path / "t", resolution=RES, tones=[11], log=None)
    with pytest.raises(TextureSetMissing, match="make textures"):
        load_texture_set(tmp_path / "nothing")


def test_cli_reports_errors(tmp_path):
    from click.testing import CliRunner
    from generator.cli import main
    r = CliRunner().invoke(main, ["textures", "--out", str(tmp_path / "t"), "--tones", "0-3"])
    assert r.exit_code != 0 and "1-10" in r.output
    r = CliRunner().invoke(main, ["textures", "--out", str(tmp_path / "t"), "--resolution", "300"])
    assert r.exit_code != 0 and "power of two" in r.output
