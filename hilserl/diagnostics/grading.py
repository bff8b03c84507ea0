"""Grading a checkpoint on the evaluation grid, and the report that ends ``hilserl train``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np

from hilserl.collect.episode_video import FAILURES, FailureVideos, failure_listing
from hilserl.collect.failure_modes import first_close_line, modes_line
from hilserl.collect.live_view import LiveView, ViewTarget
from hilserl.collect.watch import Watch
from hilserl.config import AgentConfig, Config, from_dict
from hilserl.envs.contract import layout_of
from hilserl.envs.factory import SIM, SO101, make_env, require_sim
from hilserl.training.checkpoint import run_folder_of
from hilserl.training.evaluate import EVAL_SEED_OFFSET, EvalResult, acting, evaluate
from hilserl.training.grid_eval import Grid, GridResult, evaluate_grid, hardest_resets
from hilserl.training.trained_agent import ConfigChanges, load_agent


def make_watch(cfg: Config, env: gym.Env, failures: Path | None, view: ViewTarget | None) -> Watch | None:
    """Failure videos into ``failures`` (where the env has cameras to film) and the live view."""
    action = layout_of(env).action
    gripper = action.gripper_index if action.gripper else None
    videos = FailureVideos(failures, env.metadata.get("render_fps") or cfg.env.control_hz, gripper) \
        if failures is not None and layout_of(env).observation.image_shapes else None
    live = LiveView(view, gripper_index=gripper) if view is not None else None
    return Watch(live, videos) if videos is not None or live is not None else None


def failure_lines(watch: Watch | None) -> list[str]:
    """Where the failure videos went, each named by its episode (a grid cell and seed, or a seed)."""
    if watch is None:
        return []
    watch.close()
    return failure_listing(watch.videos.folder) if watch.videos is not None else []


def grade_checkpoint(path: Path, cells: tuple[int, int, int], seeds: int, progress: bool = True,
                     changes: ConfigChanges | None = None, failures: Path | None = None,
                     view: ViewTarget | None = None,
                     prepare: Callable[[gym.Env, Config], None] | None = None
                     ) -> tuple[Config, Grid, GridResult, Watch | None]:
    """A checkpoint's trained policy (``agent.eval_actions``), without interventions, over the fixed grid of ``cells``
    (x positions, y positions, rotations) covering the reset range, ``seeds`` times per cell (the run's
    ``seed`` picks which: ``changes`` may move it). On the real arm the guided placement puts each
    cube. ``failures``: a folder for a video of each failed episode; ``view``: the live view;
    ``prepare`` readies the env first (the real arm's label keys). The watch returned is the caller's
    to close."""
    cfg, agent = load_agent(path, changes)
    require_sim(cfg.env, "the grid evaluation", instead=f"evaluate this env over seeded resets: hilserl eval "
                f"--checkpoint {path} --episodes 50 (on the real arm: --guided, after hilserl robot table)",
                placement=True)
    grid = Grid.covering(cfg.env, *cells)
    env = make_env(cfg.env)
    try:
        if prepare is not None:
            prepare(env, cfg)
        watch = make_watch(cfg, env, failures, view)
        stream = agent.evaluation_stream(EVAL_SEED_OFFSET + cfg.seed)
        policy = watch.policy(agent, stream) if watch is not None else (lambda o: agent.act_trained(o, stream)[0])
        result = evaluate_grid(policy, cfg.env, grid, seeds=seeds, progress=progress, env=env,
                               first_seed=cfg.seed * seeds, watch=watch)
    finally:
        env.close()
    return cfg, grid, result, watch


GRID_CELLS = (3, 3, 3)
"""The evaluation grid of ``hilserl eval`` and of the report that ends ``hilserl train``: cube x
positions, y positions and rotations over the reset range."""


def grid_report(path: Path, cells: tuple[int, int, int], seeds: int, out: Path | None = None,
                progress: bool = True, changes: ConfigChanges | None = None,
                view: ViewTarget | None = None,
                prepare: Callable[[gym.Env, Config], None] | None = None) -> tuple[dict, list[str]]:
    """Grade a checkpoint on the grid (``grade_checkpoint``), flag a local optimum (success by region,
    cube tracking), and write the success map ``out`` (PNG; by default the run folder's, named by how the
    policy acted: :func:`acting_file`) with its figures (JSON beside it) and a video of each failed episode
    (``failures/`` beside it). Returns the figures and the lines that say them."""
    from hilserl.diagnostics.local_optimum import analyse
    from hilserl.diagnostics.success_map import plot_success_map

    folder = out.parent if out is not None else run_folder_of(path)
    cfg, grid, result, watch = grade_checkpoint(path, cells, seeds, progress=progress, changes=changes,
                                                failures=folder / FAILURES, view=view, prepare=prepare)
    out = out or acting_file(folder / "success_map.png", cfg.agent)
    split = cfg.env.front_back_split_x
    analysis = analyse(result, split)
    lines = [f"success over the grid: {result.success_rate:.0%} ({len(grid.cells())} cells x {seeds} seeds, "
             f"{acting(cfg.agent)}, no interventions)", *(f"  {line}" for line in analysis.lines())]
    failures = result.failures()
    if modes := modes_line(failures):
        lines.append(f"  {modes}")
    lines.append(f"wrote {plot_success_map(result, split, out)}")
    summary = {"success_rate": result.success_rate, "cells": len(grid.cells()), "seeds": seeds,
               "acting": acting(cfg.agent), **analysis.to_dict(),
               "failures": failures}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    lines.append(f"wrote {out.with_suffix('.json')}")
    lines += failure_lines(watch)
    return summary, lines


def evaluate_resets(path: Path, episodes: int, prepare: Callable[[gym.Env, Config], None] | None = None,
                    changes: ConfigChanges | None = None, progress: bool = True,
                    view: ViewTarget | None = None, hardest: bool = False) -> tuple[EvalResult, list[str]]:
    """A checkpoint's trained policy (``agent.eval_actions``), without interventions, over seeded resets of
    its run's env (any env); ``prepare`` readies the env first (the real arm's label keys). ``hardest``: the
    simulated grasp's resets at the edge of its range (:func:`hardest_resets`) instead. A video of each
    failure goes to the run's ``failures/``, each episode's outcome to :func:`resets_file` and, where the
    env reports the object's start, a map of them beside it. Returns the result and the lines that say
    where these are."""
    cfg, agent = load_agent(path, changes)
    options = None
    if hardest:
        require_sim(cfg.env, "the hardest resets", instead=f"evaluate this env over seeded resets: hilserl eval "
                    f"--checkpoint {path} --episodes {episodes}")
        options = hardest_resets(cfg.env, episodes, seed=EVAL_SEED_OFFSET + cfg.seed)
    env = make_env(cfg.env)
    run_dir = run_folder_of(path)
    try:
        if prepare is not None:
            prepare(env, cfg)
        watch = make_watch(cfg, env, run_dir / FAILURES, view)
        result = evaluate(agent, cfg.env, episodes, seed=cfg.seed, env=env, progress=progress, watch=watch,
                          options=options)
    finally:
        env.close()
    out = resets_file(path, hardest, cfg.agent)
    return result, [*outcome_lines(result, out, cfg), *failure_lines(watch)]


def resets_file(path: Path, hardest: bool, agent: AgentConfig) -> Path:
    """Where :func:`evaluate_resets` writes each episode's outcome: in the run folder, named by the
    checkpoint when one other than the latest was asked for (gradings of several can run at once) and
    by how the policy acted (:func:`acting_file`)."""
    run_dir = run_folder_of(path)
    which = "hardest_resets" if hardest else "resets"
    return acting_file(run_dir / (f"{which}.json" if path == run_dir else f"{which}_{path.stem}.json"), agent)


def acting_file(path: Path, agent: AgentConfig) -> Path:
    """``path``, or beside it ``*_sampled`` where the arm's actions were drawn and ``*_live`` where the
    live weights acted, not the average (:func:`acting`): one checkpoint graded several ways keeps
    every grading."""
    stem = path.stem + ("_sampled" if agent.eval_actions == "sample" else "")
    return path.with_stem(stem + ("" if agent.keeps_policy_average else "_live"))


def outcome_lines(result: EvalResult, out: Path, cfg: Config) -> list[str]:
    """``result`` with each episode to ``out`` (JSON) and, where the env placed an object, their map
    (PNG beside it); the lines that say so."""
    from hilserl.diagnostics.success_map import plot_reset_outcomes

    out.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    lines = [f"each episode's outcome: {out}"]
    if any("cube_start" in e for e in result.per_episode):
        split = cfg.env.front_back_split_x if result.by_region else None
        lines.append(f"where they failed: {plot_reset_outcomes(result.per_episode, out.with_suffix('.png'), split)}")
    return lines


def resets_line(result: EvalResult) -> str:
    regions = f" ({', '.join(f'{k} {v:.0%}' for k, v in result.by_region.items())})" if result.by_region else ""
    line = (f"success over {result.episodes} seeded resets: {result.success_rate:.0%}{regions}; mean length "
            f"{result.mean_length:.1f} steps ({result.acting}, no interventions)")
    details = [d for d in (modes_line(result.failures), first_close_line(result.per_episode)) if d]
    return "\n".join([line, *details])


def closing_report(run_dir: Path, seeds: int) -> tuple[dict | None, list[str]]:
    """What ends ``hilserl train``: the final policy on the evaluation grid (``seeds`` per cell; 0
    skips it), where it fails, and the commands to look further."""
    figures, lines = None, []
    cfg = from_dict(Config, json.loads((run_dir / "config.json").read_text()))
    sim = cfg.env.kind == SIM
    if seeds and sim:
        figures, lines = grid_report(run_dir, GRID_CELLS, seeds)
    elif seeds and cfg.env.kind == SO101:
        lines = ["closing evaluation skipped: on the real arm, successes need a person's labels"]
    elif seeds:  # an env whose start the grid cannot place: seeded resets instead
        result, videos = evaluate_resets(run_dir, seeds * int(np.prod(GRID_CELLS)))
        figures = result.to_dict()
        lines = [resets_line(result), "  (the grid evaluation and success map need the simulated grasp task)", *videos]
    lines += [f"run folder: {run_dir}",
              f"look further: hilserl report {run_dir}   (success, interventions, losses, value overestimation)"]
    if sim:
        lines.append(f"              hilserl eval --checkpoint {run_dir} --seeds 4   (a finer grid evaluation)")
    return figures, lines
