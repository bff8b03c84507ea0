"""``hilserl train`` in one process: the actor steps the env, each transition goes to the learner,
which updates ``train.updates_per_env_step`` times per env step once ``train.learning_starts``
online transitions are in. Data flows one way: env -> actor -> transitions -> buffers -> learner ->
parameters -> actor (here the actor holds the learner's agent itself).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hilserl.agent.sac import NonFiniteLoss, SACAgent
from hilserl.config import Config, save_json
from hilserl.data.demos import record_demos
from hilserl.data.episodes import iter_transitions
from hilserl.data.transition import Transition
from hilserl.diagnostics.evaluate import EvalResult, evaluate
from hilserl.diagnostics.run_log import RunLog
from hilserl.distributed.actor import Actor
from hilserl.distributed.learner import Learner

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


def load_demos(cfg: Config, learner: Learner, run_dir: Path) -> int:
    """Record demos with the scripted expert if none exist, then load them into the demo buffer."""
    if cfg.train.demo_episodes == 0:
        return 0
    root = demo_dir_for(cfg, run_dir)
    if not (root / "meta.json").exists():
        record_demos(cfg.env, cfg.train.demo_episodes, root, seed=cfg.seed)
    states = []
    for t in iter_transitions(root, learner.layout.state_dim, learner.layout.image_shapes):
        learner.add_demo(t)
        states.append(t.observation["state"])
    if states and cfg.agent.normalize_state:
        learner.agent.set_state_normalizer(np.stack(states))
    return len(states)


def save_checkpoint(learner: Learner, actor: Actor, path: Path) -> Path:
    """Agent, optimisers and the run's counters, written atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    agent = learner.agent
    state = {
        "agent": agent.state_dict(),
        "optimizers": {name: getattr(agent, name).state_dict()
                       for name in ("critic_opt", "actor_opt", "temperature_opt", "grasp_opt")},
        "counters": {"updates": agent.updates, "env_steps": actor.env_steps, "episodes": actor.episode},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_agent(checkpoint: Path) -> tuple[Config, SACAgent]:
    """The config (``config.json`` of the run folder above ``checkpoints/``) and the trained agent."""
    from hilserl.config import load_config

    checkpoint = Path(checkpoint)
    config_path = checkpoint.parent.parent / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} not found: a checkpoint must sit in <run>/checkpoints/")
    cfg = load_config(config_path)
    learner = Learner(cfg)
    learner.agent.load_state_dict(torch.load(checkpoint, weights_only=False)["agent"])
    return cfg, learner.agent


def train(cfg: Config, run_dir: Path, progress: bool = True, eval_episodes: int = 0,
          tensorboard: bool = True) -> TrainResult:
    cfg.validate()
    torch.manual_seed(cfg.seed)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_json(cfg, run_dir / "config.json")

    learner = Learner(cfg)
    demo_steps = load_demos(cfg, learner, run_dir)
    actor = Actor(cfg, learner.agent)
    log = RunLog(run_dir, tensorboard=tensorboard)
    started = time.time()
    successes: list[bool] = []
    bar = tqdm(total=cfg.train.env_steps, desc="training", unit="step", disable=not progress)
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
                path = save_checkpoint(learner, actor, run_dir / "checkpoints" / f"diverged_{learner.agent.updates:08d}.pt")
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
                save_checkpoint(learner, actor, run_dir / "checkpoints" / "latest.pt")

    try:
        while actor.env_steps < cfg.train.env_steps:
            stats = actor.run_episode(on_transition)
            successes.append(stats.success)
            log.episode(stats.to_dict())
            recent = successes[-20:]
            bar.set_postfix(ep=stats.episode, success20=f"{sum(recent) / len(recent):.0%}",
                            interv=f"{stats.intervention_rate:.0%}")
    finally:
        bar.close()
        actor.close()

    save_checkpoint(learner, actor, run_dir / "checkpoints" / "latest.pt")
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
