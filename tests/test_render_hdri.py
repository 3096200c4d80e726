"""The HDRI library: the bpy wheel's CC0 HDRIs, user folders, manifest, selection, CLI."""
import hashlib
import json
import struct

import pytest
from click.testing import CliRunner

from generator.hdri import bpy_hdri_dir, hdri_cli, index_hdris, load_library, select

EMBEDDED = {"city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset"}


def write_hdr(path, w=2, h=2):
    """A real (tiny, uncompressed) Radiance RGBE file."""
    head = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {h} +X {w}\n".encode()
    path.write_bytes(head + struct.pack("4B", 128, 128, 128, 129) * (w * h))


def test_embedded_hdris_are_found_and_hashed():
    d = bpy_hdri_dir()
    assert d is not None and d.name == "world"
    entries = index_hdris(user_dirs=[], embedded=True)
    assert {e.name for e in entries} == EMBEDDED
    for e in entries:
        assert e.source == "bpy" and e.license.startswith("CC0")
    e = entries[0]
    assert e.sha256 == hashlib.sha256(open(e.path, "rb").read()).hexdigest()


def test_user_folder_license_manifest_and_duplicates(tmp_path):
    user = tmp_path / "hdri"
    user.mkdir()
    write_hdr(user / "loft.hdr")
    (user / "loft.license").write_text("CC-BY-4.0 someone\n")
    write_hdr(user / "sub.hdr", 4, 1)
    manifest = tmp_path / "manifest.json"
    entries = load_library([user], embedded=True, manifest=manifest)
    by = {e.name: e for e in entries}
    assert set(by) == EMBEDDED | {"loft", "sub"}
    assert by["loft"].license == "CC-BY-4.0 someone" and by["sub"].license == "unknown"
    assert by["loft"].source == "user"
    m = json.loads(manifest.read_text())
    assert {h["name"] for h in m["hdris"]} == set(by)
    # the cache is used: a changed file (new size) is re-hashed
    write_hdr(user / "sub.hdr", 8, 1)
    again = {e.name: e for e in load_library([user], embedded=True, manifest=manifest)}
    assert again["sub"].sha256 == hashlib.sha256((user / "sub.hdr").read_bytes()).hexdigest()
    assert again["sub"].sha256 != by["sub"].sha256
    write_hdr(user / "city.exr")
    with pytest.raises(ValueError, match="two HDRIs are named 'city'"):
        index_hdris([user])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        index_hdris([tmp_path / "nowhere"])


def test_select_by_names_and_globs():
    entries = index_hdris(user_dirs=[])
    assert [e.name for e in select(entries, ["sun*"])] == ["sunrise", "sunset"]
    assert "city" not in {e.name for e in select(entries, ["*"], ["city"])}
    with pytest.raises(ValueError, match="'citty' matches none"):
        select(entries, ["citty"])


def test_cli_lists(tmp_path):
    user = tmp_path / "h"
    user.mkdir()
    write_hdr(user / "mine.hdr")
    r = CliRunner().invoke(hdri_cli, ["--dir", str(user)])
    assert r.exit_code == 0, r.output
    assert "mine" in r.output and "city" in r.output and "10 HDRIs" not in r.output
    assert "9 HDRIs" in r.output
    r = CliRunner().invoke(hdri_cli, ["--dir", str(user), "--no-embedded", "--json"])
    assert [e["name"] for e in json.loads(r.output)] == ["mine"]
