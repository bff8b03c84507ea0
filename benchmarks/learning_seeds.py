"""The learning tests' outcomes over several seeds: the distributions their bars are set from.

``tests/test_learning.py`` trains state-only SAC with demos and the simulated human, on one torch
thread, on the grasp task (5,000 env steps) and on a second task (``--task reach``: the planar reach,
2,500 steps), then evaluates the deterministic policy without interventions over ``EVAL_EPISODES``
seeded episodes. This script runs the same recipes (``TASKS``, imported by the test) for each seed,
``--jobs`` runs at a time (each on one thread, so they do not slow each other; as Ray tasks when Ray is
installed, on a cluster with ``--address``, else as this machine's processes: ``hilserl sweep``'s executors), and writes each seed's
success rate and the distribution to ``results/learning_seeds.json`` (``learning_seeds_reach.json``).

``--task grasp-yaw`` is the grasp's recipe with ``env.jaw_yaw_action=true`` (jaws that turn).

``--task panda`` and ``--task panda-images`` train LeRobot's gym-hil PandaPickCube (a task hilserl was
not tuned on) with the default config, from state for 6,000 env steps and from the two cameras for
10,000, and grade each seed on 100 seeded resets it never trained on; they run in ``.venv-gym-hil``
(``bash scripts/setup.sh --gym-hil``).

A seed of the image task is hours of a 2-core CPU: ``--runs DIR`` keeps its run folder and resumes it,
and ``--grade-latest`` grades each seed's latest checkpoint there, for seeds stopped short, or graded
otherwise (``--grade-set agent.eval_actions=sample --name NAME``: the same runs, arm actions drawn).
``--set KEY=VALUE --name NAME`` trains a recipe changed by a lever, to hold it against the task's
result file (the lever's effect on a task it was not measured on).

Usage: python -m benchmarks.learning_seeds --task reach --seeds 0 1 2 3 4 5 6 7 --jobs 2
       .venv-gym-hil/bin/python -m benchmarks.learning_seeds --task panda --seeds 0 1 2 --jobs 2
       .venv-gym-hil/bin/python -m benchmarks.learning_seeds --task panda-images --seeds 0 1 --runs runs/panda
       .venv-gym-hil/bin/python -m benchmarks.learning_seeds --task panda-images --seeds 0 1 --runs runs/panda \
           --grade-latest
       python -m benchmarks.learning_seeds --task reach --seeds 0 1 --runs runs/reach --grade-latest \
           --grade-set agent.eval_actions=sample --name learning_seeds_reach_sample
       python -m benchmarks.learning_seeds --seeds 0 1 2 --set agent.grasp_demo_margin=0.05 \
           --name learning_seeds_margin05
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
PANDA_RECIPE = [
    "env.kind=hilserl/PandaPickCube-v0",
    "train.env_steps=6000",
    "train.log_every=1000",
    "threads=1",
]
"""gym-hil's PandaPickCube from state: the default config (20 demos from its scripted expert, the
simulated human ``brief``), nothing tuned for the task."""
PANDA_IMAGES_RECIPE = [
    "env.kind=hilserl/PandaPickCubeImages-v0",
    "train.env_steps=10000",
    "train.log_every=1000",
    "threads=1",
]
"""The same task from the front and wrist cameras (128x128) and the robot's state, default config."""
YAW_RECIPE = [*RECIPE, "env.jaw_yaw_action=true"]
"""The grasp learning test's recipe with jaws that turn: a fourth continuous action to learn."""
TASKS = {"grasp": RECIPE, "grasp-yaw": YAW_RECIPE, "reach": REACH_RECIPE, "panda": PANDA_RECIPE,
         "panda-images": PANDA_IMAGES_RECIPE}
RESULT_NAMES = {"grasp": "learning_seeds", "grasp-yaw": "learning_seeds_yaw", "reach": "learning_seeds_reach",
                "panda": "learning_seeds_panda", "panda-images": "learning_seeds_panda_images"}
EVAL_EPISODES = 50
PANDA_EVAL_EPISODES = 100
"""Seeded resets each Panda seed is graded on (its evaluation seeds are never training seeds)."""
REACH_EVAL_SEEDS = 2
"""The reach test trains through ``hilserl train``, whose closing evaluation on an env without the grid
runs ``--eval-seeds`` x the grid's cell count seeded resets (``hilserl.diagnostics.grading.closing_report``)."""


def eval_episodes(task: str) -> int:
    from hilserl.diagnostics.grading import GRID_CELLS

    if task.startswith("panda"):
        return PANDA_EVAL_EPISODES
    return EVAL_EPISODES if task.startswith("grasp") else REACH_EVAL_SEEDS * int(np.prod(GRID_CELLS))


def recipe(task: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """``task``'s learning-test recipe, changed by ``overrides`` (a lever measured on it)."""
    return [*TASKS[task], *overrides]


def run_seed(seed: int, task: str = "grasp", runs: Path | None = None, overrides: tuple[str, ...] = ()) -> dict:
    """One seed of ``task``'s recipe (changed by ``overrides``), trained and evaluated as a ``hilserl
    sweep`` run is: in ``runs/<task>_seed<seed>`` when given (kept, and resumed from its latest
    checkpoint when run again), else in a folder deleted after."""
    from hilserl.sweep.plan import SweepRun
    from hilserl.sweep.sweep import train_run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(runs) / f"{task}_seed{seed}" if runs else Path(tmp) / "run"
        run = SweepRun(task, seed, tuple(recipe(task, overrides)), None, folder, Path(tmp) / "result.json",
                       eval_episodes(task), threads=1)
        result = train_run(run)
    assert result["success_rate"] is not None
    keep = ("success_rate", "by_region", "training_success_last_20", "env_steps", "seconds")
    return {"seed": seed, **{k: result[k] for k in keep}}


def grade_latest(seed: int, task: str, runs: Path, grade_set: tuple[str, ...] = ()) -> dict:
    """A seed's run in ``runs`` graded as :func:`run_seed` grades a finished one, from its latest
    checkpoint and without training further (a long seed stopped short of the recipe's steps), its
    config changed by ``grade_set`` (how the policy acts, say)."""
    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.diagnostics.grading import evaluate_resets
    from hilserl.training.checkpoint import latest_checkpoint, read_checkpoint
    from hilserl.training.trained_agent import ConfigChanges

    folder = Path(runs) / f"{task}_seed{seed}"
    checkpoint = latest_checkpoint(folder)
    if checkpoint is None:
        raise FileNotFoundError(f"no checkpoint in {folder}: train the seed first (--runs {runs})")
    start = time.perf_counter()
    result, _ = evaluate_resets(checkpoint, eval_episodes(task), progress=False,
                                changes=ConfigChanges(None, list(grade_set)))
    return {"seed": seed, "success_rate": result.success_rate, "acting": result.acting, "by_region": result.by_region,
            "env_steps": int(read_checkpoint(checkpoint)["actor"]["env_steps"]), "checkpoint": checkpoint.name,
            "failures": result.failures,
            "seconds": round(time.perf_counter() - start, 1)}


def grade_job(job: tuple[int, str, Path, tuple[str, ...]]) -> dict:
    """``grade_latest`` for an executor, which passes one item."""
    return grade_latest(*job)


def run_job(job: tuple[int, str, Path | None, tuple[str, ...]]) -> dict:
    """``run_seed`` for an executor, which passes one item (its last field the ``--set`` overrides)."""
    return run_seed(*job)


def earlier_runs(task: str, seeds: list[int], name: str, grade_set: list[str], overrides: list[str]) -> dict:
    """The runs of other seeds in the result file ``name``, refused if it holds another recipe or grading."""
    from benchmarks.common import earlier_result

    earlier = earlier_result(name, {"recipe": recipe(task, tuple(overrides))})
    if earlier.get("grade_set", []) != grade_set:  # (results from before --grade-set have none)
        raise SystemExit(f"--add: {name} was graded with --grade-set {earlier.get('grade_set', [])}, not {grade_set}; "
                         "run without --add")
    return {"runs": [r for r in earlier["runs"] if r["seed"] not in seeds],
            "wall_seconds": float(earlier.get("wall_seconds", 0.0))}


def main() -> None:
    from benchmarks.common import add_executor_args, executor, outcomes, time_left, write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    add_executor_args(parser)
    parser.add_argument("--task", choices=sorted(TASKS), default="grasp", help="which learning test's recipe")
    parser.add_argument("--add", action="store_true",
                        help="add these seeds to the task's result file from an earlier sweep of the same recipe "
                             "(a seed run again replaces its figure)")
    parser.add_argument("--runs", type=Path,
                        help="keep each seed's run folder here (checkpoints every train.checkpoint_every updates), "
                             "and resume a seed's run found there: a long seed stopped short goes on where it was, "
                             "and its checkpoints can be graded with hilserl eval --checkpoint")
    parser.add_argument("--grade-latest", action="store_true",
                        help="with --runs: grade each seed's latest checkpoint there instead of training (seeds "
                             "stopped short of the recipe's env steps); the result says each seed's env steps")
    parser.add_argument("--grade-set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --grade-latest: config override for the grading only (agent.eval_actions=sample: "
                             "arm actions drawn from the actor, as HIL-SERL evaluates); give --name too")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the training, after the recipe's (a lever to measure); give "
                             "--name too, so that the task's own result file keeps its recipe")
    parser.add_argument("--name", help="result file name (results/NAME.json; default: the task's, "
                                       "learning_seeds_reach.json for the reach...)")
    args = parser.parse_args()
    if args.grade_latest and args.runs is None:
        parser.error("--grade-latest grades the seeds' runs in --runs DIR: give it")
    if args.grade_set and not args.grade_latest:
        parser.error("--grade-set changes how trained runs are graded: give --runs DIR --grade-latest")
    if args.overrides and args.grade_latest:
        parser.error("--set changes the training; --grade-latest does not train (grade otherwise with --grade-set)")
    if args.overrides and not args.name:
        parser.error(f"--set changes the recipe: give --name, so that {RESULT_NAMES[args.task]}.json keeps its own")
    name = args.name or RESULT_NAMES[args.task]
    earlier = earlier_runs(args.task, args.seeds, name, args.grade_set, args.overrides) if args.add \
        else {"runs": [], "wall_seconds": 0.0}
    runs = []
    start = time.perf_counter()
    runner = executor(args)
    print(f"{args.task}: {len(args.seeds)} seeds on {runner.where()}, one thread each", flush=True)
    try:
        work = grade_job if args.grade_latest else run_job
        jobs = [(seed, args.task, args.runs, tuple(args.grade_set if args.grade_latest else args.overrides))
                for seed in args.seeds]
        for run in outcomes(runner, work, jobs):
            runs.append(run)
            eta = time_left([r["seconds"] for r in runs], len(args.seeds), args.jobs, time.perf_counter() - start)
            print(f"seed {run['seed']}: {run['success_rate']:.0%} without interventions over {eval_episodes(args.task)} "
                  f"episodes after {run['env_steps']:,} env steps ({run['seconds']:.0f} s); "
                  f"{len(runs)}/{len(args.seeds)} done{eta}", flush=True)
    finally:
        runner.close()
    runs = sorted(runs + earlier["runs"], key=lambda r: r["seed"])
    rates = np.array([r["success_rate"] for r in runs])
    figures = {"task": args.task, "recipe": recipe(args.task, tuple(args.overrides)), "grade_set": args.grade_set,
               "eval_episodes": eval_episodes(args.task),
               "graded": "each seed's latest checkpoint, stopped short (--grade-latest)" if args.grade_latest
               else "each seed's closing evaluation", "runs": runs,
               "jobs": args.jobs, "wall_seconds": round(earlier["wall_seconds"] + time.perf_counter() - start, 1),
               "success_min": float(rates.min()), "success_mean": float(rates.mean()),
               "success_max": float(rates.max()), "success_std": float(rates.std(ddof=1)) if len(rates) > 1 else 0.0}
    print(f"{len(runs)} seeds: min {rates.min():.0%}, mean {rates.mean():.0%}, max {rates.max():.0%}")
    write_result(name, figures)


if __name__ == "__main__":
    main()
