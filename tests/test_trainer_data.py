"""SPEC resolution, exact crops and labels (PIL and batched torch), the crop cache, the pair
relation after augmentation, label transport, FreiHAND reader."""
import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from generator.conventions import project, unproject
from generator.dataset import JSON, sample_key
from trainer import cache as crop_cache
from trainer.crop import crop, crop_batch, rot_z
from trainer.data import DataConfig, label_keep, split_pairs, views
from trainer.freihand import FreiHAND, view_batches, write_fixture
from trainer.spec import SpecError, resolve
from trainer.testing import write_fixture_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_fixture_shards(tmp_path_factory.mktemp("fx"), pairs=6, per_shard=3, resolution=96)


def test_spec_forms_and_weights(shards):
    d = str(shards)
    (s,) = resolve(d)
    assert len(s.urls) == 2 and s.samples == 6 and s.weight == 1.0
    assert resolve(f"{d}/*.tar:0.3")[0].weight == 0.3
    assert len(resolve(f"{d}/shard-{{000000..000001}}.tar")[0].urls) == 2
    assert len(resolve([d, f"{d}/shard-000000.tar:2"])) == 2
    resolve(d, verify_sha256=True)


def test_bad_specs_give_clear_errors(shards, tmp_path):
    with pytest.raises(SpecError, match="no such directory or file"):
        resolve(str(tmp_path / "nope"))
    with pytest.raises(SpecError, match="glob matches no files"):
        resolve(str(tmp_path / "*.tar"))
    with pytest.raises(SpecError, match="1 of 3 shards do not exist.*shard-000002"):
        resolve(f"{shards}/shard-{{000000..000002}}.tar")
    with pytest.raises(SpecError, match="has no manifest.json"):
        resolve(str(tmp_path))
    with pytest.raises(SpecError, match="weight must be > 0"):
        resolve(f"{shards}:0")
    (tmp_path / "manifest.json").write_text(json.dumps({"shards": []}))
    with pytest.raises(SpecError, match="lists no complete shards"):
        resolve(str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"shards": [{"name": "shard-000000.tar", "count": 3}]}))
    with pytest.raises(SpecError, match="lists shard 'shard-000000.tar', but .* does not exist"):
        resolve(str(tmp_path))


def test_unlisted_shards_are_not_read(shards, tmp_path):
    import shutil
    for f in shards.iterdir():
        shutil.copy(f, tmp_path / f.name)
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["shards"] = m["shards"][:1]                       # shard-000001 is "work in progress"
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    (s,) = resolve(str(tmp_path))
    assert [u.rsplit("/", 1)[1] for u in s.urls] == ["shard-000000.tar"]
    with open(tmp_path / "shard-000000.tar", "ab") as f:
        f.write(b"x")
    with pytest.raises(SpecError, match="differs from"):
        resolve(str(tmp_path))


def _feature_image():
    K = np.array([[300.0, 0, 99.5], [0, 300.0, 99.5], [0, 0, 1]])
    X = unproject(K, np.array([[130.0, 60.0]]), np.array([0.5]))   # projects onto a pixel centre
    uv = project(K, X)[0]
    img = np.zeros((200, 200, 3), np.uint8)
    img[int(round(uv[1])) - 1:int(round(uv[1])) + 2, int(round(uv[0])) - 1:int(round(uv[0])) + 2] = 255
    return img, K, X


def _centroid(w):
    ys, xs = np.mgrid[:w.shape[0], :w.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def test_crop_labels_land_on_the_drawn_feature():
    # one white pixel at a projected 3D point must appear where project(K', X') says, after a
    # rotated, scaled crop
    img, K, X = _feature_image()
    out, Kc, Xc, Rz, _ = crop(Image.fromarray(img), K, X, np.array([110.0, 80.0]), 60.0, 48, 0.9)
    q = project(Kc, Xc)[0]
    assert np.abs(_centroid(out[..., 0].astype(float)) - q).max() < 0.1
    assert np.allclose(Xc, X @ rot_z(0.9).T)


def test_batched_torch_crop_labels_land_on_the_drawn_feature():
    img, K, X = _feature_image()
    centre = torch.tensor([[110.0, 80.0], [120.0, 70.0]], dtype=torch.float64)
    ids = torch.as_tensor((img[..., 0] > 127).astype(np.uint8) * 7)[None].expand(2, -1, -1)   # a label image
    out, Kc, Rz, lab = crop_batch(torch.as_tensor(img)[None].expand(2, -1, -1, -1),
                                  torch.as_tensor(K)[None].expand(2, 3, 3), centre,
                                  torch.tensor([60.0, 90.0], dtype=torch.float64), 48,
                                  torch.tensor([0.9, -2.0], dtype=torch.float64), labels=ids)
    assert lab.dtype == torch.int64 and set(lab.unique().tolist()) == {0, 7}    # nearest: no blend of ids
    for i in range(2):
        Xc = torch.as_tensor(X) @ Rz[i].T
        q = project(Kc[i].numpy(), Xc.numpy())[0]
        assert np.abs(_centroid(out[i, 0].numpy()) - q).max() < 0.1
        assert np.abs(_centroid(lab[i].numpy().astype(float)) - q).max() < 1.0   # labels cut by the same map
    # and it samples the same pixels as the PIL crop of the same map
    ref, Kp, _, _, _ = crop(Image.fromarray(img), K, X, centre[0].numpy(), 60.0, 48, 0.9)
    assert np.allclose(Kp, Kc[0].numpy(), atol=1e-9)
    assert np.abs(out[0].permute(1, 2, 0).numpy() - ref).max() <= 2


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_centre_is_the_nominal_crop_unresampled(shards, cache_dir):
    import io
    import webdataset as wds
    from trainer.crop import square_box
    g = crop_cache.CacheGeometry(crop=32)
    (s,) = resolve(str(shards))
    c = crop_cache.open_shard(s.urls[0], g, log=None)
    assert c.images.shape == (3, 2, 52, 52, 3) and c.images.dtype == np.uint8
    assert isinstance(c.images, np.memmap) and c.path.is_relative_to(cache_dir)
    sample = next(iter(wds.WebDataset(s.urls[0], shardshuffle=False, empty_check=False)))
    ann = json.loads(sample["json"])["a"]
    centre, side = square_box(ann["bbox"], 0.25)
    direct, _, _, _, _ = crop(Image.open(io.BytesIO(sample["a.png"])).convert("RGB"), ann["K"], None, centre, side, 32)
    o = g.offset
    assert np.abs(c.images[0, 0, o:o + 32, o:o + 32].astype(int) - direct).max() <= 1


def test_cache_is_rebuilt_when_a_shard_changes(tmp_path, cache_dir):
    g = crop_cache.CacheGeometry(crop=32)
    d = write_fixture_shards(tmp_path / "s", pairs=3, per_shard=3, resolution=64, seed=0)
    first = crop_cache.open_shard(d / "shard-000000.tar", g, log=None)
    again = crop_cache.open_shard(d / "shard-000000.tar", g, log=None)
    assert again.path == first.path
    write_fixture_shards(tmp_path / "s", pairs=3, per_shard=3, resolution=64, seed=1)   # rewritten
    logs = []
    changed = crop_cache.open_shard(d / "shard-000000.tar", g, log=logs.append)
    assert changed.path != first.path and logs and "decoding" in logs[0]
    assert not np.array_equal(np.asarray(changed.images), np.asarray(first.images))
    assert not list(cache_dir.rglob("*.tmp-*"))                    # built in place atomically


def test_cache_refuses_to_live_in_the_shard_folder_and_skips_bad_samples(tmp_path, monkeypatch):
    import tarfile
    d = write_fixture_shards(tmp_path / "s", pairs=12, per_shard=12, resolution=64)
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(d / "cache"))
    with pytest.raises(ValueError, match="inside the shard folder"):
        crop_cache.open_shard(d / "shard-000000.tar", crop_cache.CacheGeometry(crop=32), log=None)
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "bad.tar"                                     # one sample's json is garbage
    with tarfile.open(d / "shard-000000.tar") as src, tarfile.open(bad, "w") as dst:
        for m in src:
            data = src.extractfile(m).read()
            if m.name == f"{sample_key(4)}.{JSON}":
                data = b"{not json"
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    with pytest.warns(UserWarning, match=f"skipped a bad sample: .*bad.tar: sample {sample_key(4)}: member 'json'"):
        c = crop_cache.open_shard(bad, crop_cache.CacheGeometry(crop=32), log=None)
    assert len(c) == 11 and [s["key"] for s in c.skipped()] == [sample_key(4)]
    assert sample_key(4) not in set(c.meta["keys"])


def _gathered(shards, cache_dir, n=6):
    from trainer.cache import CropSet
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    return crops, {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" else v)
                   for k, v in crops.gather(np.arange(n)).items()}


def test_pair_relation_holds_after_augmentation_and_transport_is_exact(shards, cache_dir):
    crops, part = _gathered(shards, cache_dir)
    g = np.random.default_rng(0)
    V = views(part, "ab", DataConfig(crop=32, rotate_deg=180), g, "cpu")
    assert torch.allclose(torch.einsum("bij,bkj->bki", V["R"], V["X_a"]), V["X_b"], atol=1e-6)
    assert V["img_a"].shape == (6, 3, 32, 32) and V["img_a"].min() >= -1 and V["img_a"].max() <= 1
    assert torch.allclose(torch.linalg.det(V["R"]), torch.ones(6), atol=1e-5)
    # 2.5D labels decode back to the crop-frame pose
    from trainer import pose25d
    P = pose25d.decode(V["uv_a"].double(), V["zrel_a"].double(), V["K_a"].double(), 32)
    assert torch.allclose(P * V["scale_a"][:, None, None].double(), V["X_a"].double(), atol=1e-5)
    # transport: b's label made from a's label and R_ab equals b's own annotation
    T = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu", transport=True)
    B = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu")
    assert torch.allclose(T["X_b"], B["X_b"], atol=1e-6) and torch.equal(T["vis_b"], B["vis_b"])


def test_part_crops_follow_the_image_and_only_a_views_own_labels_carry_them(shards, cache_dir):
    """The cached part ids are cropped, jittered and turned with the image (nearest: ids stay ids):
    the keypoints inside the crop sit on hand pixels. A transported view gets none (its parts
    would be a label of b), nor does a view whose shard has no part pass."""
    from trainer.cache import PARTS_UNKNOWN, CropSet
    from trainer.data import part_classes
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    part = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" else v)
            for k, v in crops.gather(np.arange(6), parts=True).items()}
    V = views(part, "ab", DataConfig(crop=32, rotate_deg=180), np.random.default_rng(1), "cpu",
              transport=True, parts=True)
    pa = V["parts_a"]
    assert pa.shape == (6, 32, 32) and int(pa.max()) <= 22 and (pa > 0).any()
    px = ((V["uv_a"] + 1) / 2 * 31).round().long()
    inside = (px >= 0).all(-1) & (px <= 31).all(-1)
    n = torch.arange(6)[:, None].expand(6, 21)
    on_hand = pa[n[inside], px[inside][:, 1], px[inside][:, 0]] > 0
    assert on_hand.float().mean() > 0.9, on_hand.float().mean()
    assert (V["parts_b"] == PARTS_UNKNOWN).all()
    own = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu", parts=True)
    assert (own["parts_b"] != PARTS_UNKNOWN).all() and (own["parts_b"] > 0).any()
    part["parts"] = torch.full_like(part["parts"], PARTS_UNKNOWN)
    assert (views(part, "a", DataConfig(crop=32), None, "cpu", parts=True)["parts_a"] == PARTS_UNKNOWN).all()
    ids = torch.tensor([0, 1, 22, 23, 28, PARTS_UNKNOWN])
    assert part_classes(ids).tolist() == [0, 1, 22, 0, 0, PARTS_UNKNOWN]


def test_loader_worker_prepares_views_deterministically_on_the_cpu(shards, cache_dir):
    """CPU training moves cropping and augmentation into the loader's worker (trainer.data.ViewPrep):
    the prepared views keep the pair relation, transport and shapes, and come from the seed alone."""
    from trainer.data import ViewPrep, loader
    crops, _ = _gathered(shards, cache_dir)
    lab, unl = split_pairs(crops, 0.5)
    prep = ViewPrep(DataConfig(crop=32), "ab", transport=True)
    first = [next(iter(loader(crops, lab, unl, 4, 4, seed=3, workers=1, prep=prep))) for _ in range(2)]
    other = next(iter(loader(crops, lab, unl, 4, 4, seed=4, workers=1, prep=prep)))
    for b in first:
        V, U = b["lab_views"], b["unl_views"]
        assert V["img_a"].shape == (4, 3, 32, 32) and U["img_b"].shape == (4, 3, 32, 32)
        # they arrive as tensors (sent as numpy), without the cached crops they were made from
        assert torch.is_tensor(V["img_a"]) and torch.is_tensor(b["lab"]["X"]) and "images" not in b["lab"]
        assert torch.allclose(torch.einsum("bij,bkj->bki", U["R"], U["X_a"]), U["X_b"], atol=1e-6)
        assert torch.allclose(torch.einsum("bij,bkj->bki", V["R"], V["X_a"]), V["X_b"], atol=1e-6)
    assert torch.equal(first[0]["lab_views"]["img_a"], first[1]["lab_views"]["img_a"])
    assert not torch.equal(first[0]["lab_views"]["img_a"], other["lab_views"]["img_a"])


def test_label_budget_is_fixed_by_key(shards, cache_dir):
    crops, _ = _gathered(shards, cache_dir)
    lab, unl = split_pairs(crops, 0.5)
    assert sorted([*lab, *unl]) == list(range(6))
    assert np.array_equal(split_pairs(crops, 0.5)[0], lab)
    assert label_keep("x", 1.0) and not label_keep("x", 0.0)
    share = np.mean([label_keep(f"k{i}", 0.25) for i in range(2000)])
    assert 0.2 < share < 0.3


def test_freihand_reader(tmp_path):
    root = write_fixture(tmp_path / "frei", n=3)
    ds = FreiHAND(root, 32)
    items = list(ds)
    assert len(items) == 3
    xyz = json.loads((root / "training_xyz.json").read_text())
    assert np.allclose(items[1]["X"], xyz[1], atol=1e-6)
    (b,) = list(view_batches(ds, 8, "cpu"))
    assert b["img"].shape == (3, 3, 32, 32) and (b["uv"].abs() < 1).all()
    assert torch.allclose(b["X"][1].double(), torch.tensor(xyz[1], dtype=torch.float64) - torch.tensor(xyz[1][0], dtype=torch.float64), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="missing training_K.json"):
        (root / "training_K.json").unlink()
        FreiHAND(root)


def test_view_annotation_reads_a_field_in_the_caches_pair_order(shards, cache_dir):
    """What the cache does not keep (`visible`, the pixel labels) comes from the annotations, pair
    by pair in the CropSet's order (a reordered SPEC reorders it), both views."""
    import json
    import tarfile
    from trainer.cache import CropSet, view_annotation
    sets = resolve(f"{shards}/*.tar")
    crops = CropSet(sets, DataConfig(crop=32).geometry(), log=None)
    vis = view_annotation(sets, crops, "visible")
    assert vis.shape == (6, 2, 21) and vis.dtype == bool
    got = view_annotation(sets, crops, "keypoints_2d")
    assert got.shape == (6, 2, 21, 2)
    first = sorted(shards.glob("*.tar"))[0]
    with tarfile.open(first) as t:
        m = next(x for x in t.getmembers() if x.name.endswith(".json"))
        ann = json.loads(t.extractfile(m).read())
    assert np.allclose(got[0, 0], ann["a"]["keypoints_2d"]) and np.allclose(got[0, 1], ann["b"]["keypoints_2d"])
    assert vis[0, 0].tolist() == ann["a"]["visible"]
    assert not np.allclose(got[:3], got[3:])
    rev = [type(sets[0])(sets[0].spec, sets[0].urls[::-1])]
    crops_rev = CropSet(rev, DataConfig(crop=32).geometry(), log=None)
    assert np.array_equal(view_annotation(rev, crops_rev, "keypoints_2d"), np.concatenate([got[3:], got[:3]]))


def test_left_hands_mirrored_to_right_hands_keep_exact_labels(shards, cache_dir):
    """mirror_left flips a left hand's crop left-right: the labels are the reflected frame seen
    through the mirrored intrinsics (they decode back to it, and land on the flipped part pass),
    the pair relation stays a rotation, and metrics.mirror takes everything back."""
    from trainer import pose25d
    from trainer.metrics import mirror
    from trainer.cache import CropSet
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    part = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" else v)
            for k, v in crops.gather(np.arange(6), parts=True).items()}
    part["left"] = torch.tensor([True, False, True, False, True, True])
    plain = views(part, "ab", DataConfig(crop=32, augment=False), None, "cpu", parts=True)
    M = views(part, "ab", DataConfig(crop=32, augment=False, mirror_left=True), None, "cpu", parts=True)
    m = part["left"]
    assert torch.equal(M["mirrored"], m) and not M["left"].any() and torch.equal(plain["left"], m)
    for v in "ab":
        assert torch.equal(M[f"img_{v}"][m], plain[f"img_{v}"][m].flip(-1))
        assert torch.equal(M[f"img_{v}"][~m], plain[f"img_{v}"][~m])
        assert torch.equal(M[f"parts_{v}"][m], plain[f"parts_{v}"][m].flip(-1))
        assert torch.allclose(M[f"uv_{v}"][m], plain[f"uv_{v}"][m] * torch.tensor([-1.0, 1.0]), atol=1e-5)
        assert torch.allclose(M[f"X_{v}"][m], plain[f"X_{v}"][m] * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-6)
        assert torch.allclose(M[f"zrel_{v}"], plain[f"zrel_{v}"], atol=1e-5)
        P = pose25d.decode(M[f"uv_{v}"].double(), M[f"zrel_{v}"].double(), M[f"K_{v}"].double(), 32)
        assert torch.allclose(P * M[f"scale_{v}"][:, None, None].double(), M[f"X_{v}"].double(), atol=1e-5)
        assert np.allclose(mirror(M[f"X_{v}"].numpy(), m.numpy()), plain[f"X_{v}"].numpy(), atol=1e-6)
        # independent of the algebra above: the mirrored labels sit on hand pixels of the mirrored crop
        px = ((M[f"uv_{v}"] + 1) / 2 * 31).round().long()
        inside = (px >= 0).all(-1) & (px <= 31).all(-1) & m[:, None]
        n = torch.arange(6)[:, None].expand(6, 21)
        assert (M[f"parts_{v}"][n[inside], px[inside][:, 1], px[inside][:, 0]] > 0).float().mean() > 0.9
    assert torch.allclose(torch.linalg.det(M["R"]), torch.ones(6), atol=1e-5)
    assert torch.allclose(torch.einsum("bij,bkj->bki", M["R"], M["X_a"]), M["X_b"], atol=1e-6)
    aug = views(part, "ab", DataConfig(crop=32, rotate_deg=180, mirror_left=True), np.random.default_rng(2), "cpu")
    assert torch.allclose(torch.einsum("bij,bkj->bki", aug["R"], aug["X_a"]), aug["X_b"], atol=1e-6)


def test_evaluation_of_a_mirroring_model_reports_in_the_cameras_handedness(shards, cache_dir):
    """A model trained on mirrored left hands sees them as right hands (left False) and predicts
    right hands; evaluation turns its predictions and the labels back, so a model that always
    answers one right hand P0 is scored with the left hand M P0 on left views."""
    from types import SimpleNamespace
    from trainer.cache import CropSet
    from trainer.evaluate import predict, shard_view_batches
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    crops.meta["left"] = np.array([True, False, True, False, True, True])
    P0 = torch.randn(21, 3, generator=torch.Generator().manual_seed(0))
    seen = []

    class RightHandModel(torch.nn.Module):
        cfg = SimpleNamespace(pose_head="prior", crop=32)

        def forward(self, img, K, left):
            seen.append(left.clone())
            n = len(img)
            return {"pose": P0.expand(n, 21, 3), "pose25d": P0.expand(n, 21, 3),
                    "uv": P0[:, :2].expand(n, 21, 2), "zrel": P0[:, 2].expand(n, 21)}

    got = {mirror: predict(RightHandModel(), shard_view_batches(crops, 32, "cpu", mirror_left=mirror), 1.0)
           for mirror in (False, True)}
    left = got[True]["left"]
    assert left.sum() == 8 and torch.cat(seen[:2]).sum() == 8        # a, b views of 4 left pairs
    assert not torch.cat(seen[2:]).any()                              # mirrored: all right hands
    assert np.allclose(got[True]["pred3d"][left], P0.numpy() * [-1, 1, 1])
    assert np.allclose(got[True]["pred2d"][left], P0[:, :2].numpy() * [-1, 1])
    assert np.allclose(got[True]["pred3d"][~left], P0.numpy())
    for k in ("gt3d", "gt2d", "vis"):
        assert np.allclose(got[True][k], got[False][k], atol=1e-5), k


def _axis_deg(uv: torch.Tensor) -> torch.Tensor:
    """Direction of wrist -> keypoint centroid, degrees in image axes (y down: up is -90)."""
    d = uv.double().mean(1) - uv.double()[:, 0]
    return torch.rad2deg(torch.atan2(d[:, 1], d[:, 0]))


def test_upright_crops_turn_the_labeled_hands_axis_up_with_exact_labels(shards, cache_dir):
    """With ``upright`` a labeled view's crop is turned so that its hand axis (wrist -> centroid of
    the keypoints) points up, mirrored left hands too; its labels stay exact (they decode back to
    the view's points, sit on hand pixels of the turned part pass, and the pair relation holds);
    unlabeled views are not turned upright."""
    from trainer import pose25d
    from trainer.cache import CropSet
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    part = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" else v)
            for k, v in crops.gather(np.arange(6), parts=True).items()}
    part["left"] = torch.tensor([True, False, True, False, False, True])
    cfg = DataConfig(crop=32, mirror_left=True, upright=True, upright_share=1.0, upright_jitter=0.0)
    V = views(part, "ab", cfg, np.random.default_rng(0), "cpu", parts=True, labeled=True)
    U = views(part, "ab", cfg, np.random.default_rng(0), "cpu", parts=True)
    for v in "ab":
        assert torch.allclose(_axis_deg(V[f"uv_{v}"]), torch.full((6,), -90.0, dtype=torch.float64), atol=1e-3)
        assert (_axis_deg(U[f"uv_{v}"]) + 90).abs().max() > 10          # the usual +-45 deg turns
        P = pose25d.decode(V[f"uv_{v}"].double(), V[f"zrel_{v}"].double(), V[f"K_{v}"].double(), 32)
        assert torch.allclose(P * V[f"scale_{v}"][:, None, None].double(), V[f"X_{v}"].double(), atol=1e-5)
        px = ((V[f"uv_{v}"] + 1) / 2 * 31).round().long()
        inside = (px >= 0).all(-1) & (px <= 31).all(-1)
        n = torch.arange(6)[:, None].expand(6, 21)
        assert (V[f"parts_{v}"][n[inside], px[inside][:, 1], px[inside][:, 0]] > 0).float().mean() > 0.9
    assert torch.allclose(torch.einsum("bij,bkj->bki", V["R"], V["X_a"]), V["X_b"], atol=1e-6)
    # the share: with upright_share 0 nothing is turned upright
    W = views(part, "ab", dataclasses.replace(cfg, upright_share=0.0), np.random.default_rng(0), "cpu", labeled=True)
    assert (_axis_deg(W["uv_a"]) + 90).abs().max() > 10


def test_upright_evaluation_turns_each_crop_by_its_first_pass_axis(shards, cache_dir):
    """Two-pass evaluation: the first pass's predicted keypoints give the axis, and the crop the
    model then sees is the plain one turned about its centre so that this axis points up: a model
    that always answers a hand pointing right (its axis at 0 deg in the crop it sees) gets that crop
    turned by -90 deg as it sees it, mirrored crops included (the turn is applied before the mirror,
    in the camera's frame, where it is +90 deg for them), and the labels turned with it."""
    from types import SimpleNamespace
    from trainer.cache import CropSet
    from trainer.evaluate import shard_view_batches
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    crops.meta["left"] = np.array([True, False, True, False, False, True])
    uv = torch.zeros(21, 2)
    uv[1:, 0] = 0.5                                                   # fingers to the right of the wrist

    class PointsRight(torch.nn.Module):
        cfg = SimpleNamespace(pose_head="prior", crop=32)

        def forward(self, img, K, left):
            return {"uv": uv.expand(len(img), 21, 2)}

    plain = list(shard_view_batches(crops, 32, "cpu", mirror_left=True))
    turned = list(shard_view_batches(crops, 32, "cpu", mirror_left=True, upright=PointsRight()))
    assert len(plain) == len(turned) == 2
    for p, t in zip(plain, turned):
        assert p["mirrored"].any() and not p["mirrored"].all()
        turn = torch.remainder(_axis_deg(t["uv"]) - _axis_deg(p["uv"]) + 180, 360) - 180
        assert torch.allclose(turn, torch.full_like(turn, -90.0), atol=1e-3)
        assert torch.allclose(t["X"].norm(dim=-1), p["X"].norm(dim=-1), atol=1e-5)   # a turn: lengths kept
        assert np.array_equal(t["X_camera"], p["X_camera"])


def test_teacher_turns_unlabeled_views_upright_by_its_first_pass(shards, cache_dir):
    """trainer.loop.teacher_upright_views: a teacher answering "points right" on the plain crops
    gets both views of each unlabeled pair turned by -90 deg as it sees them (no jitter here), and
    the pair's R follows the turns: view b's keypoints are R times view a's, exactly."""
    from trainer.cache import CropSet
    from trainer.data import _to_tensors
    from trainer.loop import teacher_upright_views
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    crops.meta["left"] = np.array([True, False, True, False, False, True])
    part = _to_tensors(crops.gather(np.arange(6)))
    uv = torch.zeros(21, 2)
    uv[1:, 0] = 0.5
    seen = []

    def points_right(img, K, left):
        seen.append(img)
        return {"uv": uv.expand(len(img), 21, 2)}

    dcfg = DataConfig(crop=32, mirror_left=True, upright=True, upright_jitter=0.0, scale_jitter=(1.0, 1.0),
                      shift_jitter=0.0)
    plain = views(part, "ab", DataConfig(crop=32, augment=False, mirror_left=True), None, "cpu")
    U = teacher_upright_views(points_right, part, dcfg, np.random.default_rng(0), "cpu")
    assert len(seen) == 2 and torch.equal(seen[0], plain["img_a"])      # the first pass sees plain crops
    for v in "ab":
        turn = torch.remainder(_axis_deg(U[f"uv_{v}"]) - _axis_deg(plain[f"uv_{v}"]) + 180, 360) - 180
        assert torch.allclose(turn, torch.full_like(turn, -90.0), atol=1e-3), v
    assert torch.allclose(torch.einsum("nij,nkj->nki", U["R"], U["X_a"]), U["X_b"], atol=1e-5)


def test_clean_teacher_view_is_the_plain_crop_and_its_rotation_lands_on_the_students_view(shards, cache_dir):
    """--teacher-clean (trainer.data.teacher_view): the teacher's view a is the un-augmented crop
    evaluation sees, in the worker's path (ViewPrep) and turned upright by the teacher's first pass
    (exactly, no jitter); R_t maps its keypoints onto the student's augmented view b, R_ta onto
    the student's augmented view a (--w-teacher-a); and the
    student's views are those of the run without the option (it draws no random numbers)."""
    from trainer.cache import CropSet
    from trainer.data import ViewPrep, _to_tensors
    from trainer.loop import teacher_upright_views
    crops = CropSet(resolve(str(shards)), DataConfig(crop=32).geometry(), log=None)
    crops.meta["left"] = np.array([True, False, True, False, False, True])
    part = _to_tensors(crops.gather(np.arange(6)))
    dcfg = DataConfig(crop=32, mirror_left=True)
    plain = views(part, "ab", dataclasses.replace(dcfg, augment=False), None, "cpu")
    U = ViewPrep(dcfg, "a", False, teacher_clean=True).unlabeled(part, np.random.default_rng(3), "cpu")
    U0 = ViewPrep(dcfg, "a", False).unlabeled(part, np.random.default_rng(3), "cpu")
    assert torch.equal(U["img_t"], plain["img_a"]) and not torch.equal(U["img_a"], plain["img_a"])
    assert torch.allclose(torch.einsum("nij,nkj->nki", U["R_t"], U["X_t"]), U["X_b"], atol=1e-5)
    assert torch.allclose(torch.einsum("nij,nkj->nki", U["R_ta"], U["X_t"]), U["X_a"], atol=1e-5)   # --w-teacher-a
    assert all(torch.equal(U[k], U0[k]) for k in U0)

    uv = torch.zeros(21, 2)
    uv[1:, 0] = 0.5
    points_right = lambda img, K, left: {"uv": uv.expand(len(img), 21, 2)}  # noqa: E731
    up = dataclasses.replace(dcfg, upright=True)
    T = teacher_upright_views(points_right, part, up, np.random.default_rng(4), "cpu", clean=True)
    T0 = teacher_upright_views(points_right, part, up, np.random.default_rng(4), "cpu")
    # the keypoints' x, y in the crop's camera frame turn with the crop (y down, as in the image)
    turn = torch.remainder(_axis_deg(T["X_t"][..., :2]) - _axis_deg(plain["X_a"][..., :2]) + 180, 360) - 180
    assert torch.allclose(turn, torch.full_like(turn, -90.0), atol=1e-3)     # upright, without the jitter
    assert torch.allclose(torch.einsum("nij,nkj->nki", T["R_t"], T["X_t"]), T["X_b"], atol=1e-5)
    assert torch.allclose(torch.einsum("nij,nkj->nki", T["R_ta"], T["X_t"]), T["X_a"], atol=1e-5)
    assert all(torch.equal(T[k], T0[k]) for k in T0)
