"""Asset integrity: every HDRI, texture map and background photo a job uses is decoded and its
sha256 checked against the manifest that lists it before any sample is drawn; a damaged file
fails naming itself (HDRIs, textures) or is skipped and reported (photos). A file's check is
cached by (path, size, mtime) in the project cache, so a resumed run or a worker start only
stats files that the parent checked. The hashes also enter the job's fingerprint, so a render
cannot silently mix two asset libraries in one output folder."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from generator.atomic import atomic_write
from generator.paths import cache_dir, file_sha256


class AssetError(ValueError):
    """A damaged or unreadable asset file. Deterministic: retrying the render cannot help."""


def _cache_path() -> Path:
    return cache_dir() / "asset_checks.json"


CHECKS_VERSION = 2   # bump when a decoder check changes: older verdicts are dropped


class _Cache:
    """{"path|size|mtime_ns": {"sha256": ..., "ok": bool, "error": str}}"""

    def __init__(self):
        try:
            stored = json.loads(_cache_path().read_text())
            self.data = stored["files"] if stored.get("version") == CHECKS_VERSION else {}
        except (OSError, ValueError, KeyError, AttributeError):
            self.data = {}
        self.dirty = False

    @staticmethod
    def key(path: Path) -> str:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def save(self):
        if self.dirty:
            try:
                _cache_path().parent.mkdir(parents=True, exist_ok=True)
                atomic_write(_cache_path(), json.dumps({"version": CHECKS_VERSION, "files": self.data}, sort_keys=True))
            except OSError:     # a read-only cache only costs time
                pass


def decode_hdr(path: Path) -> np.ndarray:
    """Radiance RGBE (.hdr) to float32 (H, W, 3): flat or new-style run-length scanlines.
    Raises ValueError on anything malformed or truncated (Blender would render magenta)."""
    data = path.read_bytes()
    if not (data.startswith(b"#?RADIANCE") or data.startswith(b"#?RGBE")):
        raise ValueError("not a Radiance HDR file (no #?RADIANCE header)")
    end = data.find(b"\n\n")
    if end < 0:
        raise ValueError("header without an end")
    header = data[:end].decode("latin-1")
    if "FORMAT=32-bit_rle_rgbe" not in header and "FORMAT=" in header:
        raise ValueError("unsupported FORMAT (only 32-bit_rle_rgbe)")
    nl = data.find(b"\n", end + 2)
    m = re.fullmatch(r"-Y (\d+) \+X (\d+)", data[end + 2:nl].decode("latin-1").strip())
    if not m:
        raise ValueError("unsupported or missing resolution line")
    H, W = int(m.group(1)), int(m.group(2))
    buf = np.frombuffer(data, np.uint8)
    pos, out = nl + 1, np.empty((H, W, 4), np.uint8)
    for y in range(H):
        if pos + 4 > len(buf):
            raise ValueError(f"truncated at scanline {y} of {H}")
        if W < 8 or W > 0x7FFF or buf[pos] != 2 or buf[pos + 1] != 2 or buf[pos + 2] & 0x80:
            n = W * 4                                      # flat scanline
            if pos + n > len(buf):
                raise ValueError(f"truncated at scanline {y} of {H}")
            out[y] = buf[pos:pos + n].reshape(W, 4)
            pos += n
            continue
        if (int(buf[pos + 2]) << 8 | int(buf[pos + 3])) != W:
            raise ValueError(f"scanline {y}: width mismatch")
        pos += 4
        for c in range(4):
            x = 0
            while x < W:
                if pos >= len(buf):
                    raise ValueError(f"truncated at scanline {y} of {H}")
                n = int(buf[pos]); pos += 1
                if n > 128:
                    n -= 128
                    if x + n > W or pos >= len(buf):
                        raise ValueError(f"scanline {y}: bad run")
                    out[y, x:x + n, c] = buf[pos]; pos += 1
                else:
                    if n == 0 or x + n > W or pos + n > len(buf):
                        raise ValueError(f"scanline {y}: bad run")
                    out[y, x:x + n, c] = buf[pos:pos + n]; pos += n
                x += n
    e = out[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(1.0, e - 136), 0.0).astype(np.float32)
    return out[..., :3].astype(np.float32) * scale[..., None]


def decode_exr(path: Path) -> None:
    """Read every channel of every part (OpenEXR reports a truncated file by leaving channels
    out or empty rather than raising, so their presence and size are checked)."""
    import OpenEXR
    with OpenEXR.File(str(path)) as f:
        if not f.parts:
            raise ValueError("no image parts")
        for part in f.parts:
            (x0, y0), (x1, y1) = np.asarray(part.header["dataWindow"], dtype=int).reshape(2, 2)
            if not part.channels:
                raise ValueError("no pixel data could be read (truncated?)")
            for name, ch in part.channels.items():
                px = None if ch.pixels is None else np.asarray(ch.pixels)
                if px is None or px.shape[:2] != (y1 - y0 + 1, x1 - x0 + 1):
                    raise ValueError(f"channel {name}: pixel data missing or cut short")
                if not np.isfinite(px.astype(np.float32)).any():
                    raise ValueError(f"channel {name}: no finite pixel")


def decode_image(path: Path) -> None:
    from PIL import Image
    with Image.open(path) as im:
        im.load()


def _decode(path: Path) -> None:
    ext = path.suffix.lower()
    if ext == ".hdr":
        decode_hdr(path)
    elif ext == ".exr":
        decode_exr(path)
    else:
        decode_image(path)


def check_files(paths, expected: dict | None = None, what: str = "asset", fix: str = "") -> tuple[dict, dict]:
    """Decode and hash files. Returns ({path: sha256} of good files, {path: problem} of bad ones).
    ``expected`` {path: sha256} (from the manifest that lists the files) must match."""
    cache = _Cache()
    good, bad = {}, {}
    for p in map(Path, paths):
        try:
            key = cache.key(p)
        except OSError as e:
            bad[str(p)] = f"cannot be read ({e.strerror or e})"
            continue
        rec = cache.data.get(key)
        if rec is None:
            rec = {"sha256": file_sha256(p)}
            try:
                _decode(p)
                rec["ok"] = True
            except Exception as e:    # any decoder's complaint means the file is unusable
                rec.update(ok=False, error=f"does not decode ({type(e).__name__}: {str(e)[:200]})")
            cache.data[key] = rec
            cache.dirty = True
        want = (expected or {}).get(str(p))
        if want and rec["sha256"] != want:
            bad[str(p)] = f"sha256 {rec['sha256'][:12]} differs from its manifest's {want[:12]} (damaged or replaced){fix}"
        elif not rec["ok"]:
            bad[str(p)] = rec["error"] + fix
        else:
            good[str(p)] = rec["sha256"]
    cache.save()
    return good, bad


def check_library(library, log=print) -> dict:
    """Check a job's resolved library (generator.sample.Library) in place: HDRIs and texture maps
    must be intact (AssetError naming each bad file); unreadable background photos are dropped
    from ``library.images`` and reported. Returns the asset record for the job's fingerprint."""
    hd = {e.path: e.sha256 for e in library.hdris}
    good_h, bad_h = check_files(hd, hd, "HDRI")
    maps = {v["maps"][k]: v.get("sha256", {}).get(k) for v in library.textures for k in v["maps"]}
    good_t, bad_t = check_files(maps, maps, "texture map",
                                fix="; rebuild it with `cyclehand-gen textures` (make textures)")
    bad = {**bad_h, **bad_t}
    if bad:
        raise AssetError("damaged asset file(s), nothing rendered:\n" +
                         "\n".join(f"  {p}: {why}" for p, why in sorted(bad.items())))
    good_i, bad_i = check_files(library.images, None, "photo")
    if bad_i:
        log(f"background.image_dir: skipping {len(bad_i)} unreadable photo(s) of {len(library.images)}:\n" +
            "\n".join(f"  {p}: {why}" for p, why in sorted(bad_i.items())))
        library.images = [p for p in library.images if p in good_i]
        if not library.images:
            raise AssetError("background.image_dir: no readable photo left")
    record = {"hdris": {e.name: e.sha256 for e in library.hdris},
              "textures": {v["name"]: hashlib.sha256(json.dumps(
                  [good_t[v["maps"][k]] for k in sorted(v["maps"])]).encode()).hexdigest()[:16]
                  for v in library.textures},
              "images": hashlib.sha256("\n".join(f"{Path(p).name} {good_i[p]}" for p in library.images)
                                       .encode()).hexdigest()[:16] if library.images else None,
              "image_count": len(library.images)}
    return record


def usable_images(paths: list[str]) -> list[str]:
    """The photos whose cached check passed (a worker re-resolving the library drops the same
    photos the parent reported, without decoding them again)."""
    cache = _Cache()
    out = []
    for p in paths:
        try:
            rec = cache.data.get(cache.key(Path(p)))
        except OSError:
            continue
        if rec is None or rec.get("ok"):
            out.append(p)
    return out


def record_digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:8]
