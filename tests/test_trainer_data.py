"""SPEC resolution, exact crops and labels, the pair relation after augmentation, FreiHAND reader."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from generator.conventions import project, unproject
from trainer.crop import crop, rot_z, square_box
from trainer.data import DataConfig, PairDecoder, label_keep, loader, pair_dataset
from trainer.freihand import FreiHAND, write_fixture
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


def test_crop_labels_land_on_the_drawn_feature():
    # one white pixel at a projected 3D point must appear where project(K', X') says, after a
    # rotated, scaled crop
    K = np.array([[300.0, 0, 99.5], [0, 300.0, 99.5], [0, 0, 1]])
    X = unproject(K, np.array([[130.0, 60.0]]), np.array([0.5]))   # projects onto a pixel centre
    uv = project(K, X)[0]
    img = np.zeros((200, 200, 3), np.uint8)
    img[int(round(uv[1])) - 1:int(round(uv[1])) + 2, int(round(uv[0])) - 1:int(round(uv[0])) + 2] = 255
    out, Kc, Xc, Rz, _ = crop(Image.fromarray(img), K, X, np.array([110.0, 80.0]), 60.0, 48, 0.9)
    w = out[..., 0].astype(float)
    ys, xs = np.mgrid[:48, :48]
    centroid = np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    q = project(Kc, Xc)[0]
    assert np.abs(centroid - q).max() < 0.1
    assert np.allclose(Xc, X @ rot_z(0.9).T)


def test_pair_relation_holds_after_augmentation(shards):
    ds = pair_dataset(resolve(str(shards)), DataConfig(crop=32), seed=1, train=True)
    b = next(iter(loader(ds, 4, 0)))
    rot = lambda R, p: torch.einsum("bij,bkj->bki", R, p)  # noqa: E731
    assert torch.allclose(rot(b["R_ab"], b["kp3d_a"]), b["kp3d_b"], atol=1e-6)
    assert torch.allclose(rot(b["R_ar"], b["kp3d_a"]), b["kp3d_r"], atol=1e-6)
    assert b["img_a"].shape == (4, 32, 32, 3) and b["img_a"].dtype == torch.uint8
    assert torch.allclose(torch.linalg.det(b["R_ab"]), torch.ones(4), atol=1e-5)


def test_eval_reads_every_sample_once_and_label_budget(shards):
    ds = pair_dataset(resolve(str(shards)), DataConfig(crop=32, augment=False), train=False)
    keys = [k for b in loader(ds, 4, 0, drop_last=False) for k in b["key"]]
    assert len(keys) == 6 == len(set(keys))
    dec = PairDecoder(DataConfig(crop=32, labels="a"))
    assert label_keep("x", 1.0) and not label_keep("x", 0.0)
    share = np.mean([label_keep(f"k{i}", 0.25) for i in range(2000)])
    assert 0.2 < share < 0.3
    assert dec.cfg.labels == "a"


def test_freihand_reader(tmp_path):
    root = write_fixture(tmp_path / "frei", n=3)
    ds = FreiHAND(root, DataConfig(crop=32, augment=False))
    items = list(ds)
    assert len(items) == 3
    xyz = json.loads((root / "training_xyz.json").read_text())
    it = items[1]
    assert np.allclose(it["kp3d_a"], np.array(xyz[1]) - xyz[1][0], atol=1e-6)
    assert it["img_a"].shape == (32, 32, 3) and (np.abs(it["kp2d_a"]) < 1).all()
    with pytest.raises(FileNotFoundError, match="missing training_K.json"):
        (root / "training_K.json").unlink()
        FreiHAND(root)
