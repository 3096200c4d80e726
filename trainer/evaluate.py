"""Evaluation: predictions over cached shards (or FreiHAND), headline metrics, the same for easy
and hard views and per palm-angle bin, the mean-pose floor, and a PCK-curve PNG.

Predicted poses are decoded from 2.5D in units of the palm scale and made metric with the mean
palm scale of the training labels (the checkpoint's ``palm_scale_m``): root-relative MPJPE
depends on it, PA-MPJPE (similarity-aligned) does not.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from generator.conventions import is_easy_view, is_hard_view, view_angles
from trainer import metrics, prior_fit
from trainer.prior_fit import FitConfig
from trainer.data import DataConfig, eval_batches, first_pass_thetas, label_keep, views as make_views

PALM_BINS = (0, 30, 60, 90)        # palm_deg: 0 = palm or back faces the camera, 90 = edge-on

def shard_view_batches(crops, crop: int, device, views=("a", "b"), batch_size: int = 64,
                       limit: int | None = None, mirror_left: bool = False, upright=None):
    """Un-augmented network inputs and labels of every view of a CropSet (of its first ``limit``
    pairs), batch by batch; with ``mirror_left`` left hands mirrored as the model was trained
    (``left`` stays the true side; ``mirrored`` marks them). With ``upright`` (a model trained
    with upright crops, trainer/data.py) the crops are its upright ones: a first pass of that model
    on the plain crop gives the hand's axis from its predicted keypoints, and the crop is turned
    by ``upright_angle`` of them. Labels come in the turned crop's frame, as always for a crop:
    the 3D metrics are blind to that turn about the optical axis; the 2D ones score the keypoints
    inside the turned crop (a few per thousand change sides)."""
    dcfg = DataConfig(crop=crop, augment=False, mirror_left=mirror_left)
    for part in eval_batches(crops, batch_size, limit):
        V = make_views(part, "".join(views), dcfg, None, device)
        if upright is not None:
            V = make_views(part, "".join(views), dcfg, None, device, thetas=first_pass_thetas(upright, V, views))
        for v in views:
            i = "ab".index(v)
            X = part["X"][:, i].numpy()
            yield {"img": V[f"img_{v}"], "K": V[f"K_{v}"], "X": V[f"X_{v}"], "uv": V[f"uv_{v}"],
                   "vis": V[f"vis_{v}"], "X_camera": X, "in_frame": part["in_frame"][:, i].numpy(),
                   "left": part["left"].numpy(), "mirrored": V["mirrored"].cpu().numpy(),
                   "key": np.asarray(part["keys"])}


def fitted_pose(model, out: dict, K, left, cfg: FitConfig) -> torch.Tensor:
    """The prior fitted to the network's 2.5D estimate (trainer/prior_fit.py), started from and
    centred on the prior head's pose; palm-scale units, root-relative."""
    with torch.inference_mode(False), torch.no_grad():
        args = [t.clone() for t in (out["uv"], out["zrel"], K, left, model.prior_mean, model.prior_basis,
                                    model.prior_std, out["pose"])]
        P, _ = prior_fit.fit(*args, coef=out["coef"].clone(), size=model.cfg.crop, cfg=cfg)
    return P.to(out["pose"].dtype)


@torch.no_grad()
def predict(model, batches, scale_m: float, fit: FitConfig | None = None) -> dict[str, np.ndarray]:
    """Run the model over view batches; collect predictions, labels and view angles. With a prior
    head and ``fit``, the prediction (pred3d) is the prior fitted to the 2.5D estimate, and the
    head's own pose is kept as pred_head. Views the batches mirrored (``mirrored``) go into the model
    as right hands; their predictions and labels come back in the camera's own handedness."""
    model.eval()
    refine = fit is not None and model.cfg.pose_head == "prior"
    cols = {k: [] for k in ("pred3d", "pred_head", "pred25d", "gt3d", "pred2d", "gt2d", "vis", "palm_deg", "finger_deg", "easy", "hard", "left", "key")}
    for b in batches:
        m = np.asarray(b.get("mirrored", np.zeros(len(b["left"]), bool)), bool)
        left = torch.as_tensor(np.asarray(b["left"], bool) & ~m, device=b["img"].device)
        out = model(b["img"], b["K"], left)
        pose = fitted_pose(model, out, b["K"], left, fit) if refine else out["pose"]
        back = lambda t: metrics.mirror(t.float().cpu().numpy(), m)  # noqa: E731
        cols["pred3d"].append(back(pose * scale_m))
        if refine:
            cols["pred_head"].append(back(out["pose"] * scale_m))
        cols["pred25d"].append(back(out["pose25d"] * scale_m))
        cols["pred2d"].append(back(out["uv"]))
        cols["gt3d"].append(back(b["X"]))
        cols["gt2d"].append(back(b["uv"]))
        cols["vis"].append(b["vis"].cpu().numpy())
        palm, finger = view_angles(b["X_camera"])
        cols["palm_deg"].append(np.atleast_1d(palm))
        cols["finger_deg"].append(np.atleast_1d(finger))
        cols["easy"].append(np.atleast_1d(is_easy_view(b["X_camera"], np.asarray(b["in_frame"]).all(-1))))
        cols["hard"].append(np.atleast_1d(is_hard_view(b["X_camera"])))
        cols["left"].append(np.asarray(b["left"], bool))
        if "key" in b:
            cols["key"].append(np.asarray(b["key"]))
    if not cols["pred3d"]:
        raise ValueError("evaluation set is empty (no samples were read)")
    return {k: np.concatenate(v) for k, v in cols.items() if v}


def report(p: dict[str, np.ndarray], mean_pose: np.ndarray | None = None,
           label_fraction: float | None = None) -> dict:
    """Headline metrics, the same on easy views, hard views and per palm-angle bin, and (given the
    mean training pose) the floor: the metrics of predicting that one pose for every view.
    2D PCK: within 0.1 crop units (5% of the crop side). With ``label_fraction`` (a run's label
    budget, evaluated on its own train shards): the same for the pairs whose labels it could use
    (trainer.data.label_keep) and for the others, to see how far it learned its labels by heart."""
    def one(m):
        return metrics.summary(p["pred3d"][m], p["gt3d"][m], p["pred2d"][m], p["gt2d"][m], p["vis"][m],
                               pck2d_threshold=0.1)
    out = one(np.ones(len(p["pred3d"]), bool))
    for name in ("easy", "hard"):
        if p[name].any():
            out[f"{name}_views"] = one(p[name])
    if label_fraction is not None:
        if "key" not in p:
            raise ValueError("a split by label budget needs the pairs' keys (shards, not FreiHAND)")
        lab = np.array([label_keep(str(k), label_fraction) for k in p["key"]], bool)
        out["by_label_budget"] = {"label_fraction": label_fraction,
                                  **{n: one(m) for n, m in (("labeled_pairs", lab), ("other_pairs", ~lab)) if m.any()}}
    out["by_palm_deg"] = {}
    for lo, hi in zip(PALM_BINS[:-1], PALM_BINS[1:]):
        m = (p["palm_deg"] >= lo) & ((p["palm_deg"] < hi) | (hi == PALM_BINS[-1]))
        if m.any():
            out["by_palm_deg"][f"{lo}-{hi}"] = one(m)
    # the decoded 2.5D pose beside a prior head's (the same as pred3d for a 2.5D model)
    if "pred25d" in p:
        out["pa_mpjpe_25d_mm"] = float(metrics.joint_errors_mm(p["pred25d"], p["gt3d"], align=True).mean())
    # the head's own pose beside the fit to the 2.5D estimate (without a fit, the prediction itself)
    out["pa_mpjpe_head_mm"] = (float(metrics.joint_errors_mm(p["pred_head"], p["gt3d"], align=True).mean())
                               if "pred_head" in p else out["pa_mpjpe_mm"])
    out["pck_curve_3d"] = metrics.pck_curve(metrics.joint_errors_mm(p["pred3d"], p["gt3d"])).round(4).tolist()
    out["pa_pck_curve_3d"] = metrics.pck_curve(
        metrics.joint_errors_mm(p["pred3d"], p["gt3d"], align=True)).round(4).tolist()
    if mean_pose is not None:
        out["mean_pose_floor"] = metrics.summary(metrics.every_view(mean_pose, p["left"]), p["gt3d"])
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
    rows = [("all", result)] + [(f"{k} views", result[f"{k}_views"]) for k in ("easy", "hard") if f"{k}_views" in result]
    rows += [(f"palm {k} deg", v) for k, v in result.get("by_palm_deg", {}).items()]
    rows += [(k.replace("_", " "), v) for k, v in result.get("by_label_budget", {}).items() if isinstance(v, dict)]
    if "mean_pose_floor" in result:
        rows.append(("mean-pose floor", result["mean_pose_floor"]))
    lines = [f"{'subset':<18}{'n':>6}{'MPJPE':>9}{'PA-MPJPE':>10}{'AUC':>7}{'PA-AUC':>8}{'PCK2D':>7}"]
    for name, r in rows:
        lines.append(f"{name:<18}{r['count']:>6}{r['mpjpe_mm']:>9.1f}{r['pa_mpjpe_mm']:>10.1f}"
                     f"{r['auc_3d']:>7.3f}{r['pa_auc_3d']:>8.3f}{r.get('pck_2d', float('nan')):>7.3f}")
    return "\n".join(lines)
