"""Pose sampling: named grasp-taxonomy and gesture poses, blended and perturbed within the joint
limits, plus a uniform-within-limits mode; penetrating poses are resolved on the mesh.

Library poses follow the grasp taxonomy of Feix et al., "The GRASP Taxonomy of Human Grasp
Types", IEEE THMS 46(1), 2016 (power: cylinder, sphere, hook; precision: pinch, tripod; lateral
/ key pinch) plus common gestures. Angles in degrees, (flexion, abduction, twist), see base.py.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from generator.conventions import rng as make_rng
from generator.hand.base import JOINTS
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


FIST = (85, 100, 60)
LIBRARY: dict[str, np.ndarray] = {
    "flat": _pose(),
    "relaxed": _pose(index=(15, 25, 12), middle=(20, 30, 15), ring=(25, 35, 18), little=(30, 40, 20),
                     thumb=((10, 20), 10, 10)),
    "fist": _pose(fingers=FIST, thumb=((35, 10), 40, 40)),
    "point": _pose(fingers=FIST, index=(0, 0, 0), thumb=((30, 10), 35, 30)),
    "pinch": _pose(fingers=(25, 35, 20), index=(35, 45, 25), thumb=((25, 35), 20, 20)),
    "tripod": _pose(fingers=(60, 80, 50), index=(35, 45, 25), middle=(35, 45, 25), thumb=((30, 35), 20, 15)),
    "ok": _pose(fingers=(10, 10, 5), index=(40, 60, 40), spread=(0, -3, -8, -15), thumb=((30, 40), 25, 30)),
    "cylinder": _pose(fingers=(55, 65, 35), thumb=((30, 45), 20, 25)),
    "sphere": _pose(fingers=(35, 40, 25), spread=(10, 0, -8, -15), thumb=((20, 50), 15, 15)),
    "spread": _pose(spread=(15, 3, -10, -15), thumb=((-10, 50), 0, 0)),
    "thumbs_up": _pose(fingers=FIST, thumb=((-10, 20), 0, 0)),
    "victory": _pose(fingers=FIST, index=(0, 0, 0), middle=(0, 0, 0), spread=(12, -8, 0, 0),
                     thumb=((30, 10), 40, 40)),
    "hook": _pose(fingers=(0, 90, 60), thumb=((10, 20), 10, 10)),
    "key_pinch": _pose(fingers=(60, 80, 40), thumb=((10, 5), 10, 10)),
    "claw": _pose(fingers=(-20, 80, 70), thumb=((20, 30), 20, 40)),
    "call_me": _pose(fingers=FIST, little=(0, 0, 0), spread=(0, 0, 0, -15), thumb=((-10, 40), 0, 0)),
}
for _name, _p in LIBRARY.items():
    assert np.all((_p >= LOWER) & (_p <= UPPER)), f"library pose {_name} violates the joint limits"

NOISE_DEG = np.array([7.0, 4.0, 2.0])          # per-angle perturbation sigma (flex, abd, twist)
MODES = ("mixed", "library", "uniform")


@dataclasses.dataclass
class PoseSet:
    poses: np.ndarray             # (N, 20, 3) degrees, all within limits
    kind: list[str]               # "a+b" blend names or "uniform"
    blend: np.ndarray             # (N,) weight of the second library pose
    relax_steps: np.ndarray       # (N,) how many relaxation steps penetration needed
    penetration: np.ndarray       # (N,) final max penetration depth, metres


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


def sample_poses(hand, n: int, seed: int, mode: str = "mixed", max_depth: float = 0.002,
                 max_steps: int = 12, meter=None) -> PoseSet:
    """n poses deterministic in (seed, index), each within the joint limits and penetrating no
    deeper than `max_depth` metres where relaxation can reach it (fingers involved in a
    collision are opened 15% per step; after `max_steps` the whole pose is relaxed)."""
    if n < 0:
        raise ValueError(f"pose count must be >= 0, got {n}")
    from generator.hand.penetration import BODY_NAMES, PenetrationMeter

    meter = meter or PenetrationMeter.for_model(hand)
    drawn = [draw_pose(make_rng(seed, i, "pose"), mode) for i in range(n)]
    poses = np.array([d[0] for d in drawn]).reshape(n, len(JOINTS), 3)
    steps = np.zeros(n, dtype=int)
    depth = np.zeros(n)
    todo = np.arange(n)
    for step in range(max_steps + 6):
        if not len(todo):
            break
        verts = hand.forward(poses[todo]).vertices
        result = meter.measure(verts, with_pairs=True)
        depth[todo] = result.depth
        bad = result.depth > max_depth
        for k in np.where(bad)[0]:
            i = todo[k]
            steps[i] += 1
            if step < max_steps:
                fingers = {name.split("_")[0] for pair in result.pairs[k] for name in pair[:2]} - {"palm"}
                for f in fingers:
                    poses[i, _finger_joints(f)] *= 0.85
            else:
                poses[i] *= 0.8
        todo = todo[bad]
    return PoseSet(poses=poses.astype(np.float32), kind=[d[1] for d in drawn],
                   blend=np.array([d[2] for d in drawn]), relax_steps=steps, penetration=depth)
