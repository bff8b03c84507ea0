"""A full image-based training run on the simulation: success over training, then the final
success rate over a fixed grid of cube positions and rotations covering the whole reset range.

Goal (issue 3): at least 95% on the grid within 15,000 env steps. Usage:
    python -m benchmarks.train_image [--env-steps 15000] [--run-dir runs/bench_image]
    python -m benchmarks.train_image --eval-only --run-dir runs/bench_image   # grade a finished run again
Every checkpoint the run kept is graded, not the final one alone: the grid rate of one policy moves by
several points between checkpoints a few thousand updates apart, and the spread is part of the result.
Writes benchmarks/results/train_image.json and a learning-curve PNG next to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

import hilserl  # noqa: F401

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import RESULTS, write_result  # noqa: E402
from hilserl.config import Config, load_config  # noqa: E402
from hilserl.diagnostics.grading import grade_checkpoint  # noqa: E402
from hilserl.training.checkpoint import list_checkpoints  # noqa: E402
from hilserl.training.grid_eval import GridResult  # noqa: E402
from hilserl.training.run_log import read_jsonl  # noqa: E402
from hilserl.training.train import train  # noqa: E402

WINDOW = 20
"""Running-average window of the learning curve, as in the paper's figures."""
GRID_CELLS = (3, 3, 3)
"""Cube x positions, y positions and rotations of the fixed evaluation grid."""
GRID_SEEDS = 2
"""Repeats per grid cell, with other initial gripper offsets."""


def grade(checkpoint: Path) -> tuple[Config, GridResult]:
    """The grid success of one checkpoint's deterministic policy, without interventions."""
    cfg, _, result, _ = grade_checkpoint(checkpoint, GRID_CELLS, GRID_SEEDS)
    return cfg, result


def misses(graded: GridResult) -> list[dict]:
    """The cells that failed at least once: where the policy still misses."""
    return [{"x": round(x, 4), "y": round(y, 4), "yaw": round(yaw, 4), "success": rate}
            for (x, y, yaw), rate in graded.success.items() if rate < 1.0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env-steps", type=int, default=15_000)
    ap.add_argument("--run-dir", type=Path, default=Path("runs/bench_image"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override, KEY=VALUE")
    ap.add_argument("--eval-only", action="store_true", help="grade the checkpoints of an existing --run-dir, do not train")
    args = ap.parse_args()
    if not args.eval_only:
        cfg = load_config(None, [f"train.env_steps={args.env_steps}", "train.log_every=500", *args.overrides])
        train(cfg, args.run_dir, progress=True)
    checkpoints = list_checkpoints(args.run_dir)
    if not checkpoints:
        raise SystemExit(f"{args.run_dir} has no checkpoints to grade")
    per_checkpoint = {path.name: grade(path) for path in checkpoints}
    cfg, graded = per_checkpoint[checkpoints[-1].name]
    summary = json.loads((args.run_dir / "summary.json").read_text())

    episodes = read_jsonl(args.run_dir / "episodes.jsonl")
    steps = np.array([e["env_steps"] for e in episodes])
    success = np.array([float(e["success"]) for e in episodes])
    interv = np.array([e["intervention_rate"] for e in episodes])
    kernel = np.ones(WINDOW) / WINDOW
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if len(success) >= WINDOW:
        ax.plot(steps[WINDOW - 1:], np.convolve(success, kernel, "valid"), label="success (20-episode mean)")
        ax.plot(steps[WINDOW - 1:], np.convolve(interv, kernel, "valid"), label="intervention share")
    ax.set_xlabel("env steps")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("image-based training on the simulated grasp")
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "train_image_curve.png", dpi=120)

    for name, (_, g) in per_checkpoint.items():
        print(f"{name}: grid success {g.success_rate:.0%} ({len(g.grid.cells())} cells x {GRID_SEEDS} seeds), "
              f"by region {g.by_region()}")
    write_result("train_image", {
        "env_steps": summary["env_steps"],
        "episodes": summary["episodes"],
        "updates": summary["updates"],
        "training_seconds": summary["seconds"],
        "training_success_last_20": summary["success_rate_last_20"],
        "updates_per_env_step": cfg.train.updates_per_env_step,
        "demo_placement": cfg.train.demo_placement,
        "grid_success_rate": graded.success_rate,
        "grid_success_by_region": graded.by_region(),
        "grid_misses": misses(graded),
        "grid_success_by_checkpoint": {
            name: {"success_rate": g.success_rate, "by_region": g.by_region(), "misses": misses(g)}
            for name, (_, g) in per_checkpoint.items()
        },
        "success_by_1000_steps": {
            int(k): float(success[(steps > k - 1000) & (steps <= k)].mean())
            for k in range(1000, int(steps.max()) + 1, 1000) if ((steps > k - 1000) & (steps <= k)).any()
        },
    })


if __name__ == "__main__":
    main()
