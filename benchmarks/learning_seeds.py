"""The learning tests' outcomes over several seeds: the distributions their bars are set from.

``tests/test_learning.py`` trains state-only SAC with demos and the simulated human, on one torch
thread, on the grasp task (5,000 env steps) and on a second task (``--task reach``: the planar reach,
2,500 steps), then evaluates the deterministic policy without interventions over ``EVAL_EPISODES``
seeded episodes. This script runs the same recipes (``TASKS``, imported by the test) for each seed,
``--jobs`` runs at a time (each on one thread, so they do not slow each other), and writes each seed's
success rate and the distribution to ``results/learning_seeds.json`` (``learning_seeds_reach.json``).

Usage: python -m benchmarks.learning_seeds --task reach --seeds 0 1 2 3 4 5 6 7 --jobs 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

RECIPE = [
    "env.state_only=true",
    "train.env_steps=5000",
    "train.updates_per_env_step=1",
    "agent.critic_actor_ratio=4",
    "train.log_every=1000",
    "threads=1",
]
"""The grasp learning test's config overrides (its seed apart). One thread: the outcome is the same in
the test suite, alone, or beside another job."""
REACH_RECIPE = [
    "env.kind=hilserl/PlanarReach-v0",
    "train.env_steps=2500",
    "train.demo_episodes=10",
    "train.updates_per_env_step=1",
    "agent.critic_actor_ratio=4",
    "train.log_every=1000",
    "threads=1",
]
"""The second task's learning test (a two-link arm reaching a target; no gripper, no shared env code)."""
TASKS = {"grasp": RECIPE, "reach": REACH_RECIPE}
RESULT_NAMES = {"grasp": "learning_seeds", "reach": "learning_seeds_reach"}
EVAL_EPISODES = 50
REACH_EVAL_SEEDS = 2
"""The reach test trains through ``hilserl train``, whose closing evaluation on an env without the grid
runs ``--eval-seeds`` x the grid's cell count seeded resets (``hilserl.diagnostics.grading.closing_report``)."""


def eval_episodes(task: str) -> int:
    from hilserl.diagnostics.grading import GRID_CELLS

    return EVAL_EPISODES if task == "grasp" else REACH_EVAL_SEEDS * int(np.prod(GRID_CELLS))


def run_seed(seed: int, task: str = "grasp") -> dict:
    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.config import load_config
    from hilserl.training.train import train

    cfg = load_config(None, [*TASKS[task], f"seed={seed}"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(cfg, run_dir, progress=False, eval_episodes=eval_episodes(task), tensorboard=False)
    assert result.final_eval is not None
    return {"seed": seed, "success_rate": result.final_eval.success_rate,
            "by_region": result.final_eval.by_region, "training_success_last_20": result.success_rate_last_20,
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    from benchmarks.common import write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default 2)")
    parser.add_argument("--task", choices=sorted(TASKS), default="grasp", help="which learning test's recipe")
    args = parser.parse_args()
    runs = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for run in pool.map(run_seed, args.seeds, [args.task] * len(args.seeds)):
            print(f"seed {run['seed']}: {run['success_rate']:.0%} without interventions over {eval_episodes(args.task)} "
                  f"episodes ({run['seconds']:.0f} s)", flush=True)
            runs.append(run)
    rates = np.array([r["success_rate"] for r in runs])
    figures = {"task": args.task, "recipe": TASKS[args.task], "eval_episodes": eval_episodes(args.task), "runs": runs,
               "success_min": float(rates.min()), "success_mean": float(rates.mean()),
               "success_max": float(rates.max()), "success_std": float(rates.std(ddof=1)) if len(rates) > 1 else 0.0}
    print(f"{len(runs)} seeds: min {rates.min():.0%}, mean {rates.mean():.0%}, max {rates.max():.0%}")
    write_result(RESULT_NAMES[args.task], figures)


if __name__ == "__main__":
    main()
