"""Realism audit: pixel and handedness conventions, PCK, binning, summaries (pure logic), the
landmarker plumbing with a stand-in interpreter, and one real MediaPipe run on a tiny render
(skipped without the realism environment, `make realism-env`)."""
from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest

from generator import conventions
from generator.audit import metrics
from generator.audit.cli import REALISM_ENV_HINT, realism_python, run_landmarker

W, H = 200, 160


def _hand(palm_normal_z=True):
    """A right hand in camera coordinates, 0.5 m away: palm facing the camera (normal along z)
    or edge-on; fingers along -y (up in the image)."""
    kp = np.zeros((21, 3))
    for f, x in enumerate((-0.04, -0.02, 0.0, 0.02, 0.04)):       # thumb .. little, x across
        for j in range(4):
            kp[1 + 4 * f + j] = [x, -0.03 - 0.025 * j, 0.0]
    kp[9] = [0.0, -0.03, 0.0]
    if not palm_normal_z:                                          # rotate 90 deg about y
        kp = kp[:, [2, 1, 0]] * [1, 1, -1]
    return kp + [0, 0, 0.5]


def _ann(kp3, side="right", tone=5):
    K = np.array([[300.0, 0, (W - 1) / 2], [0, 300.0, (H - 1) / 2], [0, 0, 1]])
    uv = (kp3 @ K.T)[:, :2] / kp3[:, 2:]
    view = {"resolution": [W, H], "keypoints_2d": uv.tolist(), "keypoints_3d": kp3.tolist()}
    return {"index": 0, "hand": {"side": side},
            "appearance": {"skin_tone": tone, "lighting": {"kind": "hdri"}, "background": {"kind": "procedural"}},
            "a": view, "b": view}


def _mp_result(uv, label="Left"):
    """What MediaPipe would return for landmarks at our pixel coordinates uv."""
    norm = (np.asarray(uv) + 0.5) / [W, H]
    return {"landmarks": np.c_[norm, np.zeros(21)].tolist(), "handedness": label, "score": 0.9}


def test_pixel_convention_edges_and_centres():
    px = metrics.mediapipe_to_pixels([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]], 4, 2)
    # MediaPipe's 0 and 1 are the image edges; ours are pixel centres at integers
    assert np.allclose(px, [[-0.5, -0.5], [3.5, 1.5], [1.5, 0.5]])


def test_handedness_assumes_mirrored_images():
    assert metrics.side_from_mediapipe("Left") == "right"            # unmirrored render
    assert metrics.side_from_mediapipe("Right") == "left"
    assert metrics.side_from_mediapipe("Right", mirrored_input=True) == "right"
    with pytest.raises(ValueError, match="handedness"):
        metrics.side_from_mediapipe("Both")


def test_mirroring_a_view_flips_side_and_keeps_agreement():
    ann = _ann(_hand())
    uv = np.asarray(ann["a"]["keypoints_2d"])
    rec = metrics.view_record(ann, "a", _mp_result(uv, "Left"))
    assert rec["detected_side"] == "right" and all(rec["pck"])
    # the same hand mirrored left-right is a left hand: labels and landmarks mirror together
    # (u -> W - 1 - u in our convention, x -> 1 - x in MediaPipe's), and MediaPipe says "Right"
    ann_m = _ann(_hand(), side="left")
    uv_m = np.c_[W - 1 - uv[:, 0], uv[:, 1]]
    ann_m["a"]["keypoints_2d"] = uv_m.tolist()
    res = _mp_result(uv, "Right")
    res["landmarks"] = [[1 - x, y, z] for x, y, z in res["landmarks"]]
    rec_m = metrics.view_record(ann_m, "a", res)
    assert rec_m["detected_side"] == "left" and all(rec_m["pck"])
    assert np.allclose(rec_m["error_px"], 0, atol=1e-9)


def test_pck_threshold_is_a_fifth_of_the_label_box():
    gt = np.zeros((21, 2)); gt[1:, 0] = np.linspace(0, 100, 20); gt[1:, 1] = np.linspace(0, 40, 20)
    assert metrics.label_box_size(gt) == 100
    pred = gt.copy(); pred[3] += [19.9, 0]; pred[4] += [0, 20.1]
    ok = metrics.pck(pred, gt)
    assert ok[3] and not ok[4] and ok.sum() == 20
    with pytest.raises(ValueError, match="shape"):
        metrics.pck(pred[:20], gt)


def test_view_angles_and_easy_views():
    palm, finger = metrics.view_angles(_hand(True))
    assert palm < 5 and finger > 80                     # palm faces the camera, fingers across
    palm2, _ = metrics.view_angles(_hand(False))
    assert palm2 > 80                                   # edge-on
    assert metrics.is_easy(_hand(True), True) and not metrics.is_easy(_hand(True), False)
    assert not metrics.is_easy(_hand(False), True)
    assert metrics.angle_bin(0.0) == "0-15" and metrics.angle_bin(45.0) == "45-60"
    assert metrics.angle_bin(90.0) == "75-90"
    with pytest.raises(ValueError):
        metrics.angle_bin(91.0)


def test_summary_counts_and_tone_parity():
    recs = []
    for tone, hits in ((1, 8), (5, 9), (10, 6)):
        for i in range(10):
            ann = _ann(_hand(), tone=tone)
            uv = np.asarray(ann["a"]["keypoints_2d"])
            recs.append(metrics.view_record(ann, "a", _mp_result(uv) if i < hits else None))
    s = metrics.summarise(recs)
    assert s["views"] == 30 and s["detection"]["k"] == 23
    assert s["by_skin_tone"][10]["detection"]["rate"] == 0.6 and s["easy"]["detection"]["n"] == 30
    assert s["pck"] == 1.0 and s["handedness"]["rate"] == 1.0
    lo, hi = s["detection"]["ci95"]
    assert lo < 23 / 30 < hi
    par = metrics.tone_parity(s["by_skin_tone"])
    assert par[5] == 1.0 and abs(par[10] - 6 / 9) < 1e-12
    text = metrics.format_report(s)
    assert "tone parity" in text and "easy views" in text


def test_agreement_is_split_by_our_visibility_flags():
    """Hidden joints (our labels' `visible` false) are the landmarker's guess: their agreement is
    reported apart from the visible ones', and views without flags count in neither."""
    ann = _ann(_hand())
    uv = np.asarray(ann["a"]["keypoints_2d"])
    ann["a"]["visible"] = [k < 17 for k in range(21)]            # the little finger hidden
    guess = uv.copy()
    guess[17:] += 200.0                                           # and guessed far off
    guess[3] += 200.0                                             # one visible joint wrong too
    rec = metrics.view_record(ann, "a", _mp_result(guess))
    plain = metrics.view_record(_ann(_hand()), "a", _mp_result(uv))
    assert "visible" not in plain
    s = metrics.summarise([rec, plain])
    assert s["easy"]["pck_visible"] == {"pck": 16 / 17, "joints": 17}
    assert s["easy"]["pck_hidden"] == {"pck": 0.0, "joints": 4}
    assert abs(s["easy"]["pck"] - (16 + 21) / 42) < 1e-12           # the overall figure is unchanged
    assert "hidden 0.000 (4 joints)" in metrics.format_report(s)


def test_agreement_is_grouped_by_wear_occluder_and_pose_kind():
    """What the arm wears, an occluding distractor and the pose's draw are read from the
    annotation; each group reports detection, agreement, and agreement on its easy views."""
    ann = _ann(_hand())
    uv = np.asarray(ann["a"]["keypoints_2d"])
    sleeved = {**ann, "wear": [{"kind": "watch"}, {"kind": "sleeve"}],
               "distractors": [{"kind": "box", "in_front": False}, {"kind": "sphere", "in_front": True}],
               "sample": {"pose_kind": "fist+claw"}}
    plain = {**ann, "wear": [], "distractors": [{"kind": "box", "in_front": False}],
             "sample": {"pose_kind": "uniform"}}
    edge_on = _ann(_hand(False))                     # not an easy view; no wear, sample recorded
    wrong = uv.copy(); wrong[1:11] += 200.0          # ten joints far off
    recs = [metrics.view_record(sleeved, "a", _mp_result(wrong)),
            metrics.view_record(plain, "a", _mp_result(uv)),
            metrics.view_record(edge_on, "a", _mp_result(np.asarray(edge_on["a"]["keypoints_2d"])))]
    assert (recs[0]["wear"], recs[0]["occluder"], recs[0]["pose_kind"]) == ("sleeve+watch", True, "library")
    assert (recs[1]["wear"], recs[1]["occluder"], recs[1]["pose_kind"]) == ("none", False, "uniform")
    assert (recs[2]["wear"], recs[2]["occluder"], recs[2]["pose_kind"]) == ("none", False, None)
    s = metrics.summarise(recs)
    assert s["by_wear"]["sleeve+watch"]["pck"] == 11 / 21
    assert s["by_wear"]["none"]["pck"] == 1.0 and s["by_wear"]["none"]["detection"]["n"] == 2
    assert s["by_wear"]["none"]["easy_pck"] == 1.0             # only the plain view is easy there
    assert s["by_occluder"][True]["easy_pck"] == 11 / 21 and s["by_occluder"][False]["detection"]["n"] == 2
    assert s["by_pose_kind"][None]["easy_pck"] is None          # no easy view in that group
    assert set(s["by_pose_kind"]) == {"library", "uniform", None}
    text = metrics.format_report(s)
    assert "by_wear:" in text and "sleeve+watch" in text and "(easy views 0.524)" in text


def test_disagreement_sheet_picks_the_worst_easy_views_and_draws_the_landmarks():
    from generator.audit.sheet import LANDMARK_COLOUR, draw_disagreement, worst_views
    ann = _ann(_hand())
    ann["a"]["visible"] = [True] * 21
    uv = np.asarray(ann["a"]["keypoints_2d"])
    recs = []
    for i, off in enumerate((0.0, 60.0, 30.0)):                 # views with 0, 5 and 5 joints off
        guess = uv.copy(); guess[16:] += off
        rec = metrics.view_record({**ann, "index": i}, "a", _mp_result(guess))
        recs.append(rec)
    edge_on = _ann(_hand(False))
    recs.append(metrics.view_record(edge_on, "a", _mp_result(np.zeros((21, 2)))))   # not easy
    recs.append(metrics.view_record({**ann, "index": 9}, "a", None))                 # not found
    worst = worst_views(recs, 2)
    assert [r["index"] for r in worst] == [1, 2]                # lowest PCK, then the larger error
    assert len(worst_views(recs, 10)) == 3
    assert np.allclose(recs[1]["landmarks_px"], uv + np.r_[np.zeros((16, 2)), np.full((5, 2), 60.0)])
    img = np.zeros((H, W, 3), np.uint8)
    im = np.asarray(draw_disagreement(img, ann["a"], recs[1], 2 * W))
    x, y = np.round((np.asarray(recs[1]["landmarks_px"][20]) + 0.5) * 2 - 0.5).astype(int)
    assert tuple(im[y, x]) == LANDMARK_COLOUR                   # the landmark where it was found, scaled
    from generator.audit.sheet import missed_views
    assert [r["index"] for r in missed_views(recs, 5)] == [9]   # easy and not found
    from generator.preview import draw_view
    labels_only = np.asarray(draw_disagreement(img, ann["a"], recs[-1], 2 * W))
    assert np.array_equal(labels_only, np.asarray(draw_view(img, ann["a"], 2 * W)))   # ours alone


def test_missing_realism_env_names_the_make_target(tmp_path, monkeypatch):
    monkeypatch.delenv("CYCLEHAND_REALISM_PYTHON", raising=False)
    with pytest.raises(FileNotFoundError, match="realism-env"):
        realism_python(str(tmp_path / "nope" / "python"))
    assert "make realism-env" in REALISM_ENV_HINT


def test_landmarker_plumbing_keeps_order(tmp_path):
    """A stand-in interpreter answering for every other image proves the order and the parsing."""
    fake = tmp_path / "python"
    fake.write_text(f"""#!{sys.executable}
import json, sys
paths = open(sys.argv[2]).read().split()
with open(sys.argv[3], "w") as out:
    for i, p in enumerate(paths):
        hit = i % 2 == 0
        out.write(json.dumps({{"path": p, "landmarks": [[0.5, 0.5, 0.0]] * 21 if hit else None,
                              "handedness": "Left" if hit else None, "score": 0.9 if hit else None}}) + "\\n")
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    paths = [str(tmp_path / f"{i}.png") for i in range(5)]
    res = run_landmarker(paths, str(fake), tmp_path)
    assert [r is not None for r in res] == [True, False, True, False, True]
    assert res[2]["path"] == paths[2]


def _realism_python():
    try:
        return realism_python()
    except FileNotFoundError:
        return None


@pytest.mark.render
def test_mediapipe_finds_a_rendered_open_hand(tmp_path):
    """The real landmarker on a tiny Cycles render: an open right hand, palm to the camera, under
    a bundled HDRI, is found, called right, and its landmarks agree with our labels."""
    python = _realism_python()
    if python is None:
        pytest.skip(f"no realism environment: {REALISM_ENV_HINT}")
    from PIL import Image

    from generator.audit.cli import LANDMARKER  # noqa: F401  (the script run_landmarker uses)
    from generator.conventions import intrinsics, project
    from generator.hand import load_hand_model
    from generator.hand.base import PART_INDEX
    from generator.textures import load_texture_set
    from generator.textures.turntable import bundled_hdri
    sys.path.insert(0, os.path.dirname(__file__))
    from render_helpers import build_tiny_textures
    from generator.render.blender_view import BlenderView

    ts = load_texture_set(build_tiny_textures(tmp_path / "tex"))
    v = ts.get("mst03_a")
    hand = load_hand_model("anny")
    b = hand.forward(np.zeros((1, 20, 3), np.float32))
    V, kp = b.vertices[0].astype(np.float64), b.keypoints[0].astype(np.float64)
    body = V[np.asarray(b.parts) != PART_INDEX["forearm"]]
    centre = 0.5 * (body.min(0) + body.max(0))
    R = np.diag([1.0, -1.0, -1.0])                      # fingers up, palm toward the camera
    X, KP = (V - centre) @ R.T + [0, 0, 0.5], (kp - centre) @ R.T + [0, 0, 0.5]
    size = 160
    K = intrinsics(0.8 * size / 2 * 0.5 / np.abs((body - centre)[:, :2]).max(), size, size)
    view = BlenderView(device="cpu", samples=8, resolution=(size, size))
    view.set_topology(b.faces, b.uvs, b.parts)
    out = view.render(X.astype(np.float32), K, (size, size),
                      lighting={"kind": "hdri", "path": bundled_hdri("courtyard"), "rotation": 0.0, "strength": 1.0},
                      background={"kind": "hdri"},
                      appearance={"texture": v["name"], "maps": v["maps"], "subsurface_radius_m": v["subsurface_radius_m"]},
                      options={"samples": 8, "denoise": True, "seed": 0})
    view.close()
    Image.fromarray(out["rgb"]).save(tmp_path / "hand.png")
    (res,) = run_landmarker([str(tmp_path / "hand.png")], python, tmp_path)
    assert res is not None, "MediaPipe found no hand in a frontal open hand"
    ann = {"hand": {"side": "right"}, "appearance": {},
           "a": {"resolution": [size, size], "keypoints_2d": project(K, KP).tolist(), "keypoints_3d": KP.tolist()}}
    rec = metrics.view_record(ann, "a", res)
    assert rec["detected_side"] == "right"
    assert np.mean(rec["pck"]) >= 0.8, rec["error_px"]
    assert np.asarray(rec["world_m"]).shape == (21, 3)   # metric world landmarks (benchmarks/landmarker_3d.py)
    json.dumps(rec)                                     # records are JSON-serialisable


def test_background_probe_alters_only_background_pixels():
    """benchmarks/background_probe.py: every variant leaves the hand's pixels (part id > 0) as
    rendered and changes the background's the way its name says."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "background_probe", Path(__file__).resolve().parents[1] / "benchmarks" / "background_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    parts = np.zeros((40, 40), np.uint8)
    parts[10:30, 15:25] = 2                                   # the hand (dorsum)
    hand, bg = parts > 0, parts == 0
    assert probe.altered(rgb, parts, "orig") is rgb
    for v in ("blur2", "flat", "contrast2"):
        out = probe.altered(rgb, parts, v)
        assert np.array_equal(out[hand], rgb[hand]), v
    flat = probe.altered(rgb, parts, "flat")
    assert np.abs(flat[bg].astype(float) - rgb[bg].mean(0)).max() <= 0.5
    blur = probe.altered(rgb, parts, "blur2")
    assert blur[bg].std() < 0.5 * rgb[bg].std()               # smoothed
    white_hand = np.repeat(np.where(hand[..., None], 255, 0), 3, axis=2).astype(np.uint8)
    assert probe.altered(white_hand, parts, "blur2")[bg].max() == 0   # the hand does not bleed in
    assert probe.altered(rgb, parts, "contrast2")[bg].std() > rgb[bg].std()
    with pytest.raises(SystemExit, match="unknown variant"):
        probe.altered(rgb, parts, "sharpen")


def test_across_runs_gives_per_run_mean_and_pooled_easy_figures():
    def run(found, n, pck):
        recs = []
        for i in range(n):
            ann = _ann(_hand())
            uv = np.asarray(ann["a"]["keypoints_2d"])
            guess = uv.copy()
            guess[: round(21 * (1 - pck))] += 500.0                 # these joints disagree
            recs.append(metrics.view_record(ann, "a", _mp_result(guess) if i < found else None))
        return metrics.summarise(recs)
    x = metrics.across_runs({"s1": run(9, 10, 1.0), "s2": run(6, 10, 2 / 3), "s3": run(0, 4, 1.0)})
    assert x["runs"]["s1"] == {"easy_detection": 0.9, "easy_pck": 1.0}
    assert x["runs"]["s3"]["easy_pck"] is None                     # nothing found there
    assert x["easy_detection"] == {"mean": 0.5, "min": 0.0, "max": 0.9}
    assert x["easy_pck"]["mean"] == (1.0 + 2 / 3) / 2 and x["easy_pck"]["min"] == 2 / 3
    assert x["pooled_easy_detection"]["k"] == 15 and x["pooled_easy_detection"]["n"] == 24
    assert abs(x["pooled_easy_pck"] - (9 * 1.0 + 6 * 2 / 3) / 15) < 1e-12
    text = metrics.format_across_runs(x)
    assert "s3: easy detection 0.0%, easy PCK@0.2 n/a" in text and "mean 50.0%, min 0.0%, max 90.0%" in text
    assert "pooled easy views: detection 62.5% (15/24), PCK@0.2 0.867" in text


def test_one_reader_walks_a_folders_views_easy_ones_and_part_passes(tmp_path):
    """generator.audit.cli.iter_views serves the audit and both probes: every view, or the easy
    ones by the audit's own rule, with the part-ID pass where asked."""
    from generator.audit.cli import iter_views
    from trainer.testing import write_fixture_shards
    folder = write_fixture_shards(tmp_path / "shards", pairs=12, per_shard=4, seed=3)
    every = list(iter_views(folder))
    assert len(every) == 24 and all(p is None for *_, p in every)
    assert [v for _, v, _, _ in every[:2]] == ["a", "b"] and every[0][2].dtype == np.uint8
    assert len(list(iter_views(folder, max_pairs=5))) == 10
    easy = list(iter_views(folder, easy_only=True, parts=True))
    want = [(ann["index"], v) for ann, v, _, _ in every
            if conventions.is_easy_view(np.asarray(ann[v]["keypoints_3d"]), metrics.all_in_frame(ann[v]))]
    assert 0 < len(want) < 24 and [(ann["index"], v) for ann, v, _, _ in easy] == want
    for ann, v, rgb, parts in easy:
        assert parts.shape == rgb.shape[:2] and (parts > 0).any()


def test_world_landmarks_are_scored_by_pa_mpjpe_on_the_right_views():
    """benchmarks/landmarker_3d.py: MediaPipe's metric world landmarks travel in the view record;
    a world that is our label turned, scaled and moved scores 0 mm, a distorted one more, a missed
    view NaN; records are found by (pair index, view) from the crop cache's keys, and a split whose
    views were not all audited is refused."""
    import importlib.util
    from pathlib import Path

    from scipy.spatial.transform import Rotation
    spec = importlib.util.spec_from_file_location(
        "landmarker_3d", Path(__file__).resolve().parents[1] / "benchmarks" / "landmarker_3d.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    kp = _hand()
    ann = _ann(kp)
    R = Rotation.from_euler("xyz", [20, -35, 60], degrees=True).as_matrix()
    world = 0.7 * (kp - kp.mean(0)) @ R.T + [0.1, 0, 0]       # MediaPipe's own frame and scale
    bent = world.copy()
    bent[8] += [0.0, 0.02, 0.0]                                # the index tip 2 cm off (x 0.7)
    hit = {**_mp_result(ann["a"]["keypoints_2d"]), "world": world.tolist()}
    rec_a = metrics.view_record({**ann, "index": 7}, "a", hit)
    rec_b = metrics.view_record({**ann, "index": 7}, "b", {**hit, "world": bent.tolist()})
    miss = metrics.view_record({**ann, "index": 3}, "a", None)
    hidden = metrics.view_record({**ann, "index": 3}, "b", _mp_result(ann["a"]["keypoints_2d"]))  # no world
    assert np.allclose(rec_a["world_m"], world, atol=1e-6) and "world_m" not in miss
    records = [miss, rec_b, hidden, rec_a]                     # any order
    rows = bench.record_rows(records, ["shard-000000.tar/000000003", "shard-000000.tar/000000007"])
    assert rows.tolist() == [[0, 2], [3, 1]]
    det, err = bench.landmarker_errors(records, rows, np.stack([np.stack([kp, kp])] * 2))
    assert det.tolist() == [[False, False], [True, True]]
    assert np.isnan(err[0]).all()
    # one joint 28.6 mm off: the alignment (least squares) spreads it, so the mean error lies
    # between 0 and the root-mean-square bound of the unaligned error, 28.6 / sqrt(21) mm
    assert err[1, 0] < 1e-2 and 0.5 < err[1, 1] < 28.6 / np.sqrt(21)
    with pytest.raises(SystemExit, match="not audited"):
        bench.record_rows(records, ["shard-000000.tar/000000004"])
