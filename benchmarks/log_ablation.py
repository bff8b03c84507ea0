"""The training log's local optimum, measured: its departures from HIL-SERL added to our default one at
a time and all together, several seeds each, graded on the evaluation grid.

The log (``shared/seed``: a user's HIL-SERL run on a real SO-101) ended with a policy that grasps the
cubes near the base and misses those near the reach limit. Its config departed from HIL-SERL in the
ways ``hilserl diagnose config`` flags; ``SETTINGS`` holds those that act on a state-only run of the
learning test's recipe (``benchmarks.learning_seeds``: 5,000 env steps, demos, the simulated human).
Each run is graded like ``hilserl eval``: the deterministic policy without interventions over the
grid (3 x 3 cube positions x 3 rotations, ``--grid-seeds`` episodes a cell), giving the success at
the back (near the base) and the front (the reach limit), their gap, the cube tracking gain (1: the
gripper goes where the cube is) and the value gap (Q(start) minus the discounted return, last 20
training episodes).

Not in the default list, and why: crop augmentation acts on images only (``benchmarks.grasp_images
--set agent.augmentation=false``); the log's 30,000-transition online buffer does not fill in 5,000
steps, so ``--settings small_buffer`` scales it to the recipe's length; UTD 20 (``--with-utd20``) costs
five times the recipe's updates.

Usage: python -m benchmarks.log_ablation [--settings default backup_entropy ...] [--seeds 0 1 2] [--jobs 2]
Writes results/log_ablation.json, and a row per setting to stdout.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.learning_seeds import RECIPE

SETTINGS = {
    "default": [],
    "backup_entropy": ["agent.backup_entropy=true"],
    "takeover": ["human.strategy=takeover"],
    "log (both)": ["agent.backup_entropy=true", "human.strategy=takeover"],
}
"""The log's departures that act on the state-only recipe, one at a time and together."""
UTD20 = {"utd20": ["train.updates_per_env_step=5"]}
"""The log's UTD 20: 5 updates of 4 critic steps per env step (the recipe's is 1 of 4)."""
SMALL_BUFFER = {"small_buffer": ["buffer.online_capacity=3500"]}
"""The log's 30,000-transition online buffer, scaled to the recipe's length: the log's run took about
42,000 env steps (527 episodes of about 80), so its buffer kept the last 70% of them; 3,500 keeps the
last 70% of 5,000."""
GRID = (3, 3, 3)
VALUE_WINDOW = 20
"""Training episodes (the last ones) whose Q(start) and discounted return give the value gap."""


def run_one(setting: str, overrides: list[str], seed: int, grid_seeds: int, extra: list[str]) -> dict:
    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.config import load_config
    from hilserl.diagnostics.grading import grade_checkpoint
    from hilserl.diagnostics.local_optimum import analyse
    from hilserl.training.train import train

    cfg = load_config(None, [*RECIPE, *overrides, *extra, f"seed={seed}"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        train(cfg, run, progress=False, tensorboard=False)
        graded_cfg, _, result, _ = grade_checkpoint(run, GRID, grid_seeds, progress=False)
        episodes = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    report = analyse(result, graded_cfg.env.front_back_split_x)
    last = episodes[-VALUE_WINDOW:]
    value_gap = float(np.mean([e["q_start"] for e in last]) - np.mean([e["discounted_return"] for e in last]))
    return {"setting": setting, "seed": seed, "success": result.success_rate, "by_region": report.by_region,
            "region_gap": report.region_gap, "tracking_gain": report.tracking_gain, "value_gap": value_gap,
            "intervention_share": float(np.mean([e["intervention_rate"] for e in episodes])),
            "seconds": round(time.perf_counter() - start, 1)}


def summarise(runs: list[dict]) -> dict[str, dict]:
    table = {}
    for setting in dict.fromkeys(r["setting"] for r in runs):
        rows = [r for r in runs if r["setting"] == setting]
        regions = sorted({k for r in rows for k in r["by_region"]})
        table[setting] = {
            "seeds": [r["seed"] for r in rows],
            "success": float(np.mean([r["success"] for r in rows])),
            "success_per_seed": [r["success"] for r in rows],
            "by_region": {k: float(np.mean([r["by_region"].get(k, np.nan) for r in rows])) for k in regions},
            "region_gap": float(np.mean([r["region_gap"] for r in rows])),
            "tracking_gain": float(np.mean([r["tracking_gain"] for r in rows])),
            "value_gap": float(np.mean([r["value_gap"] for r in rows])),
            "intervention_share": float(np.mean([r["intervention_share"] for r in rows])),
        }
    return table


def run_job(job: tuple) -> dict:
    """``run_one`` for an executor, which passes one item."""
    return run_one(*job)


def main() -> None:
    from benchmarks.common import (
        add_executor_args,
        earlier_result,
        executor,
        outcomes,
        time_left,
        write_result,
    )

    every = {**SETTINGS, **SMALL_BUFFER, **UTD20}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=list(every), default=list(SETTINGS))
    parser.add_argument("--with-utd20", action="store_true", help="add the log's UTD 20 (five times the updates)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_executor_args(parser)
    parser.add_argument("--grid-seeds", type=int, default=2, help="episodes per grid cell (default 2: 54 per run)")
    parser.add_argument("--env-steps", type=int, help="train for this many env steps instead of the recipe's")
    parser.add_argument("--add", action="store_true",
                        help="keep the runs of the result file of an earlier invocation (a setting and seed run "
                             "again replaces its run)")
    args = parser.parse_args()
    settings = [*args.settings, *(["utd20"] if args.with_utd20 and "utd20" not in args.settings else [])]
    jobs = [(s, every[s], seed) for s in settings for seed in args.seeds]
    print(f"{len(jobs)} runs ({len(settings)} settings x {len(args.seeds)} seeds), {args.jobs} at a time", flush=True)
    earlier = {"runs": [], "settings": [], "wall_seconds": 0.0}
    if args.add:
        earlier = earlier_result("log_ablation", {"env_steps": args.env_steps})
    kept = [r for r in earlier["runs"] if not (r["setting"] in settings and r["seed"] in args.seeds)]
    order = [s for s in every if s in settings or s in earlier["settings"]]
    runs, start = [], time.perf_counter()

    def save() -> dict:
        """The result file as it stands: written after every run, so a stopped sweep keeps what finished."""
        done = sorted(kept + runs, key=lambda r: (order.index(r["setting"]), r["seed"]))
        table = summarise(done)
        write_result("log_ablation", {"recipe": RECIPE, "env_steps": args.env_steps,
                                      "settings": {s: every[s] for s in order if s in table},
                                      "grid": list(GRID), "grid_seeds": args.grid_seeds, "table": table, "runs": done,
                                      "wall_seconds": round(float(earlier["wall_seconds"]) + time.perf_counter() - start, 1)})
        return table

    runner = executor(args)
    try:
        extra = [f"train.env_steps={args.env_steps}"] if args.env_steps else []
        for r in outcomes(runner, run_job, [(s, o, seed, args.grid_seeds, extra) for s, o, seed in jobs]):
            runs.append(r)
            eta = time_left([x["seconds"] for x in runs], len(jobs), args.jobs, time.perf_counter() - start)
            print(f"{r['setting']} seed {r['seed']}: grid {r['success']:.0%}, region gap {r['region_gap']:+.0%}, "
                  f"tracking {r['tracking_gain']:.2f}, value gap {r['value_gap']:+.2f} ({r['seconds']:.0f} s); "
                  f"{len(runs)}/{len(jobs)} done{eta}", flush=True)
            save()
    finally:
        runner.close()
    for setting, row in save().items():
        regions = ", ".join(f"{k} {v:.0%}" for k, v in row["by_region"].items())
        print(f"{setting:>15}: grid {row['success']:.0%} ({regions}), region gap {row['region_gap']:+.0%}, "
              f"tracking {row['tracking_gain']:.2f}, value gap {row['value_gap']:+.2f}")

if __name__ == "__main__":
    main()
