"""Evaluation of a trained policy without interventions over seeded resets, acting as ``agent.eval_actions`` says."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from hilserl.agent.sac import SACAgent
from hilserl.collect.rollout import EpisodeResult, Policy, run_episode
from hilserl.collect.watch import Watch
from hilserl.config import AgentConfig, EnvConfig
from hilserl.envs.factory import make_env

EVAL_SEED_OFFSET = 10**7
"""Evaluation seeds start here, far from training episodes' seeds."""


@dataclass
class EvalResult:
    success_rate: float
    episodes: int
    by_region: dict[str, float] = field(default_factory=dict)
    mean_length: float = 0.0
    acting: str = ""
    """How the policy acted (:func:`acting`), for the lines that report the result."""
    per_episode: list[dict[str, Any]] = field(default_factory=list)
    """Each episode's reset seed, success, length and, where the env reports them, the object's start
    (``cube_start``, metres) and rotation (``cube_start_yaw``, radians): where the failures cluster; and
    for a failure, why (``failure``: :meth:`~hilserl.collect.rollout.EpisodeResult.failure`)."""

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The failed episodes of ``per_episode``."""
        return [e for e in self.per_episode if not e["success"]]

    def to_dict(self) -> dict[str, Any]:
        return {"success_rate": self.success_rate, "episodes": self.episodes, "by_region": self.by_region,
                "mean_length": self.mean_length, "acting": self.acting, "per_episode": self.per_episode}


def acting(agent: AgentConfig) -> str:
    """How a graded policy moves the arm (``agent.eval_actions``), in words, and with which weights where
    not the trained policy's average (``agent.policy_average_rate`` 0)."""
    how = "arm actions drawn from the actor" if agent.eval_actions == "sample" else "the actor's mean action"
    return how if agent.keeps_policy_average else f"{how}, live weights"


def episode_record(seed: int, result: EpisodeResult) -> dict[str, Any]:
    """One evaluated episode as ``EvalResult.per_episode`` keeps it (JSON-ready)."""
    record: dict[str, Any] = {"seed": seed, "success": result.success, "length": result.length}
    if result.cube_start is not None:
        record["cube_start"] = [round(float(v), 4) for v in result.cube_start]
    if result.cube_start_yaw is not None:
        record["cube_start_yaw"] = round(float(result.cube_start_yaw), 4)
    if result.region is not None:
        record["region"] = result.region
    if result.first_close_step is not None:
        record["first_close_step"] = result.first_close_step
    if result.first_close_distance is not None:
        record["first_close_distance"] = round(result.first_close_distance, 4)
    if (mode := result.failure()) is not None:
        record["failure"] = mode
    return record


def evaluate(agent: SACAgent, env_cfg: EnvConfig, episodes: int, seed: int = 0, env: Any = None,
             progress: bool = False, watch: Watch | None = None,
             options: list[dict[str, Any]] | None = None, policy: Policy | None = None) -> EvalResult:
    """``by_region``: success per ``info["region"]``, empty where the env gives no region. ``watch``:
    each episode shown live and, when it fails, filmed. ``options``: each episode's reset options
    (``episodes`` of them), for resets chosen rather than drawn. ``policy``: instead of the agent's
    trained one (``agent.eval_actions``; a probe of its decisions)."""
    if options is not None and len(options) != episodes:
        raise ValueError(f"{len(options)} reset options for {episodes} episodes")
    own = env is None
    env = env or make_env(env_cfg)
    seeds = [EVAL_SEED_OFFSET + seed + i for i in range(episodes)]
    chosen = options or [None] * episodes
    bar = tqdm(list(zip(seeds, chosen)), desc="evaluation", unit="ep", disable=not progress)
    stream = agent.evaluation_stream(EVAL_SEED_OFFSET + seed) if policy is None else None
    how = acting(agent.config) if policy is None else "a given policy"
    if watch is not None:
        if policy is not None:
            raise ValueError("a watched evaluation shows the agent's own policy")
        watched = watch.policy(agent, stream)
        results = [watch.run_episode(env, watched, f"seed {s}", seed=s, options=o) for s, o in bar]
    else:
        policy = policy or (lambda o: agent.act_trained(o, stream)[0])
        results = [run_episode(env, policy, seed=s, options=opt) for s, opt in bar]
    if own:
        env.close()
    regions: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        if r.region is not None:
            regions[r.region].append(r.success)
    return EvalResult(
        success_rate=float(np.mean([r.success for r in results])),
        episodes=episodes,
        by_region={k: float(np.mean(v)) for k, v in sorted(regions.items())},
        mean_length=float(np.mean([r.length for r in results])),
        acting=how,
        per_episode=[episode_record(s, r) for s, r in zip(seeds, results)],
    )
