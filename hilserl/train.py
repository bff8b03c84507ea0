"""``hilserl train`` in one process: the actor steps the env, each transition goes to the learner,
which updates ``train.updates_per_env_step`` times per env step once ``train.learning_starts``
online transitions are in. Data flows one way: env -> actor -> transitions -> buffers -> learner ->
parameters -> actor (here the actor holds the learner's agent itself).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tqdm import tqdm

from hilserl.agent.sac import NonFiniteLoss, SACAgent
from hilserl.config import Config, from_dict, pin_threads, save_json
from hilserl.data.demos import record_demos
from hilserl.data.episodes import demo_steps, iter_transitions, read_meta
from hilserl.data.transition import Transition
from hilserl.diagnostics.evaluate import EvalResult, evaluate
from hilserl.diagnostics.grid_eval import Grid, GridResult, evaluate_grid
from hilserl.diagnostics.run_log import EPISODES, RunLog, read_jsonl, truncate_logs
from hilserl.distributed.actor import Actor
from hilserl.distributed.checkpoint import (POLICY_FILE, STATE_FILE, CheckpointDamaged, CheckpointNotWritten,
                                            check_resume,
                                            checkpoint_dir, damage, read_checkpoint, rng_state, set_rng_state,
                                            usable_checkpoint, write_checkpoint)
from hilserl.distributed.learner import Learner, build_agent
from hilserl.envs.contract import TaskLayout
from hilserl.envs.factory import SIM, task_layout
from hilserl.preflight import check_disk, check_memory, writable_folder
from hilserl.run_lock import run_lock
from hilserl.threads import torch_threads

STEP_LINE = "Step {update}: critic={critic_loss:.4f} actor={actor_loss:.4f} temp={temperature_loss:.4f} α={alpha:.4f} buffer={online_buffer}"
"""The step-metric line of the user's log."""


class TrainingDiverged(RuntimeError):
    pass


@dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    env_steps: int
    updates: int
    success_rate_last_20: float
    final_eval: EvalResult | None


def demo_dir_for(cfg: Config, run_dir: Path) -> Path:
    return Path(cfg.train.demo_dir) if cfg.train.demo_dir else run_dir / "demos"


def load_demos(cfg: Config, learner: Learner, run_dir: Path, progress: bool = True) -> int:
    """Record demos with the scripted expert into the run's folder if it has fewer than
    ``train.demo_episodes`` (none yet, or a recording that was interrupted: it is completed), then
    load them into the demo buffer, encoding their frames into the feature cache (a progress bar)."""
    if cfg.train.demo_episodes == 0:
        return 0
    root = demo_dir_for(cfg, run_dir)
    meta = read_meta(root) if (root / "meta.json").exists() else {"episodes": 0, "complete": False}
    if not cfg.train.demo_dir and (meta["episodes"] < cfg.train.demo_episodes or not meta.get("complete", True)):
        record_demos(cfg.env, cfg.train.demo_episodes, root, seed=cfg.seed, placement=cfg.train.demo_placement,
                     complete=True)
    steps = demo_steps(root)
    what = "encoding demo frames into the feature cache" if learner.cache is not None else "loading demos"
    states = []
    started = time.perf_counter()
    with tqdm(total=steps, desc=what, unit="step", disable=not progress, mininterval=0.5) as bar:
        for t in iter_transitions(root, learner.layout.state_dim, learner.layout.image_shapes, learner.task.action,
                                  cfg.env.grasp_penalty):
            learner.add_demo(t)
            states.append(t.observation["state"])
            bar.update(1)
    if steps:
        learner.intake_seconds = (time.perf_counter() - started) / steps
    if states and cfg.agent.normalize_state:
        learner.agent.set_state_normalizer(np.stack(states))
    return len(states)


def save_checkpoint(learner: Learner, actor: Actor, cfg: Config, run_dir: Path) -> Path:
    """A full checkpoint (learner, actor side, buffers, config), written atomically."""
    state = {**learner.state_dict(), "actor": actor.boundary_state(), "rng": rng_state()}
    return write_checkpoint(run_dir, state, learner.agent.updates, learner.agent.policy_state_dict(), cfg,
                            buffers=learner.buffers(), keep=cfg.train.keep_checkpoints,
                            leave_newest=learner.unfinished_rows())


def load_agent(path: Path) -> tuple[Config, SACAgent]:
    """The config and the trained agent from a run folder (its latest checkpoint), a checkpoint folder
    (``checkpoints/ckpt_*``), or an exported policy (``policy.safetensors`` with its ``policy.json``)."""
    path = Path(path)
    state = None
    if path.is_dir() and not (path / STATE_FILE).exists():
        found = usable_checkpoint(path, only=(STATE_FILE,))  # acting needs no buffer file
        path, state = found if found is not None else (checkpoint_dir(path) / POLICY_FILE, None)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder, a checkpoints/ckpt_* folder or a "
                                f"checkpoints/{POLICY_FILE}")
    if path.suffix == ".safetensors":
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise FileNotFoundError(f"{meta} not found: an exported policy needs its config beside it")
        cfg = from_dict(Config, json.loads(meta.read_text()))
        with safe_open(str(path), "pt") as f:
            stored = (f.metadata() or {}).get("layout")
        layout = TaskLayout.from_dict(json.loads(stored)) if stored else task_layout(cfg.env)
        agent = build_agent(cfg, layout)
        agent.load_policy_state_dict(load_file(str(path)))
        return cfg, agent
    if state is None:
        if path.is_dir() and (problem := damage(path, only=(STATE_FILE,))):
            raise CheckpointDamaged(problem)
        state = read_checkpoint(path) if path.is_dir() else torch.load(path, weights_only=True)
    if "config" not in state:
        raise ValueError(f"{path} is not a hilserl checkpoint (no config inside)")
    cfg = from_dict(Config, state["config"])
    agent = build_agent(cfg, TaskLayout.from_dict(state["layout"]) if "layout" in state else task_layout(cfg.env))
    agent.load_state_dict(state["agent"])
    agent.updates = int(state.get("updates", 0))
    return cfg, agent


def grade_checkpoint(path: Path, cells: tuple[int, int, int], seeds: int,
                     progress: bool = True) -> tuple[Config, Grid, GridResult]:
    """A checkpoint's deterministic policy, without interventions, over the fixed grid of ``cells``
    (x positions, y positions, rotations) covering the reset range, ``seeds`` times per cell."""
    cfg, agent = load_agent(path)
    grid = Grid.covering(cfg.env, *cells)
    result = evaluate_grid(lambda o: agent.act(o, deterministic=True), cfg.env, grid, seeds=seeds, progress=progress)
    return cfg, grid, result


GRID_CELLS = (3, 3, 3)
"""The evaluation grid of ``hilserl eval`` and of the report that ends ``hilserl train``: cube x
positions, y positions and rotations over the reset range."""


def grid_report(path: Path, cells: tuple[int, int, int], seeds: int, out: Path,
                progress: bool = True) -> tuple[dict, list[str]]:
    """Grade a checkpoint on the grid (``grade_checkpoint``), flag a local optimum (success by region,
    cube tracking), and write the success map ``out`` (PNG) with its figures (JSON beside it).
    Returns the figures and the lines that say them."""
    from hilserl.diagnostics.local_optimum import analyse
    from hilserl.diagnostics.success_map import plot_success_map

    cfg, grid, result = grade_checkpoint(path, cells, seeds, progress=progress)
    split = cfg.env.front_back_split_x
    analysis = analyse(result, split)
    lines = [f"success over the grid: {result.success_rate:.0%} ({len(grid.cells())} cells x {seeds} seeds, "
             "deterministic policy, no interventions)", *(f"  {line}" for line in analysis.lines())]
    lines.append(f"wrote {plot_success_map(result, split, out)}")
    summary = {"success_rate": result.success_rate, "cells": len(grid.cells()), "seeds": seeds, **analysis.to_dict()}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    lines.append(f"wrote {out.with_suffix('.json')}")
    return summary, lines


def closing_report(run_dir: Path, seeds: int) -> tuple[dict | None, list[str]]:
    """What ends ``hilserl train``: the final policy on the evaluation grid (``seeds`` per cell; 0
    skips it), where it fails, and the commands to look further."""
    figures, lines = None, []
    cfg = from_dict(Config, json.loads((run_dir / "config.json").read_text())) if seeds else None
    if cfg is not None and cfg.env.kind == SIM:
        figures, lines = grid_report(run_dir, GRID_CELLS, seeds, run_dir / "success_map.png")
    elif cfg is not None:  # an env whose start the grid cannot place: seeded resets instead
        episodes = seeds * int(np.prod(GRID_CELLS))
        result = evaluate(load_agent(run_dir)[1], cfg.env, episodes, seed=cfg.seed)
        figures = result.to_dict()
        lines = [f"success over {episodes} seeded resets: {result.success_rate:.0%} (deterministic policy, no "
                 "interventions; the grid evaluation and success map need the simulated grasp task)"]
    lines += [f"run folder: {run_dir}",
              f"look further: hilserl report {run_dir}   (success, interventions, losses, value overestimation)",
              f"              hilserl eval --checkpoint {run_dir} --seeds 4   (a finer grid evaluation)"]
    return figures, lines


def resume_state(cfg: Config, run_dir: Path) -> tuple[dict, list[str]]:
    """The newest usable checkpoint of ``run_dir`` (damaged ones are skipped, named) and the config's
    differences from it."""
    found = usable_checkpoint(run_dir)
    if found is None:
        raise FileNotFoundError(f"--resume: no complete and undamaged checkpoint in {checkpoint_dir(run_dir)}")
    path, state = found
    state["_folder"] = path  # the buffers, loaded by Learner.load_state_dict
    return state, check_resume(state["config"], cfg)


def check_buffer_room(cfg: Config, learner: Learner, run_dir: Path) -> None:
    """Refuse before any work when the memory cannot hold the buffers, or the disk their checkpoint,
    at the rows the run can fill (the demos and every env step) and the learner's bytes per row."""
    online = min(cfg.buffer.online_capacity, cfg.train.env_steps)
    demo = min(cfg.buffer.demo_capacity, cfg.train.demo_episodes * cfg.env.max_episode_steps + cfg.train.env_steps)
    needed = (online + demo) * learner.bytes_per_transition
    what = f"{online:,} online and up to {demo:,} demo transitions"
    check_memory(needed, f"the buffers ({what})")
    check_disk(checkpoint_dir(run_dir), needed, f"the checkpoints ({what} in the buffers)")


def begin_run(cfg: Config, run_dir: Path, resume: bool) -> dict | None:
    """Validate, seed, check the checkpoints folder can be written (the run folder was, by the run's
    lock, held around this); when resuming, the latest checkpoint's state, with the config's
    differences from it printed and recorded in ``resumes.jsonl``. Saves ``config.json``."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    writable_folder(checkpoint_dir(run_dir), "the checkpoints folder")
    state = None
    if resume:
        state, diffs = resume_state(cfg, run_dir)
        print(f"resuming {run_dir} at learner update {state['updates']}, env step {state['actor']['env_steps']}")
        cut = truncate_logs(run_dir, state["actor"]["episode"], state["updates"])
        if any(cut):
            print(f"  logs cut back to the checkpoint: {cut[0]} episode and {cut[1]} metric lines past it")
        for line in diffs or ["config unchanged"]:
            print(f"  config: {line}")
        with open(run_dir / "resumes.jsonl", "a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "updates": state["updates"],
                                "config_differences": diffs}) + "\n")
    save_json(cfg, run_dir / "config.json")
    return state


class _StopRequested(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler, a service manager), handled as Ctrl-C: a checkpoint, then exit."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _StopRequested(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train(cfg: Config, run_dir: Path, progress: bool = True, eval_episodes: int = 0,
          tensorboard: bool = True, resume: bool = False) -> TrainResult:
    """Train in one process, with ``cfg.threads`` torch threads (the caller's count is restored after).
    ``resume``: continue ``run_dir`` from its latest checkpoint (counters, buffers, optimisers, random
    states; logs append); config differences are printed and recorded."""
    cfg = pin_threads(cfg)
    with torch_threads(cfg.threads), run_lock(Path(run_dir)):
        return _train(cfg, Path(run_dir), progress, eval_episodes, tensorboard, resume)


def _train(cfg: Config, run_dir: Path, progress: bool, eval_episodes: int, tensorboard: bool,
           resume: bool) -> TrainResult:
    state = begin_run(cfg, run_dir, resume)
    learner = Learner(cfg)
    check_buffer_room(cfg, learner, run_dir)
    actor = Actor(cfg, learner.agent)
    if state is not None:
        learner.load_state_dict(state)
        actor.load_state_dict(state.get("actor_states", {}).get(0, state["actor"]))  # two-process runs keep one per actor
        set_rng_state(state["rng"])
        demo_steps = learner.demo_loaded
    else:
        demo_steps = load_demos(cfg, learner, run_dir)
    log = RunLog(run_dir, tensorboard=tensorboard)
    started = time.time()
    successes = [bool(e["success"]) for e in read_jsonl(run_dir / EPISODES)] if resume else []
    bar = tqdm(total=cfg.train.env_steps, initial=actor.env_steps, desc="training", unit="step", disable=not progress)
    last_info: dict[str, float] = {}

    def on_transition(t: Transition) -> None:
        nonlocal last_info
        learner.add(t)
        bar.update(1)
        if not learner.ready:
            return
        for _ in range(cfg.train.updates_per_env_step):
            try:
                last_info = learner.update()
            except NonFiniteLoss as exc:
                path = save_checkpoint(learner, actor, cfg, run_dir)
                raise TrainingDiverged(
                    f"{exc.name} became {exc.value} at learner update {learner.agent.updates} "
                    f"(env step {actor.env_steps}); checkpoint saved to {path}"
                ) from exc
            u = learner.agent.updates
            if u % cfg.train.log_every == 0:
                log.metrics(u, actor.env_steps, {**last_info, **learner.buffer_composition()})
                if progress:
                    bar.write(STEP_LINE.format(update=u, **last_info))
            if u % cfg.train.checkpoint_every == 0:
                try:
                    save_checkpoint(learner, actor, cfg, run_dir)
                except CheckpointNotWritten as exc:  # a full disk: the run goes on, the last one is kept
                    bar.write(f"warning: {exc}")

    try:
        with sigterm_as_interrupt():
            while actor.env_steps < cfg.train.env_steps:
                stats = actor.run_episode(on_transition)
                learner.episode_ended()
                successes.append(stats.success)
                log.episode(stats.to_dict())
                recent = successes[-20:]
                bar.set_postfix(ep=stats.episode, success20=f"{sum(recent) / len(recent):.0%}",
                                interv=f"{stats.intervention_rate:.0%}")
    except KeyboardInterrupt:
        path = save_checkpoint(learner, actor, cfg, run_dir)
        bar.write(f"stopped at env step {actor.env_steps}; checkpoint {path}; continue with --resume")
        log.close()
        raise
    finally:
        bar.close()
        actor.close()

    save_checkpoint(learner, actor, cfg, run_dir)
    if actor.reward_audit is not None:
        actor.reward_audit.write(run_dir / "reward_audit")
    final = evaluate(learner.agent, cfg.env, eval_episodes, seed=cfg.seed) if eval_episodes else None
    summary = {
        "episodes": actor.episode,
        "env_steps": actor.env_steps,
        "updates": learner.agent.updates,
        "demo_transitions": demo_steps,
        "buffer_composition": learner.buffer_composition(),
        "bytes_per_transition": learner.bytes_per_transition,
        "seconds": round(time.time() - started, 1),
        "success_rate_last_20": sum(successes[-20:]) / max(1, len(successes[-20:])),
        "final_eval": final.to_dict() if final else None,
        "reward_audit": actor.reward_audit.summary() if actor.reward_audit is not None else None,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.close()
    return TrainResult(run_dir, actor.episode, actor.env_steps, learner.agent.updates,
                       summary["success_rate_last_20"], final)
