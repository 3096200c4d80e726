"""Pose sampling: named grasp-taxonomy and gesture poses, blended and perturbed within the joint
limits, plus a uniform-within-limits mode; penetrating poses are resolved on the mesh.

Library poses follow the grasp taxonomy of Feix et al., "The GRASP Taxonomy of Human Grasp
Types", IEEE THMS 46(1), 2016 (power: cylinder, sphere, hook; precision: pinch, tripod; lateral
/ key pinch) plus common gestures. Angles in degrees, (flexion, abduction, twist), see base.py.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from threadpoolctl import threadpool_limits

from generator.conventions import rng as make_rng
from generator.hand.base import JOINTS
from generator.hand.exact import matmul, matvec, solve_spd
from generator.hand.limits import LOWER, UPPER, clip_to_limits

FOUR = ("index", "middle", "ring", "little")


def _pose(fingers=None, thumb=None, spread=None, wrist=(0.0, 0.0), **per_finger) -> np.ndarray:
    """Build a (20, 3) pose: `fingers` = (mcp, pip, dip) flexion for all four fingers, overridden
    per finger by keyword; `thumb` = ((cmc_flex, cmc_abd), mcp, ip); `spread` = abduction of the
    four MCPs (index, middle, ring, little)."""
    p = np.zeros((len(JOINTS), 3))
    p[JOINTS.index("wrist"), :2] = wrist
    for f in FOUR:
        flex = per_finger.get(f, fingers)
        if flex is not None:
            for joint, angle in zip(("mcp", "pip", "dip"), flex):
                p[JOINTS.index(f"{f}_{joint}"), 0] = angle
    if spread is not None:
        for f, a in zip(FOUR, spread):
            p[JOINTS.index(f"{f}_mcp"), 1] = a
    if thumb is not None:
        (cmc_f, cmc_a), mcp, ip = thumb
        p[JOINTS.index("thumb_cmc"), :2] = (cmc_f, cmc_a)
        p[JOINTS.index("thumb_mcp"), 0] = mcp
        p[JOINTS.index("thumb_ip"), 0] = ip
    return p


# A fist's fingers as the pose sampler leaves them resting on the palm (contacts resolved from
# (85, 100, 60) with the thumb out of the way: anny's long distal segments sink 11-16 mm into the
# palm at those angles), so that a fist's thumb can be solved onto where the fingers really lie.
FIST = {"index": (61, 72, 43), "middle": (68, 80, 48), "ring": (66, 78, 47), "little": (61, 72, 43)}
# The thumbs are solved on the mesh for what each pose means (generator.hand.grasp_fit: a pinch's
# thumb pad touches the index's, a fist's thumb lies over the index finger, a flat thumb stays
# near the palm's plane); `python -m generator.hand.grasp_fit` reprints them.
LIBRARY: dict[str, np.ndarray] = {
    "flat": _pose(thumb=((-18, -20), -10, -7)),
    "relaxed": _pose(index=(15, 25, 12), middle=(20, 30, 15), ring=(25, 35, 18), little=(30, 40, 20),
                     thumb=((15, -17), 8, 8)),
    "fist": _pose(**FIST, thumb=((12, -3), 27, 63)),
    "point": _pose(**{**FIST, "index": (0, 0, 0)}, thumb=((28, -1), 31, 30)),
    "pinch": _pose(fingers=(25, 35, 20), index=(35, 45, 25), thumb=((19, 6), 14, 19)),
    "tripod": _pose(fingers=(60, 80, 50), index=(35, 45, 25), middle=(35, 45, 25), thumb=((28, -3), 14, 11)),
    "ok": _pose(fingers=(10, 10, 5), index=(40, 60, 40), spread=(0, -3, -8, -15), thumb=((27, 8), 22, 30)),
    "cylinder": _pose(fingers=(55, 65, 35), thumb=((30, 15), 20, 25)),
    "sphere": _pose(fingers=(35, 40, 25), spread=(10, 0, -8, -15), thumb=((43, 15), 30, 15)),
    "spread": _pose(spread=(15, 3, -10, -15), thumb=((-20, -8), -10, -20)),
    "thumbs_up": _pose(**FIST, thumb=((-20, -4), -10, -10)),
    "victory": _pose(**{**FIST, "index": (0, 0, 0), "middle": (0, 0, 0)}, spread=(12, -8, 0, 0),
                     thumb=((33, -7), 36, 40)),
    "hook": _pose(fingers=(0, 90, 60), thumb=((27, -19), 21, 2)),
    "key_pinch": _pose(fingers=(60, 80, 40), thumb=((12, -9), 16, 14)),
    "claw": _pose(fingers=(-20, 80, 70), thumb=((20, 15), 20, 40)),
    "call_me": _pose(**{**FIST, "little": (0, 0, 0)}, spread=(0, 0, 0, -15), thumb=((-20, -1), -10, -17)),
}
for _name, _p in LIBRARY.items():
    assert np.all((_p >= LOWER) & (_p <= UPPER)), f"library pose {_name} violates the joint limits"

NOISE_DEG = np.array([7.0, 4.0, 2.0])          # per-angle perturbation sigma (flex, abd, twist)
MODES = ("mixed", "library", "uniform")


# The modules a sampled pose's keypoints depend on beyond the arrays above: the draw rules and
# contact resolution (this file, penetration), the rig and its skinning (anny). Their source is
# hashed, so an edited constant or rule rebuilds the caches keyed by the fingerprint.
SAMPLER_MODULES = ("generator.hand.poses", "generator.hand.limits", "generator.hand.penetration",
                   "generator.hand.base", "generator.hand.anny_backend", "generator.hand.anny_rest",
                   "generator.hand.skinning", "generator.hand.mesh_ops", "generator.hand.arm")


def sampler_fingerprint() -> str:
    """Short hash of what the sampler draws from (library poses, joint limits, noise, the source of
    SAMPLER_MODULES, the anny package's version): caches of sampled poses (the trainer's pose prior)
    are keyed by it, so a changed library, rule, constant or rig rebuilds them."""
    import hashlib
    import importlib.metadata
    import importlib.util
    h = hashlib.sha256()
    for name, pose in LIBRARY.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(pose, np.float64).tobytes())
    for a in (LOWER, UPPER, NOISE_DEG):
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    for module in SAMPLER_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"sampler_fingerprint: cannot find the source of {module}")
        with open(spec.origin, "rb") as f:
            h.update(module.encode() + b"\0" + f.read())
    try:
        h.update(importlib.metadata.version("anny").encode())
    except importlib.metadata.PackageNotFoundError:
        h.update(b"anny: not installed")
    return h.hexdigest()[:10]


@dataclasses.dataclass
class PoseSet:
    poses: np.ndarray             # (N, 20, 3) degrees, all within limits
    kind: list[str]               # "a+b" blend names or "uniform"
    blend: np.ndarray             # (N,) weight of the second library pose
    relax_steps: np.ndarray       # (N,) contact-resolution steps the pose needed (0: none)
    penetration: np.ndarray       # (N,) final deepest collision, metres (the meter's)
    shapes: list[dict]            # (N,) the shape each pose was resolved on


def _finger_joints(finger: str) -> list[int]:
    return [i for i, j in enumerate(JOINTS) if j.startswith(finger + "_")]


def draw_pose(rng: np.random.Generator, mode: str = "mixed", uniform_share: float = 0.2) -> tuple[np.ndarray, str, float]:
    if mode not in MODES:
        raise ValueError(f"pose mode must be one of {MODES}, got {mode!r}")
    if mode == "uniform" or (mode == "mixed" and rng.random() < uniform_share):
        pose = rng.uniform(LOWER, UPPER)
        for f in FOUR:                                   # DIP follows ~2/3 PIP [LIN]
            pip, dip = JOINTS.index(f"{f}_pip"), JOINTS.index(f"{f}_dip")
            pose[dip, 0] = 2 / 3 * pose[pip, 0] + rng.normal(0, 8)
        return clip_to_limits(pose), "uniform", 0.0
    names = list(LIBRARY)
    a, b = rng.choice(len(names), size=2)
    w = float(rng.beta(0.6, 0.6))                        # favour poses near one of the pair
    pose = (1 - w) * LIBRARY[names[a]] + w * LIBRARY[names[b]]
    pose = pose + rng.normal(0.0, 1.0, pose.shape) * NOISE_DEG
    pose[JOINTS.index("wrist"), :2] = rng.normal(0, [15.0, 8.0])
    return clip_to_limits(pose), f"{names[a]}+{names[b]}", w


# Contact resolution: Gauss-Newton on the joint angles of the fingers in contact. Each colliding
# vertex p, inside body B, has a depth d = (q - p) . n below the nearest point q of B's surface
# (n: that face's outward normal; q and n move with the pose, the face and barycentric
# coordinates are held fixed over an outer step). The residual d - CONTACT_DEPTH drives p back
# to the surface, where the fingers still touch; a weak prior keeps the pose near its draw, so a
# grasp stays closed instead of opening.
CONTACT_DEPTH = 0.0005        # m: resolved contacts rest this deep (touching, well within 2 mm)
GOAL_DEPTH = 0.001            # m: stop once no vertex is deeper than this
PRIOR_DEG = 25.0              # prior sigma on moving a joint angle away from its drawn value
STEP_DEG = 12.0               # largest change of one angle per Gauss-Newton step
FD_DEG = 0.5
ITERATIONS = 6                #  halvings of closing-to-contact: each finger within 1/64 of its pose
STALL = 0.7                   # a round that keeps more than this share of the depth has stalled
DEEP = 0.012                  # m: deeper collisions go straight to closing-to-contact (the
                              # linearisation rarely undoes them: 12 of 13 such draws failed)


def _free_columns(fingers: set[str]) -> list[tuple[int, int]]:
    """(joint, angle) pairs the resolution may move: every angle with a range, of these fingers."""
    return [(j, k) for f in sorted(fingers) for j in _finger_joints(f) for k in range(3)
            if UPPER[j, k] > LOWER[j, k]]


def _depths(v: np.ndarray, faces: np.ndarray, contacts) -> np.ndarray:
    """(..., K) signed depths of the contacts' vertices below their faces, for vertex arrays
    v (..., S, 3) indexed by the local ids in `faces` (K, 3) and `contacts` (K,)."""
    tri = v[..., faces, :]                                              # (..., K, 3, 3)
    n = np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return ((tri - v[..., contacts, None, :]) * n[..., None, :]).sum(-1).mean(-1)


def _fingers_of(contacts) -> set[str]:
    """The fingers on either side of these contacts."""
    return {c.body.split("_")[0] for c in contacts} | {
        c.entered.split("_")[0] for c in contacts if c.entered not in ("palm", "arm")}


def resolve_contacts(rig, row: int, pose: np.ndarray, meter, found, max_outer: int = 3,
                     inner: int = 6):
    """The pose (20, 3) moved out of collision on shape `row` of `rig`, starting from the meter's
    `found` (its Penetration with contacts for this pose): (pose, steps, final Penetration).
    Only the fingers in contact move, so later measures look only at them."""
    drawn = pose.copy()
    steps = 0
    result, moving = found, None
    for outer in range(max_outer + 1):
        if outer:
            result = meter.measure(rig.vertices(pose[None], [row])[0], with_contacts=True, moving=moving)
        if result.depth[0] <= GOAL_DEPTH or outer == max_outer:
            break
        if outer and result.depth[0] > max(STALL * previous, 2 * GOAL_DEPTH):
            break                       # not converging: leave it to close_to_contact
        previous = result.depth[0]
        contacts = result.contacts[0]
        fingers = _fingers_of(contacts)
        # only these fingers move: the rest of the hand stays clear of collisions
        moving = fingers if moving is None else moving | fingers
        cols = _free_columns(fingers)
        faces = meter.faces[[c.face for c in contacts]]
        subset, local = np.unique(np.concatenate([[c.vertex for c in contacts], faces.ravel()]),
                                  return_inverse=True)
        vloc, floc = local[:len(contacts)], local[len(contacts):].reshape(-1, 3)
        jr, kr = np.array(cols).T
        for _ in range(inner):
            steps += 1
            trial = np.repeat(pose[None], len(cols) + 1, 0)
            trial[np.arange(1, len(cols) + 1), jr, kr] += FD_DEG
            d = _depths(rig.vertices(trial, [row] * len(trial), subset), floc, vloc)
            active = d[0] > CONTACT_DEPTH
            if not active.any():
                break
            r = d[0, active] - CONTACT_DEPTH
            jac = (d[1:, active] - d[0, active]).T / FD_DEG                # (K, P) m per degree
            prior = (pose[jr, kr] - drawn[jr, kr]) / PRIOR_DEG
            lam = 1e-6 / PRIOR_DEG ** 2
            a = matmul(jac.T, jac) + lam * np.eye(len(cols))
            g = matvec(jac.T, r) + lam * PRIOR_DEG * prior
            delta = -solve_spd(a, g)        # no BLAS/LAPACK: the same step on every CPU
            delta *= min(1.0, STEP_DEG / (np.abs(delta).max() + 1e-12))
            pose[jr, kr] += delta
            pose = clip_to_limits(pose)
    return pose, steps, result


def close_to_contact(rig, row: int, pose: np.ndarray, meter, max_depth: float, found,
                     iterations: int = ITERATIONS) -> tuple[np.ndarray, int, float]:
    """Deep collisions, which a local linearisation cannot undo: each finger in collision (by
    the meter's `found` contacts at `pose`) closes from open (flexion and abduction 0) toward
    its pose only as far as it stays clear, found by bisection on its share t of the pose, so
    the fingers end where they touch."""
    fingers = sorted(_fingers_of(found.contacts[0]))
    lo, hi = {f: 0.0 for f in fingers}, {f: 1.0 for f in fingers}
    best, best_depth = None, np.inf

    def at(shares):
        p = pose.copy()
        for f, t in shares.items():
            p[_finger_joints(f)] *= t
        return p

    for _ in range(iterations):
        mid = {f: (lo[f] + hi[f]) / 2 for f in fingers}
        trial = at(mid)
        result = meter.measure(rig.vertices(trial[None], [row]), with_contacts=True, moving=fingers)
        hit = {c.body.split("_")[0] for c in result.contacts[0] if c.depth > max_depth / 2} | {
            c.entered.split("_")[0] for c in result.contacts[0] if c.depth > max_depth / 2}
        for f in fingers:
            (hi if f in hit else lo)[f] = mid[f]
        if result.depth[0] <= max_depth:
            best, best_depth = trial, float(result.depth[0])
    final = at(lo)
    depth = float(meter.measure(rig.vertices(final[None], [row]), moving=fingers).depth[0])
    if depth > max_depth and best is not None and best_depth < depth:
        final, depth = best, best_depth
    return final, iterations + 1, depth


def sample_poses(hand, n: int, seed: int, mode: str = "mixed", shapes=None, max_depth: float = 0.002,
                 meter=None) -> PoseSet:
    """n poses deterministic in (seed, index), each within the joint limits, with their contacts
    resolved on the shape they will be shown with (`shapes`, one per pose; default: the model's
    default shape): no finger vertex deeper than `max_depth` inside another finger, the palm or
    the arm where resolution reaches it (Gauss-Newton on the fingers in contact, see
    resolve_contacts; where that leaves a collision deeper than max_depth, the fingers involved
    close from open until they touch, see close_to_contact)."""
    if n < 0:
        raise ValueError(f"pose count must be >= 0, got {n}")
    from generator.hand.penetration import PenetrationMeter

    meter = meter or PenetrationMeter.for_model(hand)
    shapes = [hand.default_shape()] * n if shapes is None else list(shapes)
    if len(shapes) != n:
        raise ValueError(f"got {len(shapes)} shapes for {n} poses")
    drawn = [draw_pose(make_rng(seed, i, "pose"), mode) for i in range(n)]
    poses = np.array([d[0] for d in drawn]).reshape(n, len(JOINTS), 3)
    steps = np.zeros(n, dtype=int)
    depth = np.zeros(n)
    # one BLAS thread: sums split over threads round differently, and a contact resolution that
    # follows those last bits lands on another pose (a render worker and a Ray actor disagreed)
    with threadpool_limits(limits=1):
        for i in range(n):              # one pose at a time: pose i never depends on n
            rig = hand.rig([shapes[i]])
            found = meter.measure(rig.vertices(poses[i][None], [0]), with_contacts=True)
            depth[i] = found.depth[0]
            if depth[i] <= GOAL_DEPTH:
                continue
            if depth[i] <= DEEP:
                poses[i], steps[i], found = resolve_contacts(rig, 0, poses[i], meter, found)
                depth[i] = found.depth[0]
            if depth[i] > max_depth:
                poses[i], more, depth[i] = close_to_contact(rig, 0, poses[i], meter, max_depth, found)
                steps[i] += more
    return PoseSet(poses=poses.astype(np.float32), kind=[d[1] for d in drawn],
                   blend=np.array([d[2] for d in drawn]), relax_steps=steps, penetration=depth,
                   shapes=shapes)
