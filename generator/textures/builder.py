"""`make textures`: bake the hand once, then write every variant's maps, manifest.json and a
contact sheet. Incremental: a variant whose build key (parameters + code version + UV layout +
resolution) matches the manifest and whose files are present is not rebuilt."""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .anatomy import hand_anatomy
from .compose import compose
from .features import compute_fields
from .individuals import DEFAULT_INDIVIDUALS, default_variants
from .tones import MST_LEVELS, check_level
from .uv_bake import bake

MAP_NAMES = ("base_color", "normal", "roughness", "subsurface")
MANIFEST_VERSION = 1
_PKG = Path(__file__).resolve().parent


def check_resolution(resolution) -> int:
    try:
        r = int(resolution)
    except (TypeError, ValueError):
        raise ValueError(f"resolution must be an integer power of two (e.g. 2048), got {resolution!r}") from None
    if r != resolution or r < 64 or r > 8192 or r & (r - 1):
        raise ValueError(f"resolution must be a power of two between 64 and 8192 (e.g. 2048 or 4096), got {resolution!r}")
    return r


def check_out_dir(out: Path) -> Path:
    from generator.paths import ensure_writable
    out = Path(out)
    try:
        ensure_writable(out)
    except OSError as e:
        raise PermissionError(f"cannot write the texture set to {out}: {e.strerror or e}") from None
    return out


def hand_geometry(model: str = "anny") -> dict:
    """The flat rest hand (right side; the left hand shares the UV layout)."""
    from generator.hand import load_hand_model
    hand = load_hand_model(model)
    b = hand.forward(np.zeros((1, 20, 3), np.float32))
    return {"vertices": b.vertices[0].astype(np.float64), "faces": np.asarray(b.faces),
            "uvs": np.asarray(b.uvs, np.float64), "parts": np.asarray(b.parts),
            "keypoints": b.keypoints[0].astype(np.float64)}


def uv_layout_hash(faces: np.ndarray, uvs: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(faces, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(uvs, np.float64), 6).tobytes())
    return h.hexdigest()


def code_version() -> str:
    h = hashlib.sha256()
    for f in sorted(_PKG.glob("*.py")):
        h.update(f.name.encode()); h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_key(variant: dict, resolution: int, layout: str, code: str) -> str:
    blob = json.dumps({"v": variant, "res": resolution, "uv": layout, "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    from generator.atomic import atomic_write
    atomic_write(path, data)


# Shared with forked workers (set before the pool starts, read-only after).
_SHARED: dict = {}


def _build_one(variant: dict, out: str) -> dict:
    s = _SHARED
    maps = compose(s["bake"], s["fields"], s["anatomy"], variant["params"])
    folder = Path(out) / variant["name"]
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"name": variant["name"], "mst": variant["mst"], "seed": variant["seed"],
             "params": variant["params"], "maps": {}, "sha256": {},
             "subsurface_radius_m": maps["subsurface_radius_m"], "build_key": variant["build_key"]}
    for k in MAP_NAMES:
        data = _png_bytes(maps[k])
        _write_atomic(folder / f"{k}.png", data)
        entry["maps"][k] = f"{variant['name']}/{k}.png"
        entry["sha256"][k] = hashlib.sha256(data).hexdigest()
    return entry


def _up_to_date(entry: dict | None, key: str, out: Path) -> bool:
    """Same build key, all maps present, and each map's bytes hash to what the manifest recorded
    (a damaged or replaced map is rebuilt, not reported as up to date)."""
    if not entry or entry.get("build_key") != key or len(entry.get("maps", {})) != len(MAP_NAMES):
        return False
    from generator.paths import file_sha256
    recorded = entry.get("sha256", {})
    return all((out / rel).is_file() and recorded.get(k) == file_sha256(out / rel)
               for k, rel in entry["maps"].items())


def contact_sheet(out: Path, entries: list[dict], mask: np.ndarray | None = None, thumb: int = 160) -> Path:
    """Grid of base-colour thumbnails: one row per tone, one column per individual; texels outside
    the UV islands (padding) are darkened when ``mask`` (island coverage) is given."""
    shade = None
    if mask is not None:
        m = Image.fromarray((np.asarray(mask) * 255).astype(np.uint8)).resize((thumb, thumb), Image.BILINEAR)
        shade = (0.25 + 0.75 * np.asarray(m, np.float32) / 255.0)[..., None]
    tones = sorted({e["mst"] for e in entries})
    cols = max(sum(e["mst"] == t for e in entries) for t in tones)
    pad, label = 4, 14
    sheet = Image.new("RGB", (cols * (thumb + pad) + pad, len(tones) * (thumb + label + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, t in enumerate(tones):
        for c, e in enumerate([e for e in entries if e["mst"] == t]):
            with Image.open(out / e["maps"]["base_color"]) as im:
                im.draft("RGB", (thumb, thumb))
                tile = im.convert("RGB").resize((thumb, thumb), Image.BILINEAR)
            if shade is not None:
                tile = Image.fromarray((np.asarray(tile, np.float32) * shade).astype(np.uint8))
            x, y = pad + c * (thumb + pad), pad + r * (thumb + label + pad)
            sheet.paste(tile, (x, y + label))
            draw.text((x + 2, y + 1), f"{e['name']}  MST {t}", fill=(230, 230, 230))
    path = out / "contact_sheet.png"
    buf = io.BytesIO(); sheet.save(buf, format="PNG", compress_level=6)
    _write_atomic(path, buf.getvalue())
    return path


def build(out="textures", resolution: int = 2048, individuals: int = DEFAULT_INDIVIDUALS,
          tones=MST_LEVELS, workers: int = 2, force: bool = False, model: str = "anny",
          log=print) -> dict:
    """Build (or bring up to date) the texture set in ``out``. Returns a summary dict."""
    t0 = time.perf_counter()
    quiet = log is None
    log = log or (lambda msg: None)
    resolution = check_resolution(resolution)
    tones = [check_level(t) for t in tones]
    out = check_out_dir(Path(out))
    geo = hand_geometry(model)
    layout = uv_layout_hash(geo["faces"], geo["uvs"])
    code = code_version()
    variants = default_variants(individuals, tones)
    for v in variants:
        v["build_key"] = build_key({k: v[k] for k in ("name", "mst", "seed", "params")}, resolution, layout, code)

    manifest_path = out / "manifest.json"
    old = {}
    if manifest_path.is_file() and not force:
        try:
            m = json.loads(manifest_path.read_text())
            old = {e["name"]: e for e in m.get("variants", [])}
        except (json.JSONDecodeError, KeyError, TypeError):
            log(f"textures: {manifest_path} is unreadable; rebuilding everything")
    todo = [v for v in variants if not _up_to_date(old.get(v["name"]), v["build_key"], out)]
    sheet = out / "contact_sheet.png"
    names_now = [v["name"] for v in variants]
    if not todo and sheet.is_file() and list(old) == names_now:
        log(f"textures: {len(variants)} variants in {out} are up to date (nothing to do)")
        return {"built": [], "skipped": names_now, "seconds": time.perf_counter() - t0, "out": str(out)}

    entries = {n: old[n] for n in names_now if n in old}
    if todo:
        tb = time.perf_counter()
        log(f"textures: baking the hand at {resolution}x{resolution} ...")
        b = bake(geo["vertices"], geo["faces"], geo["uvs"], resolution)
        anat = hand_anatomy(geo["vertices"], geo["parts"], geo["keypoints"])
        fields = compute_fields(b, geo["parts"], anat)
        _SHARED.update(bake=b, fields=fields, anatomy=anat)
        log(f"textures: bake + anatomical fields {time.perf_counter() - tb:.1f} s; "
            f"building {len(todo)} of {len(variants)} variants with {workers} worker(s)")
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="textures", unit="variant", disable=quiet)
        try:
            if workers > 1 and len(todo) > 1:
                ctx = multiprocessing.get_context("fork")
                with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    for e in pool.map(_build_one, todo, [str(out)] * len(todo)):
                        entries[e["name"]] = e; bar.update()
            else:
                for v in todo:
                    e = _build_one(v, str(out)); entries[e["name"]] = e; bar.update()
        finally:
            bar.close()
            _SHARED.clear()
    ordered = [entries[n] for n in names_now]
    manifest = {"version": MANIFEST_VERSION, "resolution": resolution, "uv_layout": layout,
                "code_version": code, "model": model, "variants": ordered}
    _write_atomic(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    contact_sheet(out, ordered, bake(geo["vertices"], geo["faces"], geo["uvs"], 256).mask)
    secs = time.perf_counter() - t0
    log(f"textures: wrote {len(todo)} variant(s), manifest and contact sheet to {out} in {secs:.1f} s")
    return {"built": [v["name"] for v in todo], "skipped": [n for n in names_now if n not in {v['name'] for v in todo}],
            "seconds": secs, "out": str(out)}
