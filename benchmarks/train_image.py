"""A full image-based training run on the simulation: success over training, then the final
success rate over a fixed grid of cube positions and rotations covering the whole reset range.

Goal (issue 3): at least 95% on the grid within 15,000 env steps. Usage:
    python -m benchmarks.train_image [--env-steps 15000] [--run-dir runs/bench_image]
Writes benchmarks/results/train_image.json and a learning-curve PNG next to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import hilserl  # noqa: F401
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import RESULTS, write_result  # noqa: E402
from hilserl.config import load_config  # noqa: E402
from hilserl.diagnostics.grid_eval import Grid, evaluate_grid  # noqa: E402
from hilserl.diagnostics.run_log import read_jsonl  # noqa: E402
from hilserl.train import load_agent, train  # noqa: E402

WINDOW = 20
"""Running-average window of the learning curve, as in the paper's figures."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env-steps", type=int, default=15_000)
    ap.add_argument("--run-dir", type=Path, default=Path("runs/bench_image"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(None, [f"train.env_steps={args.env_steps}", "train.log_every=500", *args.overrides])
    result = train(cfg, args.run_dir, progress=True)

    _, agent = load_agent(args.run_dir)
    grid = Grid.covering(cfg.env, 3, 3, 3)
    graded = evaluate_grid(lambda o: agent.act(o, deterministic=True), cfg.env, grid, seeds=2)

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

    print(f"grid success (27 cells x 2 seeds): {graded.success_rate:.0%}, by region {graded.by_region(cfg.env.front_back_split_x)}")
    write_result("train_image", {
        "env_steps": result.env_steps,
        "episodes": result.episodes,
        "updates": result.updates,
        "training_success_last_20": result.success_rate_last_20,
        "grid_success_rate": graded.success_rate,
        "grid_success_by_region": graded.by_region(cfg.env.front_back_split_x),
        "success_by_1000_steps": {
            int(k): float(success[(steps > k - 1000) & (steps <= k)].mean())
            for k in range(1000, int(steps.max()) + 1, 1000) if ((steps > k - 1000) & (steps <= k)).any()
        },
    })


if __name__ == "__main__":
    main()
