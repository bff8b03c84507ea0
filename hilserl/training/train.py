"""``hilserl train`` in one process: the actor steps the env, each transition goes to the learner,
which updates ``train.updates_per_env_step`` times per env step once ``train.learning_starts``
online transitions are in. Data flows one way: env -> actor -> transitions -> buffers -> learner ->
parameters -> actor (here the actor holds the learner's agent itself).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from hilserl.collect.live_view import ViewTarget
from hilserl.config import Config, pin_threads
from hilserl.data.transition import Transition
from hilserl.envs.declared import declare
from hilserl.threads import torch_threads
from hilserl.training.actor import Actor
from hilserl.training.checkpoint import rng_state, set_rng_state
from hilserl.training.evaluate import EvalResult, evaluate
from hilserl.training.learner import Learner
from hilserl.training.learner_loop import CheckpointContent, LearnerLoop
from hilserl.training.run import (
    begin_run,
    check_buffer_room,
    load_demos,
    sigterm_as_interrupt,
)
from hilserl.training.run_lock import run_lock
from hilserl.training.run_log import EPISODES, RunLog, read_jsonl


@dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    env_steps: int
    updates: int
    success_rate_last_20: float
    final_eval: EvalResult | None


class EpisodeBoundary:
    """The run's state as the current episode began: what single-process checkpoints hold.

    A resumed actor runs an unfinished episode again from its start (episodes are seeded by their
    index), so a checkpoint written mid-episode holds the learner, the actor and the random streams
    as they were when that episode began, and the buffers without its steps: the resumed run then
    repeats the rest of the run exactly, as if it had never stopped."""

    def __init__(self, learner: Learner, actor: Actor):
        self.learner, self.actor = learner, actor
        self.state: dict | None = None

    def mark(self) -> None:
        """Called as an episode begins."""
        self.state = copy.deepcopy({**self.learner.state_dict(), "actor": self.actor.state_dict(), "rng": rng_state()})

    def content(self) -> CheckpointContent:
        if self.state is None:
            live = {**self.learner.state_dict(), "actor": self.actor.state_dict(), "rng": rng_state()}
            return CheckpointContent(live, self.learner.unfinished_rows())
        return CheckpointContent(self.state, self.learner.unfinished_rows(), identity=self.identity(self.state))

    @staticmethod
    def identity(state: dict) -> tuple[int, int]:
        """An episode's start is the same state however often it is saved: its index and the updates by then."""
        return int(state["actor"]["episode"]), int(state["updates"])


def train(cfg: Config, run_dir: Path, progress: bool = True, eval_episodes: int = 0,
          tensorboard: bool = True, resume: bool = False, view: ViewTarget | None = None) -> TrainResult:
    """Train in one process, with ``cfg.threads`` torch threads (the caller's count is restored after).
    ``resume``: continue ``run_dir`` from its latest checkpoint (counters, buffers, optimisers, random
    states; logs append); config differences are printed and recorded. ``view``: a live view of every
    step (``hilserl.collect.live_view``)."""
    cfg = declare(pin_threads(cfg))  # the env's own rate and length recorded; settings it ignores refused
    with torch_threads(cfg.threads), run_lock(Path(run_dir)):
        return _train(cfg, Path(run_dir), progress, eval_episodes, tensorboard, resume, view)


def _train(cfg: Config, run_dir: Path, progress: bool, eval_episodes: int, tensorboard: bool,
           resume: bool, view: ViewTarget | None) -> TrainResult:
    state = begin_run(cfg, run_dir, resume)
    learner = Learner(cfg)
    check_buffer_room(cfg, learner, run_dir)
    actor = Actor(cfg, learner.agent)
    live = actor.open_view(view) if view is not None else None
    if state is not None:
        learner.load_state_dict(state)
        actor.load_state_dict(state.get("actor_states", {}).get(0, state["actor"]))  # two-process runs keep one per actor
        set_rng_state(state["rng"])
        demo_steps = learner.demo_loaded
    else:
        demo_steps = load_demos(cfg, learner, run_dir, progress=progress)
    log = RunLog(run_dir, tensorboard=tensorboard)
    started = time.time()
    successes = [bool(e["success"]) for e in read_jsonl(run_dir / EPISODES)] if resume else []
    bar = tqdm(total=cfg.train.env_steps, initial=actor.env_steps, desc="training", unit="step", disable=not progress)
    boundary = EpisodeBoundary(learner, actor)
    loop = LearnerLoop(cfg, learner, run_dir, log, content=boundary.content, say=bar.write, progress=progress)
    if state is not None and "actor_states" not in state:  # the resumed episode's start is the checkpoint read
        loop.on_disk = boundary.identity(state)

    def on_transition(t: Transition) -> None:
        learner.add(t)
        loop.env_steps = actor.env_steps
        bar.update(1)
        loop.run_owed()

    try:
        with sigterm_as_interrupt():
            while actor.env_steps < cfg.train.env_steps:
                boundary.mark()
                stats = actor.run_episode(on_transition)
                learner.episode_ended()
                successes.append(stats.success)
                log.episode(stats.to_dict())
                recent = successes[-20:]
                bar.set_postfix(ep=stats.episode, success20=f"{sum(recent) / len(recent):.0%}",
                                interv=f"{stats.intervention_rate:.0%}")
            boundary.state = None  # the run's end is a boundary: the final checkpoint holds it all
    except KeyboardInterrupt:
        path = loop.checkpoint()
        bar.write(f"stopped at env step {actor.env_steps}; checkpoint {path} holds the run as its episode "
                  f"{actor.episode} began; continue with --resume")
        log.close()
        raise
    finally:
        bar.close()
        if live is not None:
            live.close()
        actor.close()

    loop.checkpoint()
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
        "demo_bytes_per_transition": learner.demo_bytes_per_transition,
        "seconds": round(time.time() - started, 1),
        "success_rate_last_20": sum(successes[-20:]) / max(1, len(successes[-20:])),
        "final_eval": final.to_dict() if final else None,
        "reward_audit": actor.reward_audit.summary() if actor.reward_audit is not None else None,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.close()
    return TrainResult(run_dir, actor.episode, actor.env_steps, learner.agent.updates,
                       summary["success_rate_last_20"], final)
