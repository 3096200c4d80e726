"""The shard-format package (generator/dataset): writer -> manifest -> reader round trip, errors
that name the file or sample, the atomic-write helper, the folder lock, and the start-up
preparation that never deletes data it did not write."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from generator import dataset as D
from generator.atomic import atomic_path, atomic_write
from generator.dataset.folder import prepare
from generator.dataset.lock import FolderBusy, RunLock
from trainer.testing import write_fixture_shards


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return write_fixture_shards(tmp_path_factory.mktemp("fx"), pairs=5, per_shard=2, resolution=48)


def test_round_trip_decodes_every_member(fx):
    m = D.read_manifest(fx)
    assert m.complete and m.counts == {"shards": 3, "pairs": 5, "views": 10}
    samples = list(D.iter_samples(fx))
    assert [s["__key__"] for s in samples] == [D.sample_key(i) for i in range(5)]
    s = samples[0]
    assert s[D.image_member("a")].shape == (48, 48, 3) and s[D.image_member("a")].dtype == np.uint8
    assert s[D.member("b", D.MASK)].shape == (48, 48)
    assert s[D.member("a", D.VERTS)].dtype == np.float32 and isinstance(s[D.JSON], dict)
    # only the members asked for are decoded
    only = next(D.iter_samples(fx, members=(D.JSON,)))
    assert set(only) == {"__key__", "__url__", D.JSON}


def test_shard_bytes_equal_webdatasets_tar_writer(tmp_path):
    """The writer uses tarfile (webdataset's import costs a render worker torch): its shards must
    stay byte for byte what webdataset's TarWriter wrote, and read back through webdataset."""
    wds = pytest.importorskip("webdataset")
    samples = [{"__key__": D.sample_key(i), "json": D.encode_json({"i": i}), "a.png": D.encode_png(
        np.full((4, 5, 3), i, np.uint8)), "b.npy": D.encode_npy(np.arange(i + 1, dtype=np.float32))}
        for i in range(3)]
    spec = {"name": "shard-000000.tar", "first": 0, "count": 3}
    with D.ShardWriter(tmp_path, spec, record=False) as w:
        for m in samples:
            w.write(m)
        w.commit()
    with open(tmp_path / "wds.tar", "wb") as f:
        with wds.TarWriter(f, encoder=False, mtime=0, user="cyclehand", group="cyclehand") as t:
            for m in samples:
                t.write(m)
    assert (tmp_path / "shard-000000.tar").read_bytes() == (tmp_path / "wds.tar").read_bytes()
    back = list(wds.WebDataset(str(tmp_path / "shard-000000.tar"), shardshuffle=False))
    assert [b["__key__"] for b in back] == [m["__key__"] for m in samples]
    assert back[2]["b.npy"] == samples[2]["b.npy"]
    with pytest.raises(TypeError, match="encoded bytes"):
        with D.ShardWriter(tmp_path, {"name": "shard-000001.tar", "first": 3, "count": 1}, record=False) as w:
            w.write({"__key__": "x", "json": {"not": "bytes"}})


def test_manifest_errors_name_the_file(tmp_path):
    with pytest.raises(D.ManifestError, match="has no manifest.json"):
        D.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"shards": [{"name": "shard-000000.tar", "cou')
    with pytest.raises(D.ManifestError, match=f"{tmp_path}/manifest.json: not a valid shard manifest"):
        D.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"shards": [{"name": "shard-000000.tar", "count": "3"}]}')
    with pytest.raises(D.ManifestError, match=r"Expected `int`, got `str` - at `\$.shards\[0\].count`"):
        D.read_manifest(tmp_path)


def test_changed_bytes_are_caught_by_sha256(fx, tmp_path):
    for f in fx.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    p = tmp_path / "shard-000001.tar"
    b = bytearray(p.read_bytes())
    b[700] ^= 0xFF                                   # same size, different bytes
    p.write_bytes(bytes(b))
    assert len(D.resolve_urls(tmp_path, sha256=False).urls) == 3
    with pytest.raises(D.DatasetError, match="shard-000001.tar: sha256 differs"):
        D.resolve_urls(tmp_path)


def test_incomplete_manifest_warns(fx, tmp_path):
    for f in fx.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    m = D.read_manifest(tmp_path)
    m.pairs_requested = 9
    D.write_manifest(tmp_path, m)
    assert D.read_manifest(tmp_path).complete is False
    with pytest.warns(D.IncompleteWarning, match="complete: false"):
        D.resolve_urls(tmp_path)


def test_bad_samples_are_named_skipped_and_bounded(tmp_path):
    out = tmp_path / "bad"
    m = D.Manifest(shards=[], job_fingerprint="x", shard_size=4, pairs_requested=4)
    good = {D.JSON: b'{"index": 0}', "a.png": D.encode_png(np.zeros((4, 4, 3), np.uint8))}
    out.mkdir()
    with D.ShardWriter(out, {"name": "shard-000000.tar", "first": 0, "count": 4}, record=False) as w:
        w.write({"__key__": "000000000", **good})
        w.write({"__key__": "000000001", D.JSON: b'{"index": 1, "R_ab": [[1, 0'})      # truncated JSON
        w.write({"__key__": "000000002", **good, "a.png": b"\x89PNG\r\n\x1a\n garbage"})
        w.write({"__key__": "000000003", **good})
        m.shards.append(w.commit())
    D.write_manifest(out, m)
    with pytest.raises(D.SampleError, match=r"shard-000000.tar: sample 000000001: member 'json' does not decode"):
        list(D.iter_samples(out))
    skip = D.SkipBadSamples(max_fraction=0.7, grace=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = [s["__key__"] for s in D.iter_samples(out, on_error=skip)]
    assert keys == ["000000000", "000000003"] and skip.bad == 2 and skip.seen == 4
    assert any("sample 000000002: member 'a.png'" in str(c.message) for c in caught)
    with pytest.raises(D.TooManyBadSamples, match="1 of 2 samples were bad"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            list(D.iter_samples(out, on_error=D.SkipBadSamples(max_fraction=0.1, grace=2)))


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "f.json"
    atomic_write(p, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert p.read_text() == "old" and [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(FolderBusy, match=r"being written by another render: host .* pid \d+"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / D.names.LOCK).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    (tmp_path / D.names.LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    lock = RunLock(tmp_path)
    assert "took over the lock of a dead run" in lock.acquire()[0]
    lock.release()


def _fresh(fp, n=5, size=2):
    return D.Manifest(shards=[], job={}, job_fingerprint=fp, shard_size=size, pairs_requested=n)


def test_prepare_never_deletes_foreign_shards(fx, tmp_path):
    """Issue 11.1: a folder with shard-*.tar but no manifest (another dataset, an older output, a
    deleted manifest) is refused with what is there; nothing is removed."""
    for f in fx.glob("shard-*.tar"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(D.DatasetError, match=r"shard-000000.tar \(sample 000000000 belongs to job fixture-0-48-120, "
                                             r"not other\).*nothing was deleted"):
        prepare(tmp_path, _fresh("other"), D.plan_shards(5, 2), log=lambda m: None)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != ".manifest.lock"} == before


def test_prepare_adopts_complete_unlisted_shards_of_the_same_job(fx, tmp_path):
    fp = D.read_manifest(fx).job_fingerprint
    for f in fx.glob("shard-*.tar"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / f".shard-000002.tar.tmp-{fp}-host-123").write_bytes(b"partial")   # ours: removed
    (tmp_path / ".shard-000002.tar.tmp-otherjob-host-9").write_bytes(b"x")        # not ours: kept
    log = []
    m = prepare(tmp_path, _fresh(fp), D.plan_shards(5, 2), log=log.append)
    assert m.complete and [s.name for s in m.shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert sum("adopted" in x for x in log) == 3
    assert not list(tmp_path.glob(f".shard-*{fp}*")) and (tmp_path / ".shard-000002.tar.tmp-otherjob-host-9").exists()
    # a truncated shard of this job is not adopted, and not deleted either
    (tmp_path / "manifest.json").unlink()
    p = tmp_path / "shard-000001.tar"
    p.write_bytes(p.read_bytes()[:3000])
    with pytest.raises(D.DatasetError, match=r"shard-000001.tar \(.*unreadable tar"):
        prepare(tmp_path, _fresh(fp), D.plan_shards(5, 2), log=log.append)
    assert p.exists()


def test_training_reader_skips_and_names_a_malformed_sample(fx, tmp_path, monkeypatch):
    """Issue 11.8: malformed sample JSON in training names the sample, is skipped and counted
    (training reads the shards once, into its crop cache)."""
    from trainer.cache import CacheGeometry, CropSet
    from trainer.spec import resolve
    monkeypatch.setenv("CYCLEHAND_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "fx"
    m = D.read_manifest(fx)
    raws = list(D.iter_raw(D.resolve_urls(fx).urls))
    raws[3]["json"] = raws[3]["json"][:40]                   # truncated annotations of pair 3
    m.shards = []
    out.mkdir()
    for spec in D.plan_shards(5, 2):
        with D.ShardWriter(out, spec, record=False) as w:
            for r in raws[spec["first"]:spec["first"] + spec["count"]]:
                w.write({k: v for k, v in r.items() if k != "__url__"})
            m.shards.append(w.commit())
    D.write_manifest(out, m)
    log = tmp_path / "bad.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crops = CropSet(resolve(str(out)), CacheGeometry(crop=32), log=None,
                        bad=D.SkipBadSamples(max_fraction=0.5, grace=1, log=log))
    keys = list(crops.meta["keys"])
    assert [k.split("/")[1] for k in keys] == ["000000000", "000000001", "000000002", "000000004"]
    (line,) = log.read_text().splitlines()
    assert "shard-000001.tar: sample 000000003: member 'json' does not decode" in json.loads(line)["error"]
