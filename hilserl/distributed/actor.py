"""The actor: runs the env at its control rate with the current policy and the human, and emits
transitions and per-episode statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from hilserl.agent.sac import SACAgent
from hilserl.config import Config
from hilserl.data.transition import Transition
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.envs.rollout import run_episode
from hilserl.teleop.expert import ScriptedExpert
from hilserl.teleop.interface import InterventionSource
from hilserl.teleop.simulated_human import SimulatedHuman


@dataclass
class EpisodeStats:
    episode: int
    env_steps: int
    """Env steps of the run when the episode ended."""
    episode_return: float
    length: int
    success: bool
    intervention_steps: int
    intervention_rate: float
    watched: bool
    region: str
    cube_x: float
    cube_y: float
    q_start: float
    """The critic's value of the first state: compared with the return, it shows overestimation."""

    def to_dict(self) -> dict:
        return asdict(self)


class Actor:
    def __init__(self, cfg: Config, agent: SACAgent, human: InterventionSource | None = None):
        self.cfg = cfg
        self.agent = agent
        self.env = GraspCubeEnv(cfg.env)
        if human is None:
            expert = ScriptedExpert(cfg.env.action_scale, cfg.env.cube_size)
            human = SimulatedHuman(cfg.human, expert, self.env.true_state, np.random.default_rng(cfg.seed + 7))
        self.human = human
        self.episode = 0
        self.env_steps = 0

    def run_episode(self, on_transition: Callable[[Transition], None]) -> EpisodeStats:
        first_obs: list[dict] = []

        def policy(obs: dict) -> np.ndarray:
            if not first_obs:
                first_obs.append(obs)
            return self.agent.act(obs)

        def emit(t: Transition) -> None:
            self.env_steps += 1
            on_transition(t)

        result = run_episode(self.env, policy, human=self.human, episode_index=self.episode,
                             seed=self.cfg.seed * 1_000_003 + self.episode, on_transition=emit)
        stats = EpisodeStats(
            episode=self.episode,
            env_steps=self.env_steps,
            episode_return=result.episode_return,
            length=result.length,
            success=result.success,
            intervention_steps=result.intervention_steps,
            intervention_rate=result.intervention_rate,
            watched=bool(getattr(self.human, "watching", result.intervention_steps > 0)),
            region=result.region,
            cube_x=float(result.cube_start[0]),
            cube_y=float(result.cube_start[1]),
            q_start=self.agent.value(first_obs[0]),
        )
        self.episode += 1
        return stats

    def close(self) -> None:
        self.env.close()
