"""Pure logic of the realism audit (numpy only; no mediapipe, no bpy).

Conventions bridged here:
- MediaPipe returns landmarks normalised by the image size with the image's *edges* at 0 and 1:
  x * W is in pixel-edge coordinates, where pixel i spans [i, i + 1]. CycleHand puts pixel
  centres at integers (pixel i spans [i - 0.5, i + 0.5]), so u = x * W - 0.5.
- MediaPipe Hands labels handedness as if the image were mirrored (a selfie camera). On our
  unmirrored renders its "Left" is a right hand.
- MediaPipe's 21 landmarks are in the same order as ours (wrist, thumb CMC..tip, index MCP..tip,
  ...), so no re-indexing is needed.
- Landmark agreement is PCK@0.2: a landmark agrees when it lies within 0.2 x the longer side of
  the box around our 21 2D labels.
"""
from __future__ import annotations

import numpy as np

from generator import conventions
from generator.camera import in_frame

PCK_THRESHOLD = 0.2
PALM_BINS_DEG = (0, 15, 30, 45, 60, 75, 90)
FINGER_BINS_DEG = (0, 30, 60, 90)


def mediapipe_to_pixels(landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe's normalised (x, y) (N, 2+) -> CycleHand pixel coordinates (N, 2)."""
    lm = np.asarray(landmarks, np.float64)[..., :2]
    return lm * np.array([width, height], np.float64) - 0.5


def side_from_mediapipe(label: str, mirrored_input: bool = False) -> str:
    """Our hand side ("right"/"left") from MediaPipe's handedness label.

    MediaPipe assumes a mirrored (selfie) image; for an unmirrored image the label is swapped."""
    s = str(label).strip().lower()
    if s not in ("left", "right"):
        raise ValueError(f"unknown MediaPipe handedness label {label!r}")
    if mirrored_input:
        return s
    return "right" if s == "left" else "left"


def label_box_size(keypoints_2d) -> float:
    """Longer side of the axis-aligned box around the 21 2D labels (pixels)."""
    uv = np.asarray(keypoints_2d, np.float64)
    return float(np.max(uv.max(0) - uv.min(0)))


def pck(pred_uv, gt_uv, threshold: float = PCK_THRESHOLD) -> np.ndarray:
    """(21,) bool: each predicted landmark within ``threshold`` x the label box's longer side."""
    pred, gt = np.asarray(pred_uv, np.float64), np.asarray(gt_uv, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"predicted and labelled keypoints differ in shape: {pred.shape} vs {gt.shape}")
    return np.linalg.norm(pred - gt, axis=-1) <= threshold * label_box_size(gt)


def view_angles(keypoints_cam) -> tuple[float, float]:
    """(palm_deg, finger_deg) of a (21, 3) camera-frame hand: the shared view definition."""
    palm, finger = conventions.view_angles(np.asarray(keypoints_cam, np.float64))
    return float(palm), float(finger)


def is_easy(keypoints_cam, all_in_frame: bool) -> bool:
    return bool(conventions.is_easy_view(np.asarray(keypoints_cam, np.float64), bool(all_in_frame)))


def all_in_frame(view: dict) -> bool:
    """Every labelled keypoint of one view's annotation (``ann[view]``) inside the image."""
    return bool(np.all(in_frame(np.asarray(view["keypoints_2d"], np.float64), tuple(view["resolution"]))))


def easy_annotation(view: dict) -> bool:
    """Is one view's annotation (``ann[view]``) an easy view (conventions.is_easy_view)?"""
    return is_easy(view["keypoints_3d"], all_in_frame(view))


def angle_bin(deg: float, edges=PALM_BINS_DEG) -> str:
    """'lo-hi' label of the bin holding ``deg`` (the last bin includes its upper edge)."""
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo <= deg < hi or (hi == edges[-1] and deg == hi):
            return f"{lo}-{hi}"
    raise ValueError(f"angle {deg} outside {edges[0]}-{edges[-1]}")


def rate(k: int, n: int) -> dict:
    """Proportion with its 95% Wilson interval."""
    if n == 0:
        return {"rate": None, "k": 0, "n": 0, "ci95": None}
    from scipy.stats import binomtest
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return {"rate": k / n, "k": int(k), "n": int(n), "ci95": [float(ci.low), float(ci.high)]}


def view_record(ann: dict, view: str, result: dict | None) -> dict:
    """One audited view: our labels (``ann[view]`` of a KEY.json) against the landmarker's
    ``result`` ({"landmarks": (21, 2+) normalised, "world": (21, 3) metres or absent,
    "handedness": label, "score"} or None)."""
    v = ann[view]
    W, H = v["resolution"]
    gt = np.asarray(v["keypoints_2d"], np.float64)
    kp3 = np.asarray(v["keypoints_3d"], np.float64)
    all_in = all_in_frame(v)
    palm, finger = view_angles(kp3)
    app = ann.get("appearance", {})
    rec = {
        "index": ann.get("index"), "view": view, "side": ann["hand"]["side"],
        "skin_tone": app.get("skin_tone"),
        "lighting": (app.get("lighting") or {}).get("kind"),
        "background": (app.get("background") or {}).get("kind"),
        **scene_groups(ann),
        "palm_deg": palm, "finger_deg": finger, "all_in_frame": all_in,
        "easy": is_easy(kp3, all_in), "detected": result is not None,
    }
    if result is not None:
        pred = mediapipe_to_pixels(result["landmarks"], W, H)
        ok = pck(pred, gt)
        # our per-keypoint visibility (docs/FORMAT.md: in frame and unoccluded), where recorded:
        # a hidden joint is the landmarker's guess, so agreement is also reported per visibility
        vis = v.get("visible")
        if vis is not None:
            rec["visible"] = [bool(x) for x in vis]
        rec.update(pck=ok.tolist(), score=float(result.get("score", np.nan)),
                   detected_side=side_from_mediapipe(result["handedness"]),
                   error_px=np.linalg.norm(pred - gt, axis=1).round(2).tolist(),
                   landmarks_px=pred.round(2).tolist(),
                   box_px=label_box_size(gt))
        if result.get("world") is not None:           # metric 3D (benchmarks/landmarker_3d.py)
            rec["world_m"] = np.asarray(result["world"], np.float64).round(6).tolist()
    return rec


def scene_groups(ann: dict) -> dict:
    """What else in the scene a view's agreement may depend on: what the arm wears ("none",
    "sleeve", "sleeve+watch", ...), whether a distractor stands between the camera and the hand
    (an occluder, the same in views a and b), and how the pose was drawn ("library" blends or
    "uniform" within the joint limits; from the annotation's full sample, None where absent)."""
    wear = "+".join(sorted({w["kind"] for w in ann.get("wear") or []})) or "none"
    kind = (ann.get("sample") or {}).get("pose_kind")
    return {"wear": wear, "occluder": any(bool(d.get("in_front")) for d in ann.get("distractors") or []),
            "pose_kind": None if kind is None else ("uniform" if kind == "uniform" else "library")}


def _group(records, key) -> dict:
    groups: dict = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return groups


def _detection(rs) -> dict:
    return rate(sum(r["detected"] for r in rs), len(rs))


def _agreement(rs) -> dict:
    det = [r for r in rs if r["detected"]]
    joints = np.array([r["pck"] for r in det], bool).reshape(-1, 21)
    flagged = np.array(["visible" in r for r in det], bool)
    vis = np.array([r["visible"] for r in det if "visible" in r], bool).reshape(-1, 21)
    ok = joints[flagged]
    share = lambda m: {"pck": float(ok[m].mean()) if m.any() else None, "joints": int(m.sum())}  # noqa: E731
    return {"pck": float(joints.mean()) if len(det) else None,
            "pck_per_joint": joints.mean(0).round(3).tolist() if len(det) else None,
            "pck_visible": share(vis), "pck_hidden": share(~vis),
            "handedness": rate(sum(r["detected_side"] == r["side"] for r in det), len(det)),
            "views_detected": len(det)}


def summarise(records: list[dict]) -> dict:
    """Detection overall, on easy views, by palm/finger angle, tone, lighting and background kind,
    side, wear, occluder and pose kind; PCK@0.2 (per group also on its easy views) and handedness
    agreement where detected."""
    out = {"views": len(records), "detection": _detection(records),
           "easy": {"detection": _detection([r for r in records if r["easy"]]),
                    **_agreement([r for r in records if r["easy"]])},
           **_agreement(records)}
    sort = lambda d: dict(sorted(d.items(), key=lambda kv: (str(type(kv[0])), kv[0])))
    for name, key in (("by_palm_deg", lambda r: angle_bin(r["palm_deg"], PALM_BINS_DEG)),
                      ("by_finger_deg", lambda r: angle_bin(r["finger_deg"], FINGER_BINS_DEG)),
                      ("by_skin_tone", lambda r: r["skin_tone"]),
                      ("by_lighting", lambda r: r["lighting"]),
                      ("by_background", lambda r: r["background"]),
                      ("by_side", lambda r: r["side"]),
                      ("by_wear", lambda r: r.get("wear")),
                      ("by_occluder", lambda r: r.get("occluder")),
                      ("by_pose_kind", lambda r: r.get("pose_kind"))):
        # the targets are on easy views: each group also gives its easy views' agreement
        out[name] = sort({k: {"detection": _detection(g), "pck": _agreement(g)["pck"],
                              "easy_pck": _agreement([r for r in g if r["easy"]])["pck"]}
                          for k, g in _group(records, key).items()})
    return out


def tone_parity(by_tone: dict) -> dict:
    """Each tone's detection rate relative to the best tone's (target: every ratio >= 0.9)."""
    rates = {k: v["detection"]["rate"] for k, v in by_tone.items() if v["detection"]["rate"] is not None}
    best = max(rates.values()) if rates else None
    return {k: (r / best if best else None) for k, r in rates.items()}


def across_runs(summaries: dict) -> dict:
    """The targets' figures over several runs (fresh seeds: one seed's easy views are too few to
    settle a target): per run and their mean, min and max of the easy views' detection rate and
    PCK@0.2, and the easy views pooled."""
    easy = {k: s["easy"] for k, s in summaries.items()}
    det = {k: e["detection"]["rate"] for k, e in easy.items()}
    pck = {k: e["pck"] for k, e in easy.items()}
    stat = lambda d: {"mean": float(np.mean(v)), "min": float(min(v)), "max": float(max(v))} \
        if (v := [x for x in d.values() if x is not None]) else None  # noqa: E731
    found = sum(e["detection"]["k"] for e in easy.values())
    return {"runs": {k: {"easy_detection": det[k], "easy_pck": pck[k]} for k in easy},
            "easy_detection": stat(det), "easy_pck": stat(pck),
            "pooled_easy_detection": rate(found, sum(e["detection"]["n"] for e in easy.values())),
            "pooled_easy_pck": (sum(e["pck"] * e["views_detected"] for e in easy.values() if e["pck"] is not None)
                                / found) if found else None}


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_across_runs(x: dict) -> str:
    """The report of ``across_runs``."""
    pct = lambda r: "n/a" if r is None else f"{100 * r:.1f}%"  # noqa: E731
    lines = ["across runs (targets: detection >= 90% and PCK@0.2 >= 0.92 on easy views):"]
    lines += [f"  {k}: easy detection {pct(v['easy_detection'])}, easy PCK@0.2 {_num(v['easy_pck'])}"
              for k, v in x["runs"].items()]
    for key, fmt in (("easy_detection", pct), ("easy_pck", _num)):
        if x[key]:
            lines.append(f"  {key}: mean {fmt(x[key]['mean'])}, min {fmt(x[key]['min'])}, max {fmt(x[key]['max'])}")
    d = x["pooled_easy_detection"]
    lines.append(f"  pooled easy views: detection {pct(d['rate'])} ({d['k']}/{d['n']}), "
                 f"PCK@0.2 {_num(x['pooled_easy_pck'])}")
    return "\n".join(lines)


def format_report(s: dict) -> str:
    pct = lambda d: "n/a" if d["rate"] is None else \
        f"{100 * d['rate']:5.1f}% ({d['k']}/{d['n']}, 95% CI {100 * d['ci95'][0]:.0f}-{100 * d['ci95'][1]:.0f})"
    lines = [f"views audited        : {s['views']}",
             f"detection, all views : {pct(s['detection'])}",
             f"detection, easy views: {pct(s['easy']['detection'])}",
             f"PCK@0.2 where detected: {_num(s['pck'])} (all views), {_num(s['easy']['pck'])} (easy views)",
             f"handedness agreement : {pct(s['handedness'])}"]
    e = s["easy"]
    if e["pck_visible"]["joints"] + e["pck_hidden"]["joints"]:
        lines.append(f"PCK@0.2 on easy views by our visibility: visible landmarks {_num(e['pck_visible']['pck'])} "
                     f"({e['pck_visible']['joints']} joints), hidden {_num(e['pck_hidden']['pck'])} "
                     f"({e['pck_hidden']['joints']} joints)")
    for name in ("by_palm_deg", "by_finger_deg", "by_skin_tone", "by_lighting", "by_background", "by_side",
                 "by_wear", "by_occluder", "by_pose_kind"):
        lines.append(f"{name}:")
        for k, v in s[name].items():
            lines.append(f"  {str(k):>12}: detection {pct(v['detection'])}, PCK {_num(v['pck'])}"
                         f" (easy views {_num(v['easy_pck'])})")
    par = tone_parity(s["by_skin_tone"])
    if len(par) > 1:
        lines.append("tone parity (detection / best tone's): "
                     + ", ".join(f"MST {k} {v:.2f}" for k, v in par.items()))
    lines.append("PCK per joint: " + " ".join(f"{x:.2f}" for x in (s["pck_per_joint"] or [])))
    return "\n".join(lines)
