"""Training and evaluation batches from the crop cache (trainer/cache.py).

A loader (DataLoader, ``workers`` processes) only gathers cached uint8 crops and labels by pair
index from the memory maps; cropping, in-plane rotation and appearance changes run batched in
torch on the training device (``views``), so a GPU is not starved by per-image Python work.

Labels stay exact under augmentation (trainer/crop.py): a crop rotated in-plane by theta sees the
camera-frame points Rz(theta) X through intrinsics K', and the 2.5D labels (trainer/pose25d.py)
are computed from (K', X'). After augmenting both views, the pair relation is
R = Rz(theta_b) R_ab Rz(theta_a)^T.

With ``mirror_left`` a left hand's crop is also mirrored left-right, so the network sees only right
hands (as HaMeR and FrankMocap do). Mirroring the crop image is the reflection M = diag(-1, 1, 1)
of the camera frame seen through K' with cx' -> S - 1 - cx': X' = M Rz X, u' = -u in crop units,
exact like the rotation. Both views of a pair are the same hand, so R = M Rz_b R_ab Rz_a^T M stays
a rotation. Such a view's ``left`` is then False (the network's prior is a right hand); ``mirrored``
marks it, and trainer.metrics.mirror (x -> -x, in 3D and in crop units alike, whose centre is the
mirror's axis) takes predictions and labels back to the camera's own handedness.

With ``upright`` (an in-plane canonical crop, as MediaPipe's landmark model takes): a share
(``upright_share``) of the labeled views is rotated so that the hand's 2D axis, wrist -> centroid
of the keypoints, points up, give or take ``upright_jitter`` degrees (``upright_angle``); the
others, and every unlabeled view, keep the usual rotation and teach the first pass. Evaluation
takes two passes (trainer/evaluate.py): the plain crop gives the axis from the predicted
keypoints, and the upright crop the prediction.

Label budget: the pairs whose labels may be used are a fixed share of the pairs (``label_keep``,
a hash of shard name and key: the same pairs in every run and epoch); ``labels`` says which views
of them carry labels: ``a``; ``transport`` (view a's, and for b the transported label
R_ab (X_a - X_a,0) + X_a,0: no label of b is read); ``both`` (each view's own annotation);
``none``. The label-free losses draw from the other pairs.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from trainer import pose25d
from generator.parts import HAND_IDS
from trainer.cache import PARTS_UNKNOWN, CacheGeometry, CropSet
from trainer.crop import crop_batch

LABEL_MODES = ("a", "transport", "both", "none")


@dataclasses.dataclass
class DataConfig:
    crop: int = 64                 # network input side (px)
    margin: float = 0.25           # crop side = (1 + margin) x the bbox's longer side
    context: float = 1.625         # the cache keeps this much more around the crop for augmentation
    augment: bool = True           # scale/shift jitter, in-plane rotation, appearance changes
    rotate_deg: float = 45.0       # in-plane rotation range (+-)
    scale_jitter: tuple[float, float] = (0.9, 1.15)
    shift_jitter: float = 0.08     # centre shift, fraction of the crop side
    mirror_left: bool = False      # left hands' crops mirrored to right hands (labels exactly)
    upright: bool = False          # a share of the labeled views turned upright (module docstring)
    upright_share: float = 0.75
    upright_jitter: float = 30.0   # degrees (+-) around upright: pass one's axis errs by about this

    def geometry(self) -> CacheGeometry:
        return CacheGeometry(self.crop, self.margin, self.context)


def label_keep(key: str, fraction: float) -> bool:
    """Deterministic per-pair label budget: the same pairs are labeled in every run and epoch."""
    if fraction >= 1.0:
        return True
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return h / 2**64 < fraction


def split_pairs(crops: CropSet, fraction: float, labeled_specs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the pairs whose labels may be used, and of the others. With ``labeled_specs``
    only the first that many SPECs have labels to use (the rest are ``--unlabeled-shards``)."""
    keep = np.array([label_keep(k, fraction) for k in crops.meta["keys"]], dtype=bool)
    if labeled_specs is not None:
        keep &= crops.spec < labeled_specs
    return np.flatnonzero(keep), np.flatnonzero(~keep)


@dataclasses.dataclass(frozen=True)
class ViewPrep:
    """Which views a step needs, for preparing them in the loader's worker (CPU training): there
    they overlap the network's step instead of adding to it. On a GPU the main process prepares
    them on the device, where they cost little."""
    data: DataConfig
    lab_views: str               # "a" or "ab"
    transport: bool
    parts: bool = False          # the labeled views' part ids too (the part loss)
    unlabeled_in_worker: bool = True  # the unlabeled pairs' views too (False: the step turns them by
                                      # the teacher's first pass, trainer.loop.teacher_upright_views,
                                      # so it needs their cached crops)
    teacher_clean: bool = False  # the unlabeled pairs' view a also as the teacher sees it best (teacher_view)

    def labeled(self, part: dict, g, device) -> dict:
        return views(part, self.lab_views, self.data, g, device, transport=self.transport, parts=self.parts,
                     labeled=True)

    def unlabeled(self, part: dict, g, device) -> dict:
        U = views(part, "ab", self.data, g, device)
        if self.teacher_clean:
            U.update(teacher_view(part, U, self.data, device))
        return U


class PairBatches(torch.utils.data.IterableDataset):
    """Endless batches {"lab": pairs, "unl": pairs or None} of gathered cache rows (numpy); with a
    ViewPrep also their prepared views {"lab_views": views(...), "unl_views": ...} (tensors).

    Pairs are drawn with probability proportional to their SPEC's weight over the SPEC's pairs in
    the pool; the stream, augmentation included, is a pure function of the seed (each worker gets
    its own)."""

    def __init__(self, crops: CropSet, labeled: np.ndarray, unlabeled: np.ndarray | None,
                 batch_size: int, unlabeled_batch: int, seed: int, prep: ViewPrep | None = None,
                 parts: bool = False):
        self.crops, self.seed, self.prep = crops, seed, prep
        self.parts = parts
        self.pools = [(labeled, batch_size)] + ([(unlabeled, unlabeled_batch)] if unlabeled is not None else [])
        self.probs = []
        for pool, _ in self.pools:
            if len(pool) == 0:
                raise ValueError("no pairs to draw from (label budget or data too small)")
            spec = crops.spec[pool]
            w = np.asarray(crops.weights)[spec] / np.bincount(spec, minlength=len(crops.weights))[spec]
            self.probs.append(w / w.sum())

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        g = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            out = {}
            for name, (pool, n), p in zip(("lab", "unl"), self.pools, self.probs):
                need = name == "lab" and self.parts
                out[name] = self.crops.gather(np.sort(g.choice(pool, size=n, p=p)), parts=need)
            out.setdefault("unl", None)
            if self.prep is not None:
                out["lab_views"] = self.prep.labeled(_to_tensors(out["lab"]), g, "cpu")
                if out["unl"] is not None and self.prep.unlabeled_in_worker:
                    out["unl_views"] = self.prep.unlabeled(_to_tensors(out["unl"]), g, "cpu")
                # the step reads only the prepared views: the cached crops need not cross to it
                for part in (out["lab"], out["unl"] if self.prep.unlabeled_in_worker else None):
                    if part is not None:
                        del part["images"]
                        part.pop("parts", None)
            yield out


def loader(crops: CropSet, labeled, unlabeled, batch_size: int, unlabeled_batch: int, seed: int,
           workers: int, pin: bool = False, prep: ViewPrep | None = None, parts: bool = False):
    ds = PairBatches(crops, labeled, unlabeled, batch_size, unlabeled_batch, seed, prep, parts)
    # With views prepared in a CPU worker the batch is ~46 small arrays: as tensors each crosses
    # through its own shared-memory file descriptor (measured 11-16 ms a batch with the queue
    # full); as numpy arrays they are pickled in one message and become tensors here.
    as_numpy = workers > 0 and prep is not None and not pin
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers, pin_memory=pin,
                                     persistent_workers=workers > 0,
                                     prefetch_factor=4 if workers > 0 else None,
                                     collate_fn=_to_numpy if as_numpy else _to_tensors)
    return map(_to_tensors, dl) if as_numpy else dl


def _to_numpy(x):
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    return x.numpy() if torch.is_tensor(x) else x


def _to_tensors(x):
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: _to_tensors(v) for k, v in x.items()}
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(x))
    return x


def eval_batches(crops: CropSet, batch_size: int, limit: int | None = None):
    """Every pair once (the first ``limit`` pairs), in order (tensors, un-augmented)."""
    n = len(crops) if limit is None else min(len(crops), limit)
    for s in range(0, n, batch_size):
        yield _to_tensors(crops.gather(np.arange(s, min(n, s + batch_size))))


# --- on-device views ---------------------------------------------------------------------------

def appearance(x: torch.Tensor, g: np.random.Generator) -> torch.Tensor:
    """Random lighting/camera-like change of float images (N, 3, H, W) in [0, 255]: contrast,
    brightness, channel gains, 10% greyscale, Gaussian sensor noise."""
    N = len(x)
    t = lambda a: torch.as_tensor(a, dtype=x.dtype, device=x.device)  # noqa: E731
    m = x.mean((1, 2, 3), keepdim=True)
    x = (x - m) * t(g.uniform(0.6, 1.4, N))[:, None, None, None] + m * t(g.uniform(0.6, 1.4, N))[:, None, None, None]
    x = x * t(g.uniform(0.8, 1.2, (N, 3)))[:, :, None, None]
    grey = t(g.random(N) < 0.1)[:, None, None, None]
    x = grey * x.mean(1, keepdim=True) + (1 - grey) * x
    noise = torch.randn(x.shape, generator=torch.Generator(x.device).manual_seed(int(g.integers(2**62))),
                        device=x.device, dtype=x.dtype)
    x = x + noise * t(g.uniform(0, 8, N))[:, None, None, None]
    return x.clamp(0, 255)


def teacher_view(part: dict, U: dict, dcfg, device, theta_a: torch.Tensor | None = None) -> dict:
    """View a of unlabeled pairs as the teacher sees it best, for ``teacher_clean``: no scale,
    shift or appearance jitter, turned by ``theta_a`` if given (the un-jittered turn of
    trainer.loop.teacher_upright_views), else not at all, as evaluation sees a view. ``R_t`` maps
    its crop frame to the student's view b of ``U`` (its augmented views), so the target lands
    where the student looks, and ``R_ta`` onto the student's own (augmented) view a, where
    ``w_teacher_a`` puts it. Draws no random numbers: the student's stream is that of the run
    without the option."""
    A = views(part, "a", dataclasses.replace(dcfg, augment=False), None, device,
              thetas=None if theta_a is None else {"a": theta_a})
    R_ab = part["R_ab"].to(device=device, dtype=torch.float32)
    return {"img_t": A["img_a"], "K_t": A["K_a"], "X_t": A["X_a"],
            "R_t": U["Rz_b"] @ R_ab @ A["Rz_a"].transpose(1, 2), "R_ta": U["Rz_a"] @ A["Rz_a"].transpose(1, 2)}


def upright_angle(p: torch.Tensor, mirrored: torch.Tensor | None = None) -> torch.Tensor:
    """In-plane rotation (radians, the ``theta`` of trainer.crop) that turns the hand's 2D axis,
    wrist -> centroid of the 21 keypoints, to point up. ``p`` (N, 21, 2) are keypoints in any
    frame with square pixels and y down (image pixels or crop units); ``mirrored`` (N,) marks
    keypoints given in a mirrored crop, whose axis is turned back before the angle is taken, since
    the crop is rotated before it is mirrored (``views``). The centroid, not one joint: a finger
    along the line of sight leaves its own direction undefined, the mass of the hand does not."""
    d = p.mean(1) - p[:, 0]
    dx = d[:, 0] if mirrored is None else torch.where(mirrored.to(d.device), -d[:, 0], d[:, 0])
    return -np.pi / 2 - torch.atan2(d[:, 1], dx)


@torch.no_grad()
def first_pass_thetas(net, V: dict, which: str) -> dict:
    """{view: (N,) radians}: the turn that points each hand's axis up, from a network's first pass
    on the crops of ``views`` output V (evaluation's upright pass; the teacher's, --teacher-upright)."""
    return {v: upright_angle(net(V[f"img_{v}"], V[f"K_{v}"], V["left"])["uv"].double(), V["mirrored"])
            for v in which}


def transported(X: torch.Tensor, R_ab: torch.Tensor) -> torch.Tensor:
    """View b's keypoints from view a's label and the pair's rotation about the wrist."""
    root = X[:, :1]
    return torch.einsum("nij,nkj->nki", R_ab, X - root) + root


def _in_frame(X, K, resolution):
    uv = pose25d.project(K, X)
    W, H = resolution[:, None, 0], resolution[:, None, 1]
    return (uv[..., 0] >= -0.5) & (uv[..., 0] < W - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < H - 0.5) & (X[..., 2] > 0)


PART_CLASSES = HAND_IDS[-1] + 1    # background/other + the hand's 22 part ids


def part_classes(ids: torch.Tensor) -> torch.Tensor:
    """Part ids (docs/FORMAT.md) -> the part loss's classes: the hand's own ids (palm .. nails,
    1-22), everything else (background, arm, wear, distractors) 0; PARTS_UNKNOWN stays."""
    out = torch.where(ids <= HAND_IDS[-1], ids, torch.zeros_like(ids))
    return torch.where(ids == PARTS_UNKNOWN, ids, out)


MIRROR_X = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))


def mirror(m: torch.Tensor, img, Kc, Rz, ids, S: int):
    """Mirror the crops ``m`` (N,) bool left-right: image (and part ids), cx' -> S - 1 - cx', and
    the frame change Rz -> M Rz (module docstring)."""
    img, Kc, Rz = img.clone(), Kc.clone(), Rz.clone()
    img[m] = img[m].flip(-1)
    Kc[m, 0, 2] = (S - 1) - Kc[m, 0, 2]
    Rz[m] = MIRROR_X.to(Rz) @ Rz[m]
    if ids is not None:
        ids = ids.clone()
        ids[m] = ids[m].flip(-1)
    return img, Kc, Rz, ids


def views(part: dict, which: str, cfg: DataConfig, g: np.random.Generator | None, device,
          transport: bool = False, parts: bool = False, thetas: dict | None = None,
          labeled: bool = False) -> dict:
    """Network inputs and labels for views ``which`` ("a", "b" or "ab") of gathered pairs.

    Returns per view v: ``img_v`` (N, 3, S, S) in [-1, 1], ``K_v``, ``X_v`` (root-relative metres
    in the crop's frame), ``uv_v``, ``zrel_v``, ``scale_v`` (palm scale, m), ``vis_v`` (in the
    image and in the crop), ``Rz_v`` (N, 3, 3) the camera frame to the crop's, and ``R`` (N, 3, 3)
    mapping a's crop frame to b's (root-relative).
    ``thetas`` {view: (N,) radians}: the in-plane rotation of those views' crops, instead of none or
    a random one (evaluation's upright pass); ``labeled``: views whose labels training may use
    (``cfg.upright`` turns a share of them upright). With ``parts``: ``parts_v`` (N, S, S) int64
    part classes (``part_classes``), PARTS_UNKNOWN for
    a view without a part pass and for a transported view (its own parts would be a new label).
    ``left`` (N,) the hands the network should take for left ones, ``mirrored`` (N,) those mirrored
    (``cfg.mirror_left``)."""
    geo = cfg.geometry()
    S, Sc = cfg.crop, geo.size
    aug = cfg.augment and g is not None
    f64 = dict(device=device, dtype=torch.float64)
    R_ab = part["R_ab"].to(**f64)
    out, rz = {}, {}
    left = part["left"].to(device).bool()
    mirrored = left.clone() if cfg.mirror_left else torch.zeros_like(left)
    for v in "ab":
        if v not in which:
            continue
        i = "ab".index(v)
        N = len(R_ab)
        X = part["X"][:, i].to(**f64)
        inf = part["in_frame"][:, i].to(device)
        if v == "b" and transport:
            X = transported(part["X"][:, 0].to(**f64), R_ab)
            inf = _in_frame(X, part["K_image"][:, 1].to(**f64), part["resolution"][:, 1].to(**f64))
        if aug:
            scale = torch.as_tensor(g.uniform(*cfg.scale_jitter, N), **f64)
            shift = torch.as_tensor(g.uniform(-cfg.shift_jitter, cfg.shift_jitter, (N, 2)), **f64)
            theta = torch.as_tensor(g.uniform(-1, 1, N) * np.radians(cfg.rotate_deg), **f64)
        else:
            scale, shift, theta = torch.ones(N, **f64), torch.zeros(N, 2, **f64), torch.zeros(N, **f64)
        if thetas is not None and v in thetas:
            theta = thetas[v].to(**f64)
        elif aug and cfg.upright and labeled:
            # the axis as X shows in the cached crop (its camera K; any square-pixel frame will do)
            up = upright_angle(pose25d.project(part["K"][:, i].to(**f64), X))
            up = up + torch.as_tensor(g.uniform(-1, 1, N) * np.radians(cfg.upright_jitter), **f64)
            pick = torch.as_tensor(g.random(N) < cfg.upright_share, device=device)
            theta = torch.where(pick, up, theta)
        side = Sc / cfg.context * scale
        centre = (Sc - 1) / 2 + shift * side[:, None]
        imgs = part["images"][:, i].to(device, non_blocking=True)
        own_parts = parts and not (v == "b" and transport)   # a transported view's parts would be a new label
        ids = part["parts"][:, i].to(device) if own_parts else None
        img, Kc, Rz, got = crop_batch(imgs, part["K"][:, i].to(**f64), centre, side, S, theta, labels=ids)
        if mirrored.any():
            img, Kc, Rz, got = mirror(mirrored, img, Kc, Rz, got, S)
        if own_parts:
            got[(ids == PARTS_UNKNOWN).flatten(1).any(1)] = PARTS_UNKNOWN   # no part pass in the shard
            out[f"parts_{v}"] = part_classes(got)
        elif parts:
            out[f"parts_{v}"] = torch.full((N, S, S), PARTS_UNKNOWN, dtype=torch.int64, device=device)
        if aug:
            img = appearance(img, g)
        Xc = torch.einsum("nij,nkj->nki", Rz, X)
        uv, zrel, s = pose25d.encode(Xc, Kc, S)
        rz[v] = Rz
        out.update({f"img_{v}": (img / 127.5 - 1.0).float().contiguous(), f"K_{v}": Kc.float(), f"Rz_{v}": Rz.float(),
                    f"X_{v}": (Xc - Xc[:, :1]).float(), f"uv_{v}": uv.float(), f"zrel_{v}": zrel.float(),
                    f"scale_{v}": s.float(), f"vis_{v}": inf & (uv.abs() <= 1).all(-1)})
    out["mirrored"], out["left"] = mirrored, left & ~mirrored
    if len(rz) == 2:
        out["R"] = (rz["b"] @ R_ab @ rz["a"].transpose(1, 2)).float()
    return out
