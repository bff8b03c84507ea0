"""A run's lifecycle, shared by single-process training and the gRPC learner: validating and seeding,
the run folder's checks, resuming from the latest checkpoint, loading the demos, and SIGTERM handled as
Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hilserl.collect.demos import record_demos
from hilserl.config import Config, from_dict, load_config, save_json
from hilserl.data.episodes import demo_steps, iter_transitions, read_meta
from hilserl.training.checkpoint import (
    check_resume,
    checkpoint_dir,
    complete_interrupted,
    latest_checkpoint,
    usable_checkpoint,
)
from hilserl.training.learner import Learner
from hilserl.training.preflight import check_disk, check_memory, writable_folder
from hilserl.training.run_log import truncate_logs

STEP_LINE = "Step {update}: critic={critic_loss:.4f} actor={actor_loss:.4f} temp={temperature_loss:.4f} α={alpha:.4f} buffer={online_buffer}"
"""The step-metric line users of HIL-SERL's learner know, one per ``train.log_every`` updates."""


class TrainingDiverged(RuntimeError):
    pass


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
                     complete=True, progress=progress, detours=cfg.train.demo_detours)
    steps = demo_steps(root)
    what = "encoding demo frames into the feature cache" if learner.cache is not None else "loading demos"
    states = []
    started = time.perf_counter()
    with tqdm(total=steps, desc=what, unit="step", disable=not progress, mininterval=0.5) as bar:
        for t in iter_transitions(root, learner.layout.state_dim, learner.layout.image_shapes, learner.task.action,
                                  cfg.env.grasp_penalty, cfg.env.grasp_penalty_on):
            learner.add_demo(t)
            states.append(t.observation["state"])
            bar.update(1)
    if steps:
        learner.intake_seconds = (time.perf_counter() - started) / steps
    if states and cfg.agent.normalize_state:
        learner.agent.set_state_normalizer(np.stack(states))
    return len(states)


def resume_or_start_over(run_dir: Path) -> bool:
    """Whether a run kept by a benchmark or a sweep resumes: True where ``run_dir`` holds a checkpoint
    (an interrupted one that was whole is put in place first); a start that saved none (stopped before
    its first checkpoint: logs, demos, a half-written checkpoint) is cleared, to begin again."""
    complete_interrupted(run_dir)
    if latest_checkpoint(run_dir) is not None:
        return True
    shutil.rmtree(run_dir, ignore_errors=True)
    return False


def resume_state(cfg: Config, run_dir: Path) -> tuple[dict, list[str]]:
    """The newest usable checkpoint of ``run_dir`` (damaged ones are skipped, named) and the config's
    differences from it."""
    complete_interrupted(run_dir)
    found = usable_checkpoint(run_dir)
    if found is None:
        raise FileNotFoundError(f"--resume: no complete and undamaged checkpoint in {checkpoint_dir(run_dir)}")
    path, state = found
    state["_folder"] = path  # the buffers, loaded by Learner.load_state_dict
    return state, check_resume(state["config"], cfg)


def resume_config(run_dir: Path, config_file: Path | None, overrides: list[str]) -> Config:
    """The config a resumed run continues with: the run's own, as its newest usable checkpoint holds it,
    with only what ``config_file`` and ``overrides`` set. Refused (ResumeRefused) when a change cannot
    apply; nothing is written either way (but an interrupted checkpoint that was whole is put in
    place first: ``complete_interrupted``), so a refused resume leaves the run's results as they were."""
    complete_interrupted(run_dir)
    found = usable_checkpoint(run_dir, say=lambda line: None)  # begin_run names the skipped ones
    if found is None:
        raise FileNotFoundError(f"--resume: no complete and undamaged checkpoint in {checkpoint_dir(run_dir)}")
    stored = found[1]["config"]
    cfg = load_config(config_file, overrides, base=from_dict(Config, stored))
    check_resume(stored, cfg)
    return cfg


def check_buffer_room(cfg: Config, learner: Learner, run_dir: Path) -> None:
    """Refuse before any work when the memory cannot hold the buffers, or the disk their checkpoint,
    at the rows the run can fill (the demos and every env step) and the learner's bytes per row."""
    online = min(cfg.buffer.online_capacity, cfg.train.env_steps)
    demo = min(cfg.buffer.demo_capacity, cfg.train.demo_episodes * cfg.env.max_episode_steps + cfg.train.env_steps)
    needed = online * learner.bytes_per_transition + demo * learner.demo_bytes_per_transition
    what = f"{online:,} online and up to {demo:,} demo transitions"
    remedy = "lower buffer.online_capacity or train.env_steps"
    if learner.codec is not None and learner.codec.dtype == "float16":
        remedy += ", or store the cached feature maps in uint8 (agent.cache_dtype=uint8: 56% of the bytes)"
    check_memory(needed, f"the buffers ({what})", remedy)
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
                                "env_steps": state["actor"]["env_steps"], "episodes": state["actor"]["episode"],
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
