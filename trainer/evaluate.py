"""Evaluation: predictions over shards (or FreiHAND), headline metrics, the same per
view-difficulty bin, and a PCK-curve PNG."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from trainer import metrics
from trainer.data import image_tensor

ANGLE_BINS = (0, 30, 60, 90, 120, 150, 180)   # degrees between palm normal and the camera direction


@torch.no_grad()
def predict(model, batches, device, views=("a", "b")) -> dict[str, np.ndarray]:
    """Run the model over batches; collect predictions and labels of every view as one set."""
    model.eval()
    cols = {k: [] for k in ("pred3d", "gt3d", "pred2d", "gt2d", "vis", "angle")}
    for batch in batches:
        for v in views:
            out = model(image_tensor(batch[f"img_{v}"], device))
            cols["pred3d"].append(out["kp3d"].float().cpu().numpy())
            cols["pred2d"].append(out["kp2d"].float().cpu().numpy())
            cols["gt3d"].append(batch[f"kp3d_{v}"].numpy())
            cols["gt2d"].append(batch[f"kp2d_{v}"].numpy())
            cols["vis"].append(batch[f"vis_{v}"].numpy())
            cols["angle"].append(batch[f"angle_{v}"].numpy())
    if not cols["pred3d"]:
        raise ValueError("evaluation set is empty (no samples were read)")
    return {k: np.concatenate(v) for k, v in cols.items()}


def report(p: dict[str, np.ndarray]) -> dict:
    """Headline metrics + per view-angle bin. 2D: crop units in [-1, 1], so PCK@0.1 means within
    5% of the crop side."""
    def one(m):
        return metrics.summary(p["pred3d"][m], p["gt3d"][m], p["pred2d"][m], p["gt2d"][m], p["vis"][m],
                               pck2d_threshold=0.1)
    out = one(np.ones(len(p["angle"]), bool))
    out["by_view_angle"] = {}
    for lo, hi in zip(ANGLE_BINS[:-1], ANGLE_BINS[1:]):
        m = (p["angle"] >= lo) & ((p["angle"] < hi) | (hi == 180))
        if m.any():
            out["by_view_angle"][f"{lo}-{hi}"] = one(m)
    edge = (p["angle"] >= 60) & (p["angle"] < 120)
    if edge.any():
        out["edge_on_60_120"] = one(edge)
    out["pck_curve_3d"] = metrics.pck_curve(metrics.joint_errors_mm(p["pred3d"], p["gt3d"])).round(4).tolist()
    out["pa_pck_curve_3d"] = metrics.pck_curve(
        metrics.joint_errors_mm(p["pred3d"], p["gt3d"], align=True)).round(4).tolist()
    return out


def plot_pck(curves: dict[str, list[float]], path: str | Path, size=(520, 380)) -> Path:
    """PCK curves (0-50 mm) as a PNG, drawn with PIL."""
    W, H = size
    L, R, T, B = 50, 150, 20, 40
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    d.rectangle([L, T, W - R, H - B], outline="black")
    X = lambda t: L + (W - R - L) * t / 50.0          # noqa: E731
    Y = lambda v: H - B - (H - B - T) * v             # noqa: E731
    for t in range(0, 51, 10):
        d.line([X(t), H - B, X(t), H - B + 4], fill="black")
        d.text((X(t) - 6, H - B + 6), str(t), fill="black")
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        d.line([L - 4, Y(v), L, Y(v)], fill="black")
        d.text((8, Y(v) - 6), f"{v:.2f}", fill="black")
    d.text((L + 60, H - 16), "3D error threshold (mm)", fill="black")
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (0, 0, 0)]
    for i, (name, c) in enumerate(curves.items()):
        col = colours[i % len(colours)]
        pts = [(X(t), Y(v)) for t, v in zip(metrics.PCK_THRESHOLDS_MM, c)]
        d.line(pts, fill=col, width=2)
        d.line([W - R + 10, T + 14 * i + 6, W - R + 24, T + 14 * i + 6], fill=col, width=2)
        d.text((W - R + 28, T + 14 * i), name[:18], fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def write(result: dict, out_dir: str | Path, name: str = "eval") -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath = out_dir / f"{name}.json"
    jpath.write_text(json.dumps(result, indent=1))
    ppath = plot_pck({"root-relative": result["pck_curve_3d"], "Procrustes": result["pa_pck_curve_3d"]},
                     out_dir / f"{name}_pck.png")
    return jpath, ppath


def format_table(result: dict) -> str:
    rows = [("all", result)] + [(f"view {k} deg", v) for k, v in result.get("by_view_angle", {}).items()]
    lines = [f"{'subset':<18}{'n':>6}{'MPJPE':>9}{'PA-MPJPE':>10}{'AUC':>7}{'PA-AUC':>8}{'PCK2D':>7}"]
    for name, r in rows:
        lines.append(f"{name:<18}{r['count']:>6}{r['mpjpe_mm']:>9.1f}{r['pa_mpjpe_mm']:>10.1f}"
                     f"{r['auc_3d']:>7.3f}{r['pa_auc_3d']:>8.3f}{r.get('pck_2d', float('nan')):>7.3f}")
    return "\n".join(lines)
