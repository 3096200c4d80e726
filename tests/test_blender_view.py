"""The Blender view: pixel convention, depth convention, masks, backgrounds, lighting, options,
device selection. Every render here is tiny (<= 64 px, few samples)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator import conventions
from generator.hand.base import PART_INDEX
from generator.render.postprocess import load_background_image

bv = pytest.importorskip("generator.render.blender_view")
pytestmark = pytest.mark.render

W, H = 64, 48
GREY = {"color": [0.6, 0.6, 0.6]}
AMBIENT = {"kind": "studio", "lights": [], "ambient": 1.0}
FAST = {"samples": 8, "denoise": False, "seed": 1}
QUAD_FACES = np.array([[0, 2, 1], [0, 3, 2]])
QUAD_UVS = np.array([[[0, 0], [1, 1], [1, 0]], [[0, 0], [0, 1], [1, 1]]], np.float32)


def quad(center, half, tilt=0.0):
    """A square of half-size `half` centred at `center`, rotated by `tilt` rad about the y axis."""
    c, s = np.cos(tilt), np.sin(tilt)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float) * half
    return corners @ R.T + np.asarray(center, float)


@pytest.fixture(scope="module")
def view():
    v = bv.BlenderView(device="cpu", preset="draft")
    v.set_topology(QUAD_FACES, QUAD_UVS, np.zeros(4, int))
    yield v
    v.close()


def K_off_centre(f=60.0):
    # principal point deliberately far from the image centre ((W-1)/2, (H-1)/2) = (31.5, 23.5)
    return np.array([[f, 0, 25.3], [0, f, 27.8], [0, 0, 1]])


# --- devices ----------------------------------------------------------------------------------

def test_device_selection_on_this_machine():
    avail = bv.available_devices()
    assert avail[-1] == "cpu"
    assert bv.select_device("auto") == avail[0]
    assert bv.select_device("CPU") == "cpu"
    for gpu in ("cuda", "optix", "hip", "metal"):
        if gpu in avail:
            assert bv.select_device(gpu) == gpu
        else:
            with pytest.raises(bv.DeviceUnavailable, match=gpu):
                bv.select_device(gpu)
    with pytest.raises(ValueError, match="vulkan"):
        bv.select_device("vulkan")


def test_auto_says_what_it_chose(capsys):
    bv.select_device("auto")
    assert "render device auto -> " in capsys.readouterr().err


# --- camera and pixel convention ----------------------------------------------------------------

@pytest.mark.parametrize("center", [[0.02, -0.01, 0.5], [-0.1, 0.05, 0.4], [0.06, 0.03, 0.3]])
def test_projection_marker_lands_on_projected_point(view, center):
    """A small fronto-parallel square (its image is a square centred on the projection of its
    centre) rendered with an off-centre principal point: coverage centroid == project(K, X)."""
    K = K_off_centre()
    V = quad(center, 0.008)
    black = {"kind": "procedural", "seed": 0, "style": "surface", "palette": [[0, 0, 0]]}
    out = view.render(V, K, (W, H), AMBIENT, black, {"color": [1.0, 1.0, 1.0]}, {**FAST, "samples": 32})
    expected = conventions.project(K, np.asarray(center))
    yy, xx = np.mgrid[0:H, 0:W]
    # brightness-weighted centroid of the bright marker on black, and the coverage centroid;
    # 0.25 px, not 0.5: a half-pixel convention error must fail this test
    for weight in (out["rgb"].astype(np.float64).sum(-1), out["alpha"].astype(np.float64)):
        centroid = np.array([(weight * xx).sum(), (weight * yy).sum()]) / weight.sum()
        assert np.abs(centroid - expected).max() < 0.25, (centroid, expected)
    a = out["alpha"].astype(np.float64)
    # the covered area matches the projected square's area (focal length is right)
    side_px = 2 * 0.008 * K[0, 0] / center[2]
    assert a.sum() == pytest.approx(side_px**2, rel=0.08)


def test_non_square_resolution_and_centred_K(view):
    K = conventions.intrinsics(50.0, 40, 64)
    X = np.array([0.03, -0.05, 0.45])
    out = view.render(quad(X, 0.008), K, (40, 64), AMBIENT, {"kind": "hdri"}, GREY, {**FAST, "samples": 32})
    assert out["rgb"].shape == (64, 40, 3) and out["mask"].shape == (64, 40)
    a = out["alpha"].astype(np.float64)
    yy, xx = np.mgrid[0:64, 0:40]
    centroid = np.array([(a * xx).sum(), (a * yy).sum()]) / a.sum()
    assert np.abs(centroid - conventions.project(K, X)).max() < 0.25


# --- depth, mask, normals ----------------------------------------------------------------------

def test_depth_is_camera_z_not_ray_distance(view):
    """A tilted plane filling a wide-angle frame: depth equals the analytic camera z per pixel,
    which differs from the ray distance by up to ~30% in the corners."""
    K = K_off_centre(f=40.0)
    tilt = 0.5
    V = quad([0.0, 0.0, 0.5], 2.0, tilt=tilt)
    out = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST)
    assert (out["mask"] == 255).all()
    n = np.array([np.sin(tilt), 0.0, np.cos(tilt)])          # plane normal
    yy, xx = np.mgrid[0:H, 0:W]
    rays = np.stack([xx, yy, np.ones_like(xx)], -1) @ np.linalg.inv(K).T
    z_true = (n @ np.array([0, 0, 0.5])) / (rays @ n)
    np.testing.assert_allclose(out["depth"], z_true, rtol=2e-3)
    ray_distance = z_true * np.linalg.norm(rays, axis=-1)
    assert np.abs(ray_distance / z_true - 1).max() > 0.2    # the test can tell the two apart


def test_mask_depth_and_normals_agree(view):
    K = K_off_centre()
    X = np.array([0.0, 0.01, 0.4])
    half = 0.03
    V = quad(X, half)
    out = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, {**FAST, "passes": ["depth", "normals"]})
    mask, depth = out["mask"], out["depth"]
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(np.isfinite(depth), mask == 255)     # inf exactly off the hand
    np.testing.assert_allclose(depth[mask == 255], 0.4, rtol=1e-4)
    # bbox of the mask == bbox of the projected square (within a pixel)
    uv = conventions.project(K, V)
    ys, xs = np.nonzero(mask)
    assert abs(xs.min() - uv[:, 0].min()) < 1.0 and abs(xs.max() - uv[:, 0].max()) < 1.0
    assert abs(ys.min() - uv[:, 1].min()) < 1.0 and abs(ys.max() - uv[:, 1].max()) < 1.0
    # a fronto-parallel square facing the camera has camera-frame normal (0, 0, -1)
    normals = out["normals"]
    assert normals.shape == (H, W, 3)
    on = normals[mask == 255]
    np.testing.assert_allclose(on, np.broadcast_to([0.0, 0.0, -1.0], on.shape), atol=1e-3)
    assert not normals[mask == 0].any()


# --- appearance --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_maps(tmp_path_factory):
    """A 16x16 texture set: base colour red on the left half of UV space, green on the right."""
    d = tmp_path_factory.mktemp("maps")
    base = np.zeros((16, 16, 3), np.uint8)
    base[:, :8] = (200, 30, 30)
    base[:, 8:] = (30, 200, 30)
    Image.fromarray(base).save(d / "base_color.png")
    Image.fromarray(np.full((16, 16, 3), (128, 128, 255), np.uint8)).save(d / "normal.png")
    Image.fromarray(np.full((16, 16), 110, np.uint8)).save(d / "roughness.png")
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(d / "subsurface.png")
    return {k: str(d / f"{k}.png") for k in ("base_color", "normal", "roughness", "subsurface")}


def test_texture_maps_follow_the_uvs(view, tiny_maps):
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0.0, 0.0, 0.3], 0.12)            # covers the whole frame height
    appearance = {"texture": "tiny", "maps": tiny_maps, "subsurface_radius_m": [0.002, 0.001, 0.0005],
                  "skin_tone": 3}
    out = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, appearance, FAST)
    rgb = out["rgb"].astype(int)
    # UV u runs with corner x (QUAD_UVS): image left = u small = red, image right = green
    left, right = rgb[20:28, 10:20], rgb[20:28, 44:54]
    lm, rm = left.mean((0, 1)), right.mean((0, 1))     # region means: 8 spp of SSS is noisy
    assert lm[0] > lm[1] + 60 and lm[0] > lm[2] + 60, lm
    assert rm[1] > rm[0] + 60 and rm[1] > rm[2] + 60, rm


def test_nail_faces_get_the_nail_material(view):
    parts = np.array([0, 0, PART_INDEX["nail"], PART_INDEX["nail"]])
    view.set_topology(QUAD_FACES, QUAD_UVS, parts)
    try:
        mats = [p.material_index for p in view.hand.data.polygons]
        # face 0 = (0, 2, 1): one nail corner -> skin; face 1 = (0, 3, 2): two -> nail
        assert mats == [0, 1]
        assert view.hand.data.materials[1].name.startswith("nail")
        nail_bsdf = view.skin.nail["bsdf"]
        assert nail_bsdf.inputs["Coat Weight"].default_value > 0
        # skin and nail scatter with the preset's subsurface method (Burley by default, cheaper)
        assert nail_bsdf.subsurface_method == view.skin.skin["bsdf"].subsurface_method == view.preset["subsurface"]
    finally:
        view.set_topology(QUAD_FACES, QUAD_UVS, np.zeros(4, int))


def test_subsurface_method_can_be_switched_for_both_materials(view):
    before = view.skin.subsurface_method
    try:
        view.skin.subsurface_method = "RANDOM_WALK_SKIN"
        assert view.skin.skin["bsdf"].subsurface_method == view.skin.nail["bsdf"].subsurface_method == "RANDOM_WALK_SKIN"
    finally:
        view.skin.subsurface_method = before


# --- backgrounds -------------------------------------------------------------------------------

def test_image_background_is_composited_cover_fit(view, tmp_path):
    img = np.zeros((30, 90, 3), np.uint8)       # wide image -> cropped left/right
    img[..., 0] = np.linspace(0, 255, 90)[None, :].astype(np.uint8)
    img[..., 2] = np.linspace(255, 0, 30)[:, None].astype(np.uint8)
    path = tmp_path / "bg.png"
    Image.fromarray(img).save(path)
    K = conventions.intrinsics(60.0, W, H)
    out = view.render(quad([0, 0, 0.5], 0.01), K, (W, H), AMBIENT, {"kind": "image", "path": str(path)},
                      GREY, FAST)
    bg = load_background_image(str(path), W, H)
    assert bg.shape == (H, W, 3)
    expected = view._display(bg).astype(int)
    off = out["alpha"] == 0
    assert off.sum() > 0.9 * W * H
    assert np.abs(out["rgb"].astype(int)[off] - expected[off]).max() <= 1
    # cover-fit keeps the full height of a wide image: top rows blue, bottom rows not
    assert bg[0, :, 2].mean() > 0.8 and bg[-1, :, 2].mean() < 0.05


def test_hdri_background_shows_the_world(view):
    hdri = sorted((Path(bv.bpy.utils.system_resource("DATAFILES")) / "studiolights" / "world").glob("*.exr"))
    assert hdri, "bpy ships CC0 HDRIs"
    K = conventions.intrinsics(60.0, W, H)
    lighting = {"kind": "hdri", "path": str(hdri[0]), "rotation": 1.0, "strength": 1.0}
    out = view.render(quad([0, 0, 0.5], 0.01), K, (W, H), lighting, {"kind": "hdri"}, GREY, FAST)
    off = out["alpha"] == 0
    assert out["rgb"][off].std() > 2       # an environment, not a flat colour
    rotated = view.render(quad([0, 0, 0.5], 0.01), K, (W, H), {**lighting, "rotation": 2.5},
                          {"kind": "hdri"}, GREY, FAST)
    assert np.abs(rotated["rgb"].astype(int) - out["rgb"].astype(int)).mean() > 2


# --- distractors --------------------------------------------------------------------------------

def test_an_occluder_hides_the_hand_it_covers_and_leaves_the_mask(view):
    """A sphere between the camera and the left half of a hand-material quad: its pixels leave the
    hand mask and alpha, the scene depth there is the sphere's, a keypoint behind it is not
    visible; a sphere behind the quad changes no mask pixel; the next view without distractors
    has the whole quad back."""
    from generator.annotate import visibility
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0, 0, 0.5], 0.4)                        # fills the frame
    sphere = {"kind": "sphere", "half_extents": [0.03] * 3, "rotation": np.eye(3).tolist(),
              "position": [-0.06, 0.0, 0.3], "colors": [[0.2, 0.3, 0.8], [0.1, 0.1, 0.1]]}
    behind = {**sphere, "position": [0.0, 0.0, 0.8], "half_extents": [0.2] * 3}
    clear = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST)
    out = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST, distractors=[sphere, behind])
    centre = np.rint(conventions.project(K, np.array([sphere["position"]]))[0]).astype(int)
    hidden = out["mask"] == 0
    assert clear["mask"].min() == 255 and hidden[centre[1], centre[0]]
    r_px = 60.0 * 0.03 / 0.3
    assert abs(hidden.sum() - np.pi * r_px**2) < 0.25 * np.pi * r_px**2   # the sphere's disc, no more
    assert out["alpha"][centre[1], centre[0]] == 0.0
    assert out["scene_depth"][centre[1], centre[0]] == pytest.approx(0.27, abs=0.01)
    assert np.isinf(out["depth"][centre[1], centre[0]])
    assert np.abs(out["rgb"][hidden].astype(int) - clear["rgb"][hidden].astype(int)).mean() > 20
    kp = np.array([[-0.06, 0.0, 0.5], [0.06, 0.0, 0.5]])         # behind the sphere / in the open
    # the quad is palm (its default part id), which keypoints 0 and 1 may be seen on; they lie
    # on its surface (their flesh entry is their own depth)
    _, _, _, vis = visibility(kp, K, (W, H), out["parts"], out["parts_depth"], kp[:, 2])
    assert vis.tolist() == [False, True]
    assert out["parts"][centre[1], centre[0]] == 28                   # the part-ID pass: distractor
    again = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST)
    assert again["mask"].min() == 255


# --- lighting ----------------------------------------------------------------------------------

def test_sky_and_studio_lighting(view):
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0, 0, 0.3], 0.05)
    sky = {"kind": "sky", "sun_elevation": 0.6, "sun_rotation": 0.3, "strength": 0.2, "air": 1.0, "dust": 1.0}
    out = view.render(V, K, (W, H), sky, {"kind": "hdri"}, GREY, FAST)
    assert out["rgb"][out["mask"] > 0].mean() > 20
    dim = view.render(V, K, (W, H), {"kind": "studio", "lights": [], "ambient": 0.05},
                      {"kind": "procedural", "seed": 1}, GREY, FAST)
    key = {"position": [0.0, -0.3, 0.0], "size": 0.2, "power": 30.0, "color": [1.0, 0.9, 0.8]}
    lit = view.render(V, K, (W, H), {"kind": "studio", "lights": [key], "ambient": 0.05},
                      {"kind": "procedural", "seed": 1}, GREY, FAST)
    on = lit["mask"] > 0
    assert lit["rgb"][on].mean() > dim["rgb"][on].mean() + 20
    # the light sits above the camera (y up = -y in OpenCV): the top of the quad is brighter
    # (the quad spans rows 14-33 and columns 22-41; compare its top and bottom rows, not background)
    lum = lit["rgb"].astype(float).mean(-1)
    assert on[14:18, 22:42].all() and on[30:34, 22:42].all()
    assert lum[14:18, 22:42].mean() > lum[30:34, 22:42].mean()


def test_sky_has_a_ground_below_the_horizon(view):
    """The camera is level, so the horizon crosses the middle row: above it the sky, below it the
    drawn ground (Blender's Nishita sky alone is black there, as samples without a ground still
    render), brighter for a brighter albedo and tinted by it; the sky above does not change."""
    K = conventions.intrinsics(40.0, W, H)
    V = quad([0, -0.2, 1.0], 0.005)                                       # a speck: the frame is background
    sky = {"kind": "sky", "sun_elevation": 0.5, "sun_rotation": 0.3, "strength": 0.2, "air": 1.0, "dust": 1.0}
    opts = {**FAST, "exposure": "fixed"}
    bg = {"kind": "hdri"}
    none = view.render(V, K, (W, H), sky, bg, GREY, opts)["rgb"].astype(float)
    dark = view.render(V, K, (W, H), {**sky, "ground_albedo": [0.08, 0.08, 0.08]}, bg, GREY, opts)["rgb"].astype(float)
    sand = view.render(V, K, (W, H), {**sky, "ground_albedo": [0.4, 0.35, 0.25]}, bg, GREY, opts)["rgb"].astype(float)
    top, bottom = slice(0, H // 2 - 3), slice(H // 2 + 3, H)
    assert none[bottom].mean() < 8                                         # black without a ground
    assert dark[bottom].mean() > none[bottom].mean() + 15
    assert sand[bottom].mean() > dark[bottom].mean() + 20
    r, g, b = sand[bottom].reshape(-1, 3).mean(0)
    assert r > g > b                                                       # the ground's tint, not the sky's blue
    assert np.abs(sand[top] - none[top]).mean() < 4                        # the sky itself is unchanged
    assert sand[top].mean() > sand[bottom].mean()                          # daylight: ground darker than sky


def test_hand_exposure_meters_the_light_on_the_hand(view):
    """With the hand meter the hand's brightness no longer follows the world's: a 4x dimmer world
    gives about the same hand (Cycles noise apart), while the fixed exposure darkens it a lot."""
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0, 0, 0.3], 0.05)
    sky = {"kind": "sky", "sun_elevation": 0.6, "sun_rotation": 0.3, "air": 1.0, "dust": 1.0}
    means = {}
    for mode in ("fixed", "hand"):
        for strength in (0.05, 0.2):
            out = view.render(V, K, (W, H), {**sky, "strength": strength}, {"kind": "hdri"}, GREY,
                              {**FAST, "exposure": mode})
            assert out["exposure"]["meter"] == mode
            means[mode, strength] = out["rgb"][out["mask"] > 0].astype(float).mean()
    assert means["fixed", 0.2] > means["fixed", 0.05] + 40
    assert abs(means["hand", 0.2] - means["hand", 0.05]) < 3
    # a grey of albedo 0.6 metered at the hand renders near AgX's value for 0.6 (about 175 of 255)
    assert 150 < means["hand", 0.2] < 200


def test_hand_meter_is_the_same_for_dark_and_light_skin(view):
    """The meter reads the light on the hand, not its albedo or sheen: a near-black and a light
    skin (the flat-colour skin material: subsurface scattering and the skin's specular lobe) in
    one sky get one factor. (Metering rendered luminance over albedo gave the dark one 0.26-0.74
    of the light one's factor: its sheen, which does not darken with the skin, counted as light.)"""
    K = conventions.intrinsics(60.0, W, H)
    sky = {"kind": "sky", "sun_elevation": 0.3, "sun_rotation": 3.0, "strength": 0.2, "air": 1.0,
           "dust": 1.0, "ground_albedo": [0.2, 0.2, 0.2]}
    for tilt in (0.0, 0.9):
        V = quad([0, 0, 0.3], 0.05, tilt)
        f = [view.render(V, K, (W, H), sky, {"kind": "hdri"}, {"color": colour},
                         {**FAST, "samples": 32, "exposure": "hand"})["exposure"]["factor"]
             for colour in ([0.03, 0.018, 0.012], [0.6, 0.45, 0.35])]
        assert f[0] == pytest.approx(f[1], rel=0.05)


# --- options -----------------------------------------------------------------------------------

def test_sensor_noise_is_seeded(view):
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0, 0, 0.5], 0.01)
    bg = {"kind": "procedural", "seed": 3, "style": "surface"}
    clean = view.render(V, K, (W, H), AMBIENT, bg, GREY, {**FAST, "sensor_noise": 0})
    a = view.render(V, K, (W, H), AMBIENT, bg, GREY, {**FAST, "sensor_noise": 4.0, "seed": 5})
    b = view.render(V, K, (W, H), AMBIENT, bg, GREY, {**FAST, "sensor_noise": 4.0, "seed": 5})
    c = view.render(V, K, (W, H), AMBIENT, bg, GREY, {**FAST, "sensor_noise": 4.0, "seed": 6})
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    assert not np.array_equal(a["rgb"], c["rgb"])
    off = clean["alpha"] == 0                       # background only: no Cycles noise there
    diff = a["rgb"].astype(float)[off] - clean["rgb"].astype(float)[off]
    assert 3.0 < diff.std() < 5.0


def spread(alpha):
    """Number of partially covered pixels: grows with blur."""
    return int(((alpha > 0.02) & (alpha < 0.98)).sum())


def _spatial_variance(alpha):
    """Trace of the covariance of the coverage: a box smear of length L adds L^2 / 12."""
    a = alpha.astype(float) / alpha.sum()
    yy, xx = np.mgrid[0:alpha.shape[0], 0:alpha.shape[1]]
    mx, my = (a * xx).sum(), (a * yy).sum()
    return float((a * ((xx - mx) ** 2 + (yy - my) ** 2)).sum())


def test_motion_blur_and_dof_blur_but_keep_the_centre(view):
    K = conventions.intrinsics(60.0, W, H)
    X = np.array([0.0, 0.0, 0.4])
    V = quad(X, 0.03)
    opts = {**FAST, "samples": 32}
    sharp = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, opts)
    blurred = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, {**opts, "motion_blur": 8.0})
    defocus = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY,
                          {**opts, "dof": {"fstop": 0.5, "focus_distance": 2.0}})
    assert spread(blurred["alpha"]) > 2 * spread(sharp["alpha"])
    assert spread(defocus["alpha"]) > 2 * spread(sharp["alpha"])
    # motion_blur is the smear length in pixels at the hand's depth (measured: 7.8-8.2 for 8)
    length = np.sqrt(12 * (_spatial_variance(blurred["alpha"]) - _spatial_variance(sharp["alpha"])))
    assert abs(length - 8.0) < 1.0, length
    yy, xx = np.mgrid[0:H, 0:W]
    for out in (blurred, defocus):
        a = out["alpha"].astype(float)
        centroid = np.array([(a * xx).sum(), (a * yy).sum()]) / a.sum()
        # the annotation is the hand at mid-shutter / in the lens centre
        assert np.abs(centroid - conventions.project(K, X)).max() < 0.5
    # and the blur is switched off again afterwards
    again = view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, opts)
    assert abs(spread(again["alpha"]) - spread(sharp["alpha"])) <= 4


def test_render_reports_cycles_time(view):
    out = view.render(quad([0, 0, 0.5], 0.01), conventions.intrinsics(60.0, W, H), (W, H), AMBIENT,
                      {"kind": "hdri"}, GREY, FAST)
    assert 0 < out["render_seconds"] <= out["total_seconds"]


# --- bad input ---------------------------------------------------------------------------------

def test_bad_input_names_the_problem(view):
    K = conventions.intrinsics(60.0, W, H)
    V = quad([0, 0, 0.5], 0.01)
    with pytest.raises(ValueError, match="kind"):
        view.render(V, K, (W, H), {"kind": "moon"}, {"kind": "hdri"}, GREY, FAST)
    with pytest.raises(ValueError, match="kind"):
        view.render(V, K, (W, H), AMBIENT, {"kind": "video"}, GREY, FAST)
    with pytest.raises(ValueError, match="path"):
        view.render(V, K, (W, H), {"kind": "hdri"}, {"kind": "hdri"}, GREY, FAST)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        view.render(V[:3], K, (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST)
    with pytest.raises(ValueError, match="square pixels"):
        view.render(V, np.diag([60.0, 50.0, 1.0]), (W, H), AMBIENT, {"kind": "hdri"}, GREY, FAST)
    with pytest.raises(ValueError, match="maps"):
        view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, {"texture": "x"}, FAST)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        view.render(V, K, (W, H), AMBIENT, {"kind": "hdri"}, {"maps": {"base_color": "/nope.png"}}, FAST)
    with pytest.raises(ValueError, match="preset"):
        bv.BlenderView(preset="ultra")


# --- the real hand (the lead's anny hand) with the real textures once `make textures` has run -----

def real_appearance():
    manifest = Path(__file__).resolve().parents[1] / "textures" / "manifest.json"
    if not manifest.is_file():
        return {"texture": "flat", "color": [0.45, 0.25, 0.18], "skin_tone": 5}
    variant = json.loads(manifest.read_text())["variants"][0]
    return {"texture": variant["name"], "skin_tone": variant.get("mst"),
            "maps": {k: str(manifest.parent / p) for k, p in variant["maps"].items()},
            "subsurface_radius_m": variant["subsurface_radius_m"]}


def test_real_hand_renders_where_its_keypoints_project(view):
    hand_mod = pytest.importorskip("generator.hand")
    hand = hand_mod.load_hand_model("anny", forearm_length=0.08)
    batch = hand.forward(np.zeros((1, 20, 3), np.float32), None, "right")
    # the flat hand 0.45 m in front of the camera, palm toward it, fingers up
    R = np.diag([1.0, -1.0, -1.0])                 # a rotation (det +1): y up, palm normal -z
    t = np.array([0.0, 0.09, 0.45])
    verts, kps = batch.vertices[0] @ R.T + t, batch.keypoints[0] @ R.T + t
    K = conventions.intrinsics(100.0, 64, 64)
    view.set_topology(batch.faces, batch.uvs, batch.parts)
    try:
        out = view.render(verts, K, (64, 64), AMBIENT, {"kind": "procedural", "seed": 2, "style": "clutter"},
                          real_appearance(), FAST)
    finally:
        view.set_topology(QUAD_FACES, QUAD_UVS, np.zeros(4, int))
    on = out["mask"] > 0
    assert on.sum() > 300
    uv = np.rint(conventions.project(K, kps)).astype(int)
    assert ((uv >= 0) & (uv < 64)).all()
    # fingertips and joints are surface/inner points of the hand: almost all land on the mask
    assert on[uv[:, 1], uv[:, 0]].mean() > 0.85
    # depth on the hand is in the hand's z range
    z = out["depth"][on]
    assert z.min() > verts[:, 2].min() - 1e-3 and z.max() < verts[:, 2].max() + 1e-3
    skin = out["rgb"][on].astype(float).mean(0)
    assert skin[0] > skin[2]                        # skin is warmer than blue


def test_topologies_are_built_once(view):
    """Right and left hands alternate: switching back to a known topology reuses its mesh."""
    meshes = len(bv.bpy.data.meshes)
    view.set_topology(QUAD_FACES[:, ::-1], QUAD_UVS[:, ::-1], np.zeros(4, int))   # 'mirrored'
    assert len(bv.bpy.data.meshes) == meshes + 1
    view.set_topology(QUAD_FACES, QUAD_UVS, np.zeros(4, int))
    view.set_topology(QUAD_FACES[:, ::-1], QUAD_UVS[:, ::-1], np.zeros(4, int))
    view.set_topology(QUAD_FACES, QUAD_UVS, np.zeros(4, int))
    assert len(bv.bpy.data.meshes) == meshes + 1


def test_a_replaced_view_refuses_to_render():
    old = bv.BlenderView._generation
    try:
        bv.BlenderView._generation += 1         # as if a newer BlenderView had been created
        v = object.__new__(bv.BlenderView)
        v._my_generation = old
        with pytest.raises(RuntimeError, match="replaced"):
            v.render(np.zeros((4, 3)), np.eye(3))
    finally:
        bv.BlenderView._generation = old


def test_image_cache_is_bounded(view, tmp_path, monkeypatch):
    monkeypatch.setattr(bv, "MAX_CACHED_IMAGES", 3)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"m{i}.png")
        Image.fromarray(np.full((4, 4, 3), 40 * i, np.uint8)).save(paths[-1])
    first = view.image(paths[0], "sRGB")
    assert view.image(paths[0], "sRGB") is first          # cached, not reloaded
    for p in paths[1:]:
        view.image(p, "sRGB")
    assert len(view._images) <= 3
    assert (str(paths[0]), "sRGB") not in view._images      # least recently used went first
    assert (str(paths[4]), "sRGB") in view._images
