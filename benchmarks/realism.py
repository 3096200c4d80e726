"""Realism benchmark: does a real-photo hand landmarker (MediaPipe Hands 0.10.14) find our hands?

Renders N pairs of a job (resuming what is already in OUT) and audits them with
`cyclehand-gen audit` (generator/audit): detection overall, on easy views (palm or back within
45 deg of the line of sight, all keypoints in frame), by view angle, skin tone, lighting and
background kind, wear, occluder and pose kind; PCK@0.2 where detected; handedness. With --tones,
the same pairs are rendered once per skin tone (appearance.skin_tones = [t]) and the tone-parity
ratios are printed; with several --seed, each run's easy-view figures and their mean. Sheets of
the easy views it agrees with least and of those it missed are written beside each run's JSON.

    .venv/bin/python benchmarks/realism.py --views 120 --seed 0                 # default job
    .venv/bin/python benchmarks/realism.py --views 120 --seed 233,239,241       # fresh seeds, with their mean
    .venv/bin/python benchmarks/realism.py --views 100 --seed 7 --tones 1,5,10  # tone parity
    .venv/bin/python benchmarks/realism.py --shards DIR                         # audit only

Needs the realism environment (`make realism-env`, or --python / $CYCLEHAND_REALISM_PYTHON).
Renders are CPU-heavy: on a shared machine run it under `nice`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.audit import metrics  # noqa: E402
from generator.audit.cli import audit  # noqa: E402
from generator.audit.sheet import disagreement_sheet  # noqa: E402


def render(job_path: str, out: Path, views: int, seed: int, resolution: int, tone: int | None,
           textures: str | None = None) -> None:
    from generator.jobs import load_job
    from generator.render_cli import run_render
    over = {"seed": seed, "camera.resolution": resolution, "appearance.texture_dir": textures}
    if tone is not None:
        over["appearance.skin_tones"] = [tone]
    job = load_job(job_path).override(over)
    t0 = time.perf_counter()
    summary = run_render(job, out, views, progress=False)
    if not summary["complete"]:
        raise SystemExit(f"{out}: render incomplete; re-run to resume")
    print(f"rendered {views} pairs into {out} ({time.perf_counter() - t0:.0f} s)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", default="render_jobs/default.toml")
    ap.add_argument("--views", type=int, default=120, help="pairs to render (2 views each)")
    ap.add_argument("--seed", default="0", help="job seed, or comma-separated seeds (one render each, then "
                    "their mean, min and max: fresh seeds are how the targets are judged)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--tones", default="", help="comma-separated MST levels: one run per tone (parity)")
    ap.add_argument("--out", default="out/realism")
    ap.add_argument("--shards", default=None, help="audit this render folder instead of rendering")
    ap.add_argument("--python", default=None, help="realism environment's interpreter")
    ap.add_argument("--textures", default=None, help="texture set folder (default: the job's)")
    a = ap.parse_args(argv)

    out = Path(a.out)
    runs, seeds = {}, []          # name -> (folder, seed, tone)
    if a.shards:
        runs["shards"] = (Path(a.shards), None, None)
    else:
        tones = [int(t) for t in a.tones.split(",") if t.strip()] or [None]
        seeds = [int(x) for x in str(a.seed).split(",") if x.strip()]
        for seed in seeds:
            for t in tones:
                name = f"{Path(a.job).stem}-seed{seed}-{a.resolution}px" + (f"-mst{t}" if t else "")
                render(a.job, out / name, a.views, seed, a.resolution, t, a.textures)
                runs[name] = (out / name, seed, t)
    results = {}
    for name, (folder, _, _) in runs.items():
        summary, records = audit(folder, a.python)
        print(f"\n== {name} ({folder})\n{metrics.format_report(summary)}", flush=True)
        results[name] = summary
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps({"folder": str(folder), "summary": summary,
                                                      "views": records}, indent=1))
        for suffix, missed in (("worst", False), ("missed", True)):   # the easy views to look at
            sheet = disagreement_sheet(folder, records, missed=missed)
            if sheet is not None:
                sheet.save(out / f"{name}-{suffix}.png")
    for seed in seeds:
        group = {k: results[k] for k, (_, s, t) in runs.items() if s == seed and t is not None}
        if len(group) < 2:
            continue
        ratios = metrics.tone_parity({k: {"detection": v["detection"]} for k, v in group.items()})
        print(f"\ntone parity, seed {seed} (detection over all views / best tone's):")
        for k, v in group.items():
            d = v["detection"]
            print(f"  {k}: detection {100 * d['rate']:.1f}% ({d['k']}/{d['n']}), ratio {ratios[k]:.2f}")
        print(f"  worst ratio {min(ratios.values()):.2f} (target >= 0.90)")
    if len(seeds) > 1:
        print("\n" + metrics.format_across_runs(metrics.across_runs(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
