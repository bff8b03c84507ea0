"""Grading a checkpoint on the evaluation grid, and the report that ends ``hilserl train``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np

from hilserl.config import Config, from_dict
from hilserl.envs.factory import SIM, SO101, make_env, require_sim
from hilserl.training.evaluate import EvalResult, evaluate
from hilserl.training.grid_eval import Grid, GridResult, evaluate_grid
from hilserl.training.trained_agent import ConfigChanges, load_agent


def grade_checkpoint(path: Path, cells: tuple[int, int, int], seeds: int, progress: bool = True,
                     changes: ConfigChanges | None = None) -> tuple[Config, Grid, GridResult]:
    """A checkpoint's deterministic policy, without interventions, over the fixed grid of ``cells``
    (x positions, y positions, rotations) covering the reset range, ``seeds`` times per cell (the run's
    ``seed`` picks which: ``changes`` may move it)."""
    cfg, agent = load_agent(path, changes)
    require_sim(cfg.env, "the grid evaluation", instead=f"evaluate this env over seeded resets: hilserl eval "
                f"--checkpoint {path} --episodes 50")
    grid = Grid.covering(cfg.env, *cells)
    result = evaluate_grid(lambda o: agent.act(o, deterministic=True), cfg.env, grid, seeds=seeds, progress=progress,
                           first_seed=cfg.seed * seeds)
    return cfg, grid, result


GRID_CELLS = (3, 3, 3)
"""The evaluation grid of ``hilserl eval`` and of the report that ends ``hilserl train``: cube x
positions, y positions and rotations over the reset range."""


def grid_report(path: Path, cells: tuple[int, int, int], seeds: int, out: Path,
                progress: bool = True, changes: ConfigChanges | None = None) -> tuple[dict, list[str]]:
    """Grade a checkpoint on the grid (``grade_checkpoint``), flag a local optimum (success by region,
    cube tracking), and write the success map ``out`` (PNG) with its figures (JSON beside it).
    Returns the figures and the lines that say them."""
    from hilserl.diagnostics.local_optimum import analyse
    from hilserl.diagnostics.success_map import plot_success_map

    cfg, grid, result = grade_checkpoint(path, cells, seeds, progress=progress, changes=changes)
    split = cfg.env.front_back_split_x
    analysis = analyse(result, split)
    lines = [f"success over the grid: {result.success_rate:.0%} ({len(grid.cells())} cells x {seeds} seeds, "
             "deterministic policy, no interventions)", *(f"  {line}" for line in analysis.lines())]
    lines.append(f"wrote {plot_success_map(result, split, out)}")
    summary = {"success_rate": result.success_rate, "cells": len(grid.cells()), "seeds": seeds, **analysis.to_dict()}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    lines.append(f"wrote {out.with_suffix('.json')}")
    return summary, lines


def evaluate_resets(path: Path, episodes: int, prepare: Callable[[gym.Env, Config], None] | None = None,
                    changes: ConfigChanges | None = None, progress: bool = True) -> EvalResult:
    """A checkpoint's deterministic policy, without interventions, over seeded resets of its run's env
    (any env); ``prepare`` readies the env first (the real arm's label keys)."""
    cfg, agent = load_agent(path, changes)
    env = make_env(cfg.env)
    try:
        if prepare is not None:
            prepare(env, cfg)
        return evaluate(agent, cfg.env, episodes, seed=cfg.seed, env=env, progress=progress)
    finally:
        env.close()


def resets_line(result: EvalResult) -> str:
    regions = f" ({', '.join(f'{k} {v:.0%}' for k, v in result.by_region.items())})" if result.by_region else ""
    return (f"success over {result.episodes} seeded resets: {result.success_rate:.0%}{regions}; mean length "
            f"{result.mean_length:.1f} steps (deterministic policy, no interventions)")


def closing_report(run_dir: Path, seeds: int) -> tuple[dict | None, list[str]]:
    """What ends ``hilserl train``: the final policy on the evaluation grid (``seeds`` per cell; 0
    skips it), where it fails, and the commands to look further."""
    figures, lines = None, []
    cfg = from_dict(Config, json.loads((run_dir / "config.json").read_text()))
    sim = cfg.env.kind == SIM
    if seeds and sim:
        figures, lines = grid_report(run_dir, GRID_CELLS, seeds, run_dir / "success_map.png")
    elif seeds and cfg.env.kind == SO101:
        lines = ["closing evaluation skipped: on the real arm, successes need a person's labels"]
    elif seeds:  # an env whose start the grid cannot place: seeded resets instead
        result = evaluate_resets(run_dir, seeds * int(np.prod(GRID_CELLS)))
        figures = result.to_dict()
        lines = [resets_line(result), "  (the grid evaluation and success map need the simulated grasp task)"]
    lines += [f"run folder: {run_dir}",
              f"look further: hilserl report {run_dir}   (success, interventions, losses, value overestimation)"]
    if sim:
        lines.append(f"              hilserl eval --checkpoint {run_dir} --seeds 4   (a finer grid evaluation)")
    return figures, lines
