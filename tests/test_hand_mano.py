"""The MANO backend on a generated MANO-format pickle (tests/mano_fixture.py), no mocks of smplx."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import trimesh

from generator.hand import load_hand_model
from generator.hand.base import JOINTS, PART_INDEX, PARTS
from generator.hand.frames import canonical_frame
from generator.hand.mano_backend import (NUM_VERTS, ManoHand, ManoModelNotFound, TIP_VERTICES,
                                         find_model_file, load_model_file)
import mano_fixture  # tests/ is on sys.path under pytest
from render_helpers import texture_entries


@pytest.fixture(scope="session")
def mano_data(capped_hand):
    return mano_fixture.build_mano_data(seed=0, anny=capped_hand)


@pytest.fixture(scope="session")
def mano_dir(tmp_path_factory, mano_data):
    folder = tmp_path_factory.mktemp("mano")
    mano_fixture.write_mano_pickle(folder, data=mano_data, chumpy=True)   # like the official files
    return folder


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mano-cache")


@pytest.fixture(scope="session")
def hand(mano_dir, cache):
    return load_hand_model("mano", mano_dir=mano_dir, forearm_length=0.08, cache_dir=cache)


@pytest.fixture(scope="session")
def hard_hand(tmp_path_factory, capped_hand):
    """A MANO-format hand cut from anny in a pose far from anny's rest (see hard_pose)."""
    folder = tmp_path_factory.mktemp("mano-hard")
    data = mano_fixture.build_mano_data(seed=1, anny=capped_hand, pose=mano_fixture.hard_pose())
    mano_fixture.write_mano_pickle(folder, data=data)
    return ManoHand(folder, forearm_length=0.0, cache_dir=tmp_path_factory.mktemp("mano-hard-cache"))


def pose_with(**angles):
    pose = np.zeros((1, len(JOINTS), 3))
    for name, value in angles.items():
        pose[0, JOINTS.index(name)] = value
    return pose


def test_missing_model_file_says_what_and_where(tmp_path, monkeypatch):
    monkeypatch.delenv("CYCLEHAND_MANO_DIR", raising=False)
    with pytest.raises(ManoModelNotFound) as err:
        ManoHand(mano_dir=tmp_path)
    msg = str(err.value)
    assert "MANO_RIGHT.pkl" in msg and "https://mano.is.tue.mpg.de" in msg and str(tmp_path) in msg
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="No mano_dir"):
        load_hand_model("mano")
    monkeypatch.setenv("CYCLEHAND_MANO_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(ManoModelNotFound, match="elsewhere"):
        load_hand_model("mano")


def test_model_folder_from_the_environment(mano_dir, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_MANO_DIR", str(mano_dir))
    assert find_model_file() == mano_dir / "MANO_RIGHT.pkl"


def test_bad_model_files_name_the_key(tmp_path, mano_data):
    broken = {k: v for k, v in mano_data.items() if k != "weights"}
    mano_fixture.write_mano_pickle(tmp_path / "a", data=broken)
    with pytest.raises(ValueError, match="weights"):
        load_model_file(tmp_path / "a" / "MANO_RIGHT.pkl")
    wrong = dict(mano_data, v_template=mano_data["v_template"][:700])
    mano_fixture.write_mano_pickle(tmp_path / "b", data=wrong)
    with pytest.raises(ValueError, match="v_template"):
        load_model_file(tmp_path / "b" / "MANO_RIGHT.pkl")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "MANO_RIGHT.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a readable MANO pickle"):
        load_model_file(tmp_path / "c" / "MANO_RIGHT.pkl")


def test_fixture_is_a_mano_file_smplx_reads_itself(tmp_path, mano_data):
    """The plain (chumpy-free) fixture loads through smplx's own file reader."""
    import smplx
    import torch

    path = mano_fixture.write_mano_pickle(tmp_path / "mano", data=mano_data)   # smplx's layout
    model = smplx.create(str(tmp_path), model_type="mano", is_rhand=True, use_pca=False,
                         flat_hand_mean=True)
    out = model(betas=torch.zeros(1, 10), global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 45))
    assert out.vertices.shape == (1, 778, 3) and model.faces.shape == (1538, 3)
    with open(path, "rb") as fh:
        assert pickle.load(fh)["v_template"].shape == (778, 3)
    assert find_model_file(tmp_path) == path                             # models/mano/ is found too


def test_batch_shapes_and_closed_wrist(hand):
    batch = hand.forward(np.zeros((3, len(JOINTS), 3)), [hand.default_shape()] * 3)
    n_v = NUM_VERTS + hand.arm.n_new
    assert batch.vertices.shape == (3, n_v, 3) and batch.vertices.dtype == np.float32
    assert batch.keypoints.shape == (3, 21, 3) and batch.parts.shape == (n_v,)
    assert batch.uvs.shape == (len(batch.faces), 3, 2)
    assert batch.uvs.min() >= 0 and batch.uvs.max() <= 1
    assert batch.model == "mano" and batch.pose.shape == (3, len(JOINTS), 3)
    assert batch.shape[0] == {"betas": [0.0] * 10}
    for side in ("right", "left"):
        b = hand.forward(pose_with(index_pip=(50, 0, 0)), side=side)
        mesh = trimesh.Trimesh(b.vertices[0], b.faces, process=False)
        assert mesh.is_watertight and mesh.is_winding_consistent
        assert mesh.volume > 0, f"{side} hand normals point inward"
        assert 150e-6 < mesh.volume < 1500e-6                            # a hand + 8 cm forearm, m^3
    forearm = hand.parts == PART_INDEX["forearm"]
    assert forearm[NUM_VERTS:].all() and forearm.sum() == hand.arm.n_new


def test_mano_hand_gets_the_arm_to_the_elbow(mano_dir, cache):
    """The default MANO hand continues into the same arm as anny's (generator.hand.arm): closed,
    to the elbow for its hand length, tapered, with its end region for the camera to keep out."""
    from generator.hand.arm import DEFAULT_FOREARM_LENGTH_M, END_LENGTH_M, REFERENCE_HAND_LENGTH_M
    mano = load_hand_model("mano", mano_dir=mano_dir, cache_dir=cache)
    assert mano.arm.length == DEFAULT_FOREARM_LENGTH_M
    b = mano.forward(np.zeros((1, len(JOINTS), 3)))
    v = b.vertices[0].astype(np.float64)
    mesh = trimesh.Trimesh(v, b.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    hand_len = v[:NUM_VERTS, 1].max()
    assert -v[:, 1].min() == pytest.approx(DEFAULT_FOREARM_LENGTH_M * hand_len / REFERENCE_HAND_LENGTH_M, abs=0.012)
    rings = [v[ids] for ids in mano.arm._ring_ids]
    width = np.array([np.ptp(r[:, 0]) for r in rings])
    assert 1.2 < width.max() / width[0] < 1.6                      # wider up the forearm than at the wrist
    end = v[mano.arm.end_vertices]
    assert np.ptp(end[:, 1]) == pytest.approx(END_LENGTH_M + 0.004, abs=0.003)   # last 3 cm + the cap's dome
    assert set(mano.arm.face_part) == {"forearm", "forearm_end", "forearm_cap"}


def test_zero_pose_is_the_template_in_the_canonical_frame(hand, mano_data):
    v = mano_data["v_template"]
    joints = mano_data["J_regressor"] @ v
    rot, origin = canonical_frame(*(joints[None, i] for i in (0, 4, 1, 7)))
    expected = (v - origin) @ rot[0].T
    batch = hand.forward(np.zeros((1, len(JOINTS), 3)))
    np.testing.assert_allclose(batch.vertices[0, :NUM_VERTS], expected, atol=1e-6)
    kp = batch.keypoints[0]
    np.testing.assert_allclose(kp[0], 0, atol=1e-7)                       # wrist at the origin
    np.testing.assert_allclose(kp[9, [0, 2]], 0, atol=1e-6)               # middle MCP on +y
    assert kp[9, 1] > 0 and kp[5, 0] > 0 > kp[17, 0]                    # index radial (+x), little ulnar


def test_keypoint_order_tips_and_bone_lengths(hand, mano_data):
    rng = np.random.default_rng(3)
    batch = hand.forward(rng.uniform(0, 30, (2, len(JOINTS), 3)))
    for k, finger in zip((4, 8, 12, 16, 20), ("thumb", "index", "middle", "ring", "little")):
        np.testing.assert_array_equal(batch.keypoints[:, k], batch.vertices[:, TIP_VERTICES[finger]])
        part = PARTS[hand.parts[TIP_VERTICES[finger]]]
        assert part in (f"{finger}_distal", "nail"), (finger, part)
    kp = batch.keypoints[0]
    parents = [0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19]
    lengths = np.linalg.norm(kp[1:] - kp[parents[1:]], axis=1) * 1000    # mm
    assert np.all((lengths > 12) & (lengths < 130)), lengths
    palm = np.linalg.norm(kp[9] - kp[0]) * 1000                         # wrist -> middle MCP
    assert 80 < palm < 125, palm


def test_angles_mean_what_they_say(hand):
    rest = hand.forward(pose_with()).keypoints[0]
    curled = hand.forward(pose_with(index_mcp=(40, 0, 0), index_pip=(60, 0, 0))).keypoints[0]
    assert curled[8, 2] - rest[8, 2] > 0.03                              # tip moves palmar (+z)
    np.testing.assert_allclose(curled[5], rest[5], atol=1e-6)           # the MCP itself stays
    for a, b in ((5, 6), (6, 7)):                                       # bones stay rigid
        assert abs(np.linalg.norm(curled[b] - curled[a]) - np.linalg.norm(rest[b] - rest[a])) < 2e-4
    spread = hand.forward(pose_with(index_mcp=(0, 15, 0))).keypoints[0]
    assert spread[8, 0] - rest[8, 0] > 0.01                             # radial = +x (right hand)
    thumb = hand.forward(pose_with(thumb_mcp=(40, 0, 0), thumb_ip=(50, 0, 0))).keypoints[0]
    assert thumb[4, 2] > rest[4, 2] and thumb[4, 0] < rest[4, 0]        # across the palm
    wrist = hand.forward(pose_with(wrist=(30, 0, 0)))
    assert np.all(wrist.keypoints[0, 1:, 2] > rest[1:, 2])              # the hand bends palmar
    far_ring = NUM_VERTS + np.flatnonzero(hand.arm.wrist_weight == 0)     # the forearm away from the wrist
    np.testing.assert_allclose(wrist.vertices[0, far_ring], hand.forward(pose_with()).vertices[0, far_ring])


def test_same_pose_same_hand_as_anny(hand, capped_hand):
    """The fixture hand was cut from anny in fixture_pose(): the same joint angles must give the
    same keypoints on both backends (up to the fixture's decimation / regressor error), which
    checks the anatomical frames and their conversion to MANO's axis-angles end to end."""
    rng = np.random.default_rng(5)
    pose = np.stack([rng.uniform(0, 60, (6, len(JOINTS))), rng.uniform(-10, 10, (6, len(JOINTS))),
                     rng.uniform(-10, 10, (6, len(JOINTS)))], axis=-1)
    pose[:, [JOINTS.index(f"{f}_cmc") for f in ("index", "middle", "ring", "little")]] = 0
    mano_kp = hand.forward(pose).keypoints
    anny_kp = capped_hand.forward(pose + mano_fixture.fixture_pose()).keypoints
    err_mm = np.linalg.norm(mano_kp - anny_kp, axis=-1) * 1000
    assert np.median(err_mm) < 4 and err_mm.max() < 9, (np.median(err_mm), err_mm.max())


def test_finger_cmc_joints_are_ignored(hand):
    cmc = pose_with(index_cmc=(10, 5, 3), little_cmc=(20, -5, 0))
    np.testing.assert_array_equal(hand.forward(cmc).vertices, hand.forward(pose_with()).vertices)


def test_left_is_the_exact_mirror_of_right(hand):
    rng = np.random.default_rng(7)
    pose = rng.uniform(-10, 40, (2, len(JOINTS), 3))
    shapes = [hand.sample_shape(rng) for _ in range(2)]
    right, left = hand.forward(pose, shapes, "right"), hand.forward(pose, shapes, "left")
    flip = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(left.vertices, right.vertices * flip)
    np.testing.assert_array_equal(left.keypoints, right.keypoints * flip)
    np.testing.assert_array_equal(left.faces, right.faces[:, ::-1])
    np.testing.assert_array_equal(left.uvs, right.uvs[:, ::-1])


def test_shapes_sample_record_and_validate(hand):
    a = [hand.sample_shape(np.random.default_rng(11)) for _ in range(2)]
    assert a[0] == a[1] and len(a[0]["betas"]) == 10
    many = np.array([hand.sample_shape(np.random.default_rng(s))["betas"] for s in range(200)])
    assert np.abs(many).max() <= 2.5 and 0.7 < many.std() < 1.1
    batch = hand.forward(np.zeros((1, len(JOINTS), 3)), a[0])
    assert batch.shape[0]["betas"] == pytest.approx(a[0]["betas"])
    assert np.abs(batch.vertices - hand.forward(np.zeros((1, len(JOINTS), 3))).vertices).max() > 1e-3
    with pytest.raises(ValueError, match="betas"):
        hand.forward(np.zeros((1, len(JOINTS), 3)), {"betas": [0.0] * 3})
    with pytest.raises(ValueError, match="age"):
        hand.forward(np.zeros((1, len(JOINTS), 3)), {"age": 0.5})
    with pytest.raises(ValueError, match="pose must have shape"):
        hand.forward(np.zeros((1, 16, 3)))
    with pytest.raises(ValueError, match="side"):
        hand.forward(np.zeros((1, len(JOINTS), 3)), side="both")


@pytest.mark.parametrize("which", ["hand", "hard_hand"])
def test_uvs_follow_the_anny_layout(which, capped_hand, request):
    """Transferred UVs: no folds, the same atlas area as anny's hand, and a texel lands where it
    lands on anny: each MANO face's UV centre, looked up in anny's atlas and mapped onto anny's
    surface (in the pose the fixture was cut from), comes back to that MANO face."""
    hand = request.getfixturevalue(which)
    cut_pose = mano_fixture.fixture_pose() if which == "hand" else mano_fixture.hard_pose()
    anny = capped_hand
    n_hand = len(hand.faces) - len(hand.arm.faces)
    n_anny = len(anny.faces) - len(anny.arm.faces)

    def signed(uv):
        e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
        return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]

    mano_uv, anny_uv = hand.uvs[:n_hand].astype(float), anny.uvs[:n_anny].astype(float)
    mano_area, anny_area = signed(mano_uv), signed(anny_uv)
    assert (np.sign(mano_area) == np.sign(np.median(anny_area))).mean() > 0.99
    assert abs(np.abs(mano_area).sum() / np.abs(anny_area).sum() - 1) < 0.1
    # locate each MANO UV centre in anny's atlas (barycentric in every anny UV triangle)
    centre = mano_uv.mean(1)
    a, e1, e2 = anny_uv[:, 0], anny_uv[:, 1] - anny_uv[:, 0], anny_uv[:, 2] - anny_uv[:, 0]
    d = centre[:, None] - a[None]
    u = (d[..., 0] * e2[:, 1] - d[..., 1] * e2[:, 0]) / anny_area
    v = (e1[:, 0] * d[..., 1] - e1[:, 1] * d[..., 0]) / anny_area
    inside = (u >= -1e-6) & (v >= -1e-6) & (u + v <= 1 + 1e-6)
    assert inside.any(1).mean() > 0.99                                   # lands on anny's hand island
    found = np.where(inside.any(1))[0]
    tri = inside[found].argmax(1)
    surf = anny.forward(cut_pose).vertices[0].astype(float)[anny.faces[:n_anny][tri]]
    back = (surf[:, 0] + u[found, tri, None] * (surf[:, 1] - surf[:, 0])
            + v[found, tri, None] * (surf[:, 2] - surf[:, 0]))
    mano_centre = hand.forward(pose_with()).vertices[0].astype(float)[hand.faces[:n_hand][found]].mean(1)
    err_mm = np.linalg.norm(back - mano_centre, axis=1) * 1000
    assert np.median(err_mm) < 4 and err_mm.max() < 8, (np.median(err_mm), err_mm.max())


def test_transfer_is_cached(hand, mano_dir, cache):
    assert len(list(cache.glob("anny-transfer-*.npz"))) == 1
    again = ManoHand(mano_dir, forearm_length=0.0, cache_dir=cache)
    n_hand = len(hand.faces) - len(hand.arm.faces)
    np.testing.assert_array_equal(again.uvs[:n_hand], hand.uvs[:n_hand])
    np.testing.assert_array_equal(again.parts[:NUM_VERTS], hand.parts[:NUM_VERTS])
    mesh = trimesh.Trimesh(again.forward(pose_with()).vertices[0], again.faces, process=False)
    assert mesh.is_watertight and mesh.volume > 0                        # capped wrist, no forearm


def test_render_job_draws_mano_samples(mano_dir):
    """A job with hand.model = "mano" and hand.mano_dir gives samples (betas recorded as a list)
    whose two views keep the exact pair relation."""
    from generator.jobs import job_from_dict
    from generator.sample import SampleContext, build_views, draw_sample
    job = job_from_dict({"seed": 3, "camera": {"resolution": 64},
                         "hand": {"model": "mano", "mano_dir": str(mano_dir)}}, source="mano.toml")
    ctx = SampleContext.for_job(job, texture_entries(tones=[5]))
    assert ctx.hand.name == "mano"
    for i in range(2):
        s = draw_sample(job, i, ctx)
        assert s.model == "mano" and isinstance(s.shape["betas"], list) and len(s.shape["betas"]) == 10
        va, vb, ka, kb = build_views(s, ctx)
        R_ab = np.asarray(s.R_ab)
        assert np.abs((vb - kb[0]) - (va - ka[0]) @ R_ab.T).max() < 1e-12
