"""Sleeves and wrist accessories: kinds validate and draw deterministically, arrangement keeps them
apart, their geometry sits on the posed arm outside the skin in both views, they are recorded in
the annotations and hide what they cover."""
import numpy as np
import pytest

from generator.camera import in_frame
from generator.conventions import project, rng
from generator.hand.arm import END_LENGTH_M
from generator.jobs import JobError, job_from_dict
from generator.sample import SampleContext, build_views, draw_sample, load_hand
from generator.sample.wear import draw_wear
from generator.wear import ArmFrame, wear_meshes
from render_helpers import texture_entries

TEXTURES = texture_entries()
ALL = {"sleeve": {"probability": 1.0}, "watch": {"probability": 1.0}, "bracelet": {"probability": 1.0}}


@pytest.fixture(scope="module")
def hand():
    return load_hand(job_from_dict({}))


def test_wear_kinds_validate_and_draw_deterministically():
    job = job_from_dict({"wear": ALL})
    a = draw_wear(job.wear, rng(1, 0, "wear"))
    b = draw_wear(job.wear, rng(1, 0, "wear"))
    assert a == b and [w["kind"] for w in a] == ["bracelet", "sleeve", "watch"]
    assert draw_wear(job_from_dict({}).wear, rng(2, 0, "wear")) != a
    with pytest.raises(JobError, match="wear.sleeve.probability: 1.5 is above the maximum 1.0"):
        job_from_dict({"wear": {"sleeve": {"probability": 1.5}}})
    with pytest.raises(JobError, match="wear.hat: unknown key"):
        job_from_dict({"wear": {"hat": {}}})
    # each kind comes with its own probability
    job = job_from_dict({"wear": {"watch": {"probability": 0.5}, "sleeve": {"probability": 0.0},
                                  "bracelet": {"probability": 0.0}}})
    kinds = [[w["kind"] for w in draw_wear(job.wear, rng(i, 0, "wear"))] for i in range(400)]
    assert abs(np.mean([k == ["watch"] for k in kinds]) - 0.5) < 0.07
    assert all(k in ([], ["watch"]) for k in kinds)


def test_accessories_keep_apart_and_the_cuff_leaves_them_visible():
    job = job_from_dict({"wear": ALL})
    for i in range(50):
        items = {w["kind"]: w for w in draw_wear(job.wear, rng(i, 0, "wear"))}
        w, b, s = items["watch"], items["bracelet"], items["sleeve"]
        lo = sorted([(w["at_m"] - w["band_width_m"] / 2, w["at_m"] + w["band_width_m"] / 2),
                     (b["at_m"] - b["width_m"] / 2, b["at_m"] + b["width_m"] / 2)])
        assert lo[1][0] >= lo[0][1] + 0.004 - 1e-9
        assert s["start_m"] >= lo[1][1]


def test_wear_sits_on_the_arm_outside_the_skin_in_both_views(hand):
    import trimesh
    job = job_from_dict({"seed": 4, "camera": {"resolution": 128}, "wear": ALL})
    ctx = SampleContext.for_job(job, TEXTURES, hand=hand)
    for i in range(4):
        s = draw_sample(job, i, ctx)
        assert [w["kind"] for w in s.wear] == ["bracelet", "sleeve", "watch"]
        va, vb, ka, kb = build_views(s, ctx)
        faces = hand.faces if s.side == "right" else hand.faces[:, ::-1]
        for v, kp, R in ((va, ka, np.asarray(s.R_a)), (vb, kb, s.R_b)):
            skin = trimesh.Trimesh(v, faces, process=False)
            items = wear_meshes(s.wear, ArmFrame.of(hand.arm, v, kp[0]), R @ [0, 0, 1.0])
            for item in items:
                for piece in item["pieces"]:
                    p = piece["vertices"]
                    assert np.isfinite(p).all() and piece["faces"].max() < len(p)
                    # no wear vertex inside the arm (generalized winding number of the closed skin)
                    inside = skin.contains(p[::3])
                    assert inside.mean() < 0.02, (item["kind"], inside.mean())
                    # and close to it: within 3 cm of the skin
                    _, dist, _ = trimesh.proximity.closest_point(skin, p[::7])
                    assert dist.max() < 0.03
            sleeve = items[1]["pieces"][0]["vertices"]
            d = (sleeve - kp[0]) @ ArmFrame.of(hand.arm, v, kp[0]).axis
            assert d.min() == pytest.approx(s.wear[1]["start_m"], abs=0.01)
            # the sleeve's open far end (its last 3 cm) stays out of frame like the arm's: points
            # spread over its faces all project off the image (the composition tests hulls)
            f = items[1]["pieces"][0]["faces"]
            far = f[(d[f] >= d.max() - END_LENGTH_M).all(axis=1)]
            w = np.array([[a, b, 1 - a - b] for a in np.linspace(0, 1, 6) for b in np.linspace(0, 1 - a, 6)])
            pts = np.einsum("sk,fkd->fsd", w, sleeve[far]).reshape(-1, 3)
            assert len(far) and not in_frame(project(np.asarray(s.K), pts), tuple(s.resolution)).any()


def test_sleeve_hides_the_wrist_it_covers_in_the_annotations(tmp_path, textures):
    """The fake z-buffer renderer with wear: a sleeve drawn over the wrist marks the wrist hidden
    wherever the sleeve's id is at its pixel, and the annotations record the wear."""
    import io
    import json

    from PIL import Image

    from generator.parts import PART_IDS
    from render_helpers import read_shards, run_render
    tex = textures
    job = tmp_path / "sleeve.toml"
    job.write_text('seed = 3\n[camera]\nresolution = 64\n[render]\npreset = "draft"\nsamples = 4\nshard_size = 4\n'
                   '[wear.sleeve]\nprobability = 1.0\nstart = [0.0, 0.01]\n[wear.watch]\nprobability = 0.0\n'
                   '[wear.bracelet]\nprobability = 0.0\n')
    out = tmp_path / "out"
    run_render(out, 4, tex, "--job", str(job), fake=True)
    seen_sleeve = hidden_by_sleeve = 0
    for mem in read_shards(out).values():
        ann = json.loads(mem["json"])
        assert [w["kind"] for w in ann["wear"]] == ["sleeve"]
        for v in "ab":
            parts = np.asarray(Image.open(io.BytesIO(mem[f"{v}.parts.png"])))
            seen_sleeve += (parts == PART_IDS["sleeve"]).any()
            mask = np.asarray(Image.open(io.BytesIO(mem[f"{v}.mask.png"])))
            assert not (mask[parts == PART_IDS["sleeve"]] > 0).any()
            x, y = np.floor(np.asarray(ann[v]["keypoints_2d"][0]) + 0.5).astype(int)
            if ann[v]["in_frame"][0] and parts[y, x] == PART_IDS["sleeve"]:
                hidden_by_sleeve += 1
                assert not ann[v]["visible"][0]
    assert seen_sleeve >= 6
