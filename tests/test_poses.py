"""Pose sampler: joint limits, penetration bound, determinism, library validity, CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from generator.hand import JOINTS, PARTS
from generator.hand.base import PART_INDEX
from generator.hand.limits import LIMITS, LOWER, UPPER, within_limits
from generator.hand.penetration import PenetrationMeter
from generator.hand.poses import LIBRARY, draw_pose, sample_poses
from generator.conventions import rng
from render_helpers import REPO, texture_entries


@pytest.fixture(scope="module")
def meter(anny_hand):
    return PenetrationMeter.for_model(anny_hand)


def test_limits_are_well_formed():
    assert set(LIMITS) == set(JOINTS)
    assert np.all(LOWER <= 0) and np.all(UPPER >= 0)        # the flat hand is inside the limits
    assert np.all(LOWER <= UPPER)


@pytest.mark.parametrize("mode", ["mixed", "library", "uniform"])
def test_every_drawn_pose_is_within_limits(mode):
    poses = np.array([draw_pose(rng(7, i, "pose"), mode)[0] for i in range(500)])
    assert within_limits(poses).all()
    # and the draws really use the range (not a degenerate sampler)
    spread = poses.max(0) - poses.min(0)
    flex = spread[[JOINTS.index(j) for j in ("index_mcp", "middle_pip", "thumb_ip")], 0]
    assert np.all(flex > 40)


@pytest.fixture(scope="module")
def check(anny_hand):
    from whole_mesh_check import WholeMeshCheck
    return WholeMeshCheck(anny_hand.faces, anny_hand.parts, list(PARTS))


def _spheres(offset: float):
    """A 30 mm sphere labelled palm and a 10 mm sphere labelled index_distal, its centre `offset`
    above the first's: the small sphere's lowest vertex lies 0.04 - offset deep in the big one."""
    import trimesh
    a = trimesh.creation.icosphere(subdivisions=4, radius=0.03)
    b = trimesh.creation.icosphere(subdivisions=3, radius=0.01)
    verts = np.concatenate([a.vertices, b.vertices + [0, 0, offset]])
    faces = np.concatenate([a.faces, b.faces + len(a.vertices)])
    parts = np.concatenate([np.full(len(a.vertices), PART_INDEX["palm"]),
                            np.full(len(b.vertices), PART_INDEX["index_distal"])]).astype(np.int8)
    return verts, faces, parts


@pytest.mark.parametrize("offset,depth", [(0.035, 0.005), (0.038, 0.002), (0.045, 0.0)])
def test_whole_mesh_check_and_meter_on_spheres_of_known_depth(offset, depth):
    from whole_mesh_check import WholeMeshCheck, summarise
    verts, faces, parts = _spheres(offset)
    found = summarise(WholeMeshCheck(faces, parts, list(PARTS)).check(verts))
    assert found.collision == pytest.approx(depth, abs=3e-4)
    if depth:
        assert (found.worst.group, found.worst.entered) == ("index_distal", "palm")
    meter = PenetrationMeter(parts, faces, verts, np.zeros((21, 3)))
    assert meter.measure(verts).depth[0] == pytest.approx(depth, abs=3e-4)


def test_meter_sees_a_fist_in_the_palm_and_crossed_fingers(anny_hand, meter, check):
    from whole_mesh_check import summarise
    flat = anny_hand.forward(np.zeros((1, 20, 3))).vertices
    assert meter.measure(flat).depth[0] == 0.0
    assert check.check(flat[0]) == []                        # a clean mesh gives nothing
    fist = np.zeros((1, 20, 3))
    for f in ("index", "middle", "ring", "little"):
        for j, a in zip(("mcp", "pip", "dip"), (90, 110, 90)):
            fist[0, JOINTS.index(f"{f}_{j}"), 0] = a
    verts = anny_hand.forward(fist).vertices
    res = meter.measure(verts, with_contacts=True)
    assert res.depth[0] > 0.005
    assert any(c.entered == "palm" for c in res.contacts[0])
    assert res.depth[0] == pytest.approx(summarise(check.check(verts[0])).collision, abs=2e-4)
    # two fingers crossed through each other: index abducted ulnar, middle radial (5 deg beyond
    # the limits each: the smooth MCP blend spreads the abduction), the index flexed
    cross = np.zeros((1, 20, 3))
    cross[0, JOINTS.index("index_mcp")] = [0, -20, 0]
    cross[0, JOINTS.index("middle_mcp")] = [0, 20, 0]
    cross[0, JOINTS.index("index_pip")] = [60, 0, 0]
    res = meter.measure(anny_hand.forward(cross).vertices, with_contacts=True)
    assert res.depth[0] > 0.002
    assert {"index", "middle"} <= {n.split("_")[0] for c in res.contacts[0] for n in (c.body, c.entered)}


def test_meter_restricted_to_moving_fingers_finds_their_collisions(anny_hand, meter):
    """The resolution measures only the fingers it moves: what it finds for them is what the
    whole meter finds, and a finger that is clear stays clear."""
    fist = np.zeros((1, 20, 3))
    for f in ("index", "middle"):
        for j, a in zip(("mcp", "pip", "dip"), (90, 110, 90)):
            fist[0, JOINTS.index(f"{f}_{j}"), 0] = a
    verts = anny_hand.forward(fist).vertices
    full = meter.measure(verts, with_contacts=True)
    index = meter.measure(verts, with_contacts=True, moving={"index"})
    involves = lambda c, f: f in (c.body.split("_")[0], c.entered.split("_")[0])   # noqa: E731
    assert index.depth[0] == pytest.approx(max(c.depth for c in full.contacts[0] if involves(c, "index")))
    assert {c.vertex for c in index.contacts[0]} == {c.vertex for c in full.contacts[0] if involves(c, "index")}
    assert meter.measure(verts, moving={"ring", "little"}).depth[0] == 0.0


@pytest.fixture(scope="module")
def sampled(anny_hand, meter):
    n, seed = 24, 11
    shapes = [anny_hand.sample_shape(rng(seed, i, "shape")) for i in range(n)]
    return sample_poses(anny_hand, n, seed, shapes=shapes, meter=meter), shapes


def test_sampled_poses_do_not_pass_through_by_the_whole_mesh_check(anny_hand, meter, check, sampled):
    """On the meshes that are output (sampled shapes): no finger vertex more than 2 mm inside
    another finger, the palm or the arm (the benchmark checks 99% of 1,000), and the meter
    agrees with the independent check."""
    from whole_mesh_check import summarise
    ps, shapes = sampled
    assert ps.poses.shape == (24, len(JOINTS), 3)
    assert within_limits(ps.poses).all()
    verts = anny_hand.forward(ps.poses, shapes).vertices
    checked = np.array([summarise(check.check(v)).collision for v in verts])
    assert np.all(checked <= 0.002), checked
    measured = meter.measure(verts).depth
    assert np.allclose(measured, checked, atol=2e-4)
    assert np.allclose(measured, ps.penetration, atol=1e-6)
    # contacts were resolved, not opened away: resolved fingers still touch (within 2 mm)
    assert (ps.relax_steps > 0).any()
    assert (measured[ps.relax_steps > 0] > 0).any()


def test_sampling_is_deterministic_by_seed(anny_hand, meter):
    a = sample_poses(anny_hand, 6, seed=5, meter=meter)
    b = sample_poses(anny_hand, 6, seed=5, meter=meter)
    c = sample_poses(anny_hand, 6, seed=6, meter=meter)
    assert np.array_equal(a.poses, b.poses) and a.kind == b.kind
    assert not np.array_equal(a.poses, c.poses)
    # a sample depends on (seed, index, shape) only, not on how many are drawn
    assert np.array_equal(sample_poses(anny_hand, 3, seed=5, meter=meter).poses, a.poses[:3])


def test_samples_do_not_depend_on_the_blas_thread_count(anny_hand):
    """A local render worker (BLAS threads = cores) and a Ray actor (one thread) must draw the
    same sample: the contact resolution once followed the last bits of a threaded sum to
    another pose (render_jobs/smoke.toml, sample 2, thumb MCP twist 7e-9 deg apart)."""
    from threadpoolctl import threadpool_limits

    from generator.jobs import load_job
    from generator.sample.context import SampleContext
    from generator.sample.draw import draw_sample
    job = load_job(REPO / "render_jobs" / "smoke.toml")
    ctx = SampleContext.for_job(job, texture_entries(), hand=anny_hand)
    for index in range(4):
        with threadpool_limits(limits=1):
            one = draw_sample(job, index, ctx)
        with threadpool_limits(limits=2):
            two = draw_sample(job, index, ctx)
        assert np.array_equal(np.asarray(one.pose), np.asarray(two.pose)), index


def test_blas_free_products_and_solve_agree_with_numpys():
    from generator.hand.exact import matmul, matvec, solve_spd
    g = np.random.default_rng(0)
    a, b, x = g.normal(size=(5, 4, 3, 3)), g.normal(size=(5, 4, 3, 2)), g.normal(size=(5, 4, 3))
    assert np.allclose(matmul(a, b), a @ b, rtol=0, atol=1e-14)
    assert np.allclose(matvec(a, x), (a @ x[..., None])[..., 0], rtol=0, atol=1e-14)
    j = g.normal(size=(9, 7)) * 1e-4                       # the contact Jacobian's scale (m / deg)
    spd, rhs = j.T @ j + 1e-9 * np.eye(7), g.normal(size=7)
    assert np.allclose(solve_spd(spd, rhs), np.linalg.solve(spd, rhs), rtol=1e-7)
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        solve_spd(-np.eye(3), np.ones(3))


_DRAW_IN_A_PROCESS = """
import hashlib
from generator.conventions import rng
from generator.hand import load_hand_model
from generator.hand.poses import sample_poses
hand = load_hand_model("anny")
shapes = [hand.sample_shape(rng(11, i, "shape")) for i in range(24)]
ps = sample_poses(hand, 24, 11, shapes=shapes)
print(hashlib.sha256(ps.poses.tobytes()).hexdigest(), int((ps.relax_steps > 0).sum()))
"""


def _numpy_openblas_core() -> str | None:
    from threadpoolctl import threadpool_info
    return next((i.get("architecture") for i in threadpool_info()
                 if i["internal_api"] == "openblas" and "numpy" in i["filepath"]), None)


@pytest.mark.slow
def test_samples_do_not_depend_on_the_cpus_blas_kernels():
    """The same job must draw the same poses on every machine. OpenBLAS picks its kernels by
    CPU, and the contact resolution once followed their last bits onto other poses (3 of 48
    hard-view samples up to 17 deg apart under the SkylakeX and Haswell kernels), so two
    machines rendered two data sets. Here the CPU's own kernels against OpenBLAS's generic SSE3
    ones (``OPENBLAS_CORETYPE=Prescott``), each in a fresh process, on poses whose contacts are
    resolved."""
    import os
    import platform
    core = _numpy_openblas_core()
    if core is None or platform.machine() not in ("x86_64", "AMD64") or core.lower() == "prescott":
        pytest.skip(f"needs numpy on OpenBLAS with a non-generic x86-64 kernel (found {core})")
    out = {}
    for kernel in (None, "Prescott"):
        env = dict(os.environ, **({"OPENBLAS_CORETYPE": kernel} if kernel else {}))
        run = subprocess.run([sys.executable, "-c", _DRAW_IN_A_PROCESS], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True)
        digest, resolved = run.stdout.split()[-2:]
        out[kernel or core] = digest
        assert int(resolved) > 0           # some contacts were resolved: the check is not idle
    assert len(set(out.values())) == 1, out


def test_contacts_are_resolved_on_the_shape_that_is_output(anny_hand, meter):
    shapes = [{"age": 0.95, "weight": 0.85, "muscle": 0.8, "height": 0.8}] * 4
    ps = sample_poses(anny_hand, 4, seed=3, shapes=shapes, meter=meter)
    assert ps.shapes == shapes
    depth = meter.measure(anny_hand.forward(ps.poses, shapes).vertices).depth
    assert np.allclose(depth, ps.penetration, atol=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        sample_poses(anny_hand, 2, seed=3, shapes=shapes, meter=meter)


def test_library_covers_the_named_grasps():
    for name in ("flat", "relaxed", "fist", "point", "pinch", "tripod", "ok", "cylinder",
                 "sphere", "spread", "thumbs_up"):
        assert name in LIBRARY
    assert within_limits(np.array(list(LIBRARY.values()))).all()


def _surface_gap(verts, faces, parts, a: str, b: str) -> float:
    """Closest distance (m) from part a's vertices to part b's surface (trimesh, not the solver's
    vertex-to-vertex distance)."""
    import trimesh
    on_b = np.all(parts[faces] == PART_INDEX[b], axis=1)
    surface = trimesh.Trimesh(verts, faces[on_b], process=False)
    _, dist, _ = trimesh.proximity.closest_point(surface, verts[parts == PART_INDEX[a]])
    return float(dist.min())


@pytest.mark.parametrize("name", ["pinch", "ok", "tripod", "key_pinch", "fist", "point", "victory"])
def test_library_grasps_bring_the_thumb_to_its_contact(anny_hand, check, name):
    """A pinch's thumb pad touches the index's, a fist's thumb lies on the index's middle
    phalanx (Feix et al.'s contacts, generator.hand.grasp_fit): within 3 mm of the other part's
    surface and at most 3 mm into anything (the independent whole-mesh check; the sampler
    resolves every drawn pose to 2 mm). Before they were solved the thumbs stood out of the palm:
    a pinch's thumb ended 41 mm from the index's distal segment."""
    from generator.hand.grasp_fit import THUMB_TARGETS
    b = anny_hand.forward(LIBRARY[name][None])
    verts, faces, parts = b.vertices[0].astype(np.float64), np.asarray(b.faces), np.asarray(b.parts)
    for kind, part, gap_mm in THUMB_TARGETS[name]:
        assert _surface_gap(verts, faces, parts, "thumb_distal", part) < 0.003, (name, part)
    thumb = [f for f in check.check(verts) if f.kind == "collision" and "thumb" in f.group + f.entered]
    assert max((f.depth for f in thumb), default=0.0) <= 0.003, thumb


def test_grasp_fit_brings_an_open_thumb_to_the_pinch(anny_hand):
    """The solver itself: from the old library's pinch thumb (standing out of the palm, 41 mm
    from the index), the fit ends with the thumb on the index pad and within the limits."""
    from generator.hand.grasp_fit import THUMB_TARGETS, fit_thumb
    start = LIBRARY["pinch"].copy()
    start[JOINTS.index("thumb_cmc"), :2] = (25, 35)
    start[JOINTS.index("thumb_mcp"), 0] = start[JOINTS.index("thumb_ip"), 0] = 20
    b = anny_hand.forward(start[None])
    verts, faces, parts = b.vertices[0].astype(np.float64), np.asarray(b.faces), np.asarray(b.parts)
    assert _surface_gap(verts, faces, parts, "thumb_distal", "index_distal") > 0.02
    fitted = fit_thumb(anny_hand, start, THUMB_TARGETS["pinch"])
    assert within_limits(fitted[None]).all()
    verts = anny_hand.forward(fitted[None]).vertices[0].astype(np.float64)
    assert _surface_gap(verts, faces, parts, "thumb_distal", "index_distal") < 0.003


def test_thumb_stays_within_anatomical_abduction(anny_hand):
    """The first and second metacarpals (keypoints thumb CMC -> MCP, wrist -> index MCP) open at
    most to about AAOS's 70 deg of CMC abduction, in library poses and uniform draws alike, and
    the flat hand's thumb lies near the palm's plane, not 6 cm in front of it."""
    from generator.hand.grasp_fit import thumb_tip_height
    uniform = [draw_pose(rng(3, i, "pose"), "uniform")[0] for i in range(200)]
    poses = np.concatenate([np.stack(list(LIBRARY.values())), np.stack(uniform)])
    kp = anny_hand.forward(poses).keypoints.astype(np.float64)
    m1, m2 = kp[:, 2] - kp[:, 1], kp[:, 5] - kp[:, 0]
    cos = np.sum(m1 * m2, -1) / np.linalg.norm(m1, axis=-1) / np.linalg.norm(m2, axis=-1)
    angle = np.degrees(np.arccos(cos))
    assert angle.max() < 78, angle.max()
    assert angle.min() > 5
    flat = anny_hand.forward(LIBRARY["flat"][None])
    assert abs(thumb_tip_height(anny_hand, flat.vertices[0], flat.keypoints[0])) < 0.02


def test_sampler_fingerprint_follows_the_sampler_source(monkeypatch, tmp_path):
    """An edited draw rule, contact constant or rig module (not only the library arrays) changes
    the fingerprint: every module in SAMPLER_MODULES is hashed by its source."""
    import sys
    from generator.hand import poses
    before = poses.sampler_fingerprint()
    mod = tmp_path / "cyclehand_fake_rule.py"
    mod.write_text("CONTACT_MARGIN_M = 0.002\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(poses, "SAMPLER_MODULES", poses.SAMPLER_MODULES + ("cyclehand_fake_rule",))
    with_rule = poses.sampler_fingerprint()
    mod.write_text("CONTACT_MARGIN_M = 0.003\n")
    edited = poses.sampler_fingerprint()
    assert len({before, with_rule, edited}) == 3
    assert "cyclehand_fake_rule" not in sys.modules          # read as text, never imported
    monkeypatch.setattr(poses, "SAMPLER_MODULES", ("generator.hand.no_such_module",))
    with pytest.raises(RuntimeError, match="no_such_module"):
        poses.sampler_fingerprint()


def test_sampler_fingerprint_follows_the_library_and_limits(monkeypatch, tmp_path):
    """Caches of sampled poses are keyed by it: changing a library pose or a limit changes it,
    and the trainer's pose prior then samples afresh instead of reusing the old poses."""
    from generator.hand import poses
    from trainer import pose_prior
    before = poses.sampler_fingerprint()
    assert before == poses.sampler_fingerprint() and len(before) == 10
    monkeypatch.setitem(poses.LIBRARY, "pinch", poses.LIBRARY["pinch"] + 1.0)
    after_library = poses.sampler_fingerprint()
    monkeypatch.setattr(poses, "UPPER", poses.UPPER + 1.0)
    assert len({before, after_library, poses.sampler_fingerprint()}) == 3
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path))
    sampled = []

    def sample_keypoints(n, seed):                              # stands in for 0.1 s a pose
        sampled.append(seed)
        return np.zeros((n, 21, 3))
    monkeypatch.setattr(pose_prior, "sample_keypoints", sample_keypoints)
    monkeypatch.setattr(pose_prior, "fit", lambda X, k: X.shape)
    pose_prior.sampled_prior(4, 0, 2, log=None)
    pose_prior.sampled_prior(4, 0, 2, log=None)                 # cached
    monkeypatch.setitem(poses.LIBRARY, "fist", poses.LIBRARY["fist"] + 1.0)
    pose_prior.sampled_prior(4, 0, 2, log=None)                 # the library changed: sampled again
    assert len(sampled) == 2 and len(list((tmp_path / "pose_prior").glob("*.npz"))) == 2


def test_bad_sampler_arguments(anny_hand):
    with pytest.raises(ValueError, match="mode"):
        draw_pose(rng(0), "random")
    with pytest.raises(ValueError, match="count"):
        sample_poses(anny_hand, -1, 0)


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "generator.cli", *args], capture_output=True,
                          text=True, **kw)


def test_poses_cli_writes_a_readable_npz(tmp_path):
    out = tmp_path / "p.npz"
    r = _cli("poses", "--count", "3", "--seed", "2", "--out", str(out), "--picture", str(tmp_path / "p.png"))
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z["vertices"].shape[0] == 3 and z["vertices"].shape[2] == 3
        assert z["faces"].shape[1] == 3 and z["keypoints"].shape == (3, 21, 3)
        assert z["pose"].shape == (3, 20, 3)
        assert z["faces"].max() < z["vertices"].shape[1]
        assert within_limits(z["pose"]).all()
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("args,message", [
    (["--count", "0", "--out", "x.npz"], "count"),
    (["--count", "2", "--out", "x.txt"], ".npz"),
    (["--count", "2"], "--out"),
    (["--count", "2", "--out", "x.npz", "--model", "mano"], "--mano-dir"),
])
def test_poses_cli_bad_arguments(tmp_path, args, message):
    r = _cli("poses", *args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr
