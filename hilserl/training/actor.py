"""The actor: runs the env at its control rate with the current policy and the human, and emits
transitions and per-episode statistics."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

import gymnasium as gym
import numpy as np

from hilserl.agent.frame_features import FrameFeatures, same_weights
from hilserl.agent.sac import SACAgent
from hilserl.collect.live_view import LiveView, ViewTarget
from hilserl.collect.rollout import Step, run_episode
from hilserl.config import Config
from hilserl.data.transition import Transition
from hilserl.envs.contract import layout_of
from hilserl.reward.classifier_reward import RewardAudit
from hilserl.reward.rewarded_env import make_rewarded_env
from hilserl.teleop.interface import InterventionSource
from hilserl.teleop.scripted import require_hooks
from hilserl.teleop.simulated_human import SimulatedHuman
from hilserl.training.curriculum import ResetCurriculum

if TYPE_CHECKING:
    from hilserl.reward.classifier import RewardClassifier


@dataclass
class EpisodeStats:
    episode: int
    env_steps: int
    """Env steps of the run when the episode ended."""
    episode_return: float
    discounted_return: float
    """Sum of discount^t * reward: what ``q_start`` predicts, if the critic is right."""
    length: int
    success: bool
    intervention_steps: int
    intervention_rate: float
    watched: bool
    region: str | None
    """``info["region"]``, None where the env gives none (as for the cube's pose below)."""
    cube_x: float | None
    cube_y: float | None
    cube_yaw: float | None
    """The cube's rotation at the start (radians): turned cubes are the hardest to grasp."""
    q_start: float
    """The critic's value of the first state: compared with the return, it shows overestimation."""
    reset_scale: float
    """The curriculum's share of the cube's reset range in this episode (1.0: the full range)."""
    sim_success: bool
    """The simulator's verdict; differs from ``success`` only when a classifier gives the reward."""
    reward_false_positive: bool = False
    """The classifier declared success while the cube was not held and lifted."""
    reward_missed_success: bool = False
    """The simulator saw a success the classifier never declared."""

    def to_dict(self) -> dict:
        return asdict(self)


def share_frame_features(agent: SACAgent, classifier: RewardClassifier | None) -> FrameFeatures | None:
    """Let the policy and the reward classifier encode each frame once between them, when they run
    the same frozen backbone (same weights). None where they cannot: no classifier, no cameras, or a
    backbone that is fine-tuned (it drifts from the classifier's) or was pretrained otherwise."""
    if classifier is None or agent.backbone is None or not agent.config.encoder.freeze:
        return None
    if agent.device != next(classifier.backbone.parameters()).device:  # a learner's agent on an accelerator
        return None
    if not same_weights(agent.backbone, classifier.backbone):
        return None
    shared = FrameFeatures(agent.backbone)
    agent.frame_features = classifier.frame_features = shared
    return shared


class Actor:
    def __init__(self, cfg: Config, agent: SACAgent, human: InterventionSource | None = None,
                 env: tuple[gym.Env, RewardAudit | None] | None = None):
        """``env``: the env and its reward audit, made by the caller (``make_rewarded_env``), who read
        the agent's layout from it; made here from ``cfg.env`` when not given."""
        self.cfg = cfg
        self.agent = agent
        self.env, self.reward_audit = env if env is not None else make_rewarded_env(cfg.env)
        self.frame_features = share_frame_features(agent, getattr(self.env, "classifier", None))
        if human is None and cfg.human.strategy != "none":
            base = require_hooks(self.env, "true_state", "scripted_expert",
                                 purpose=f"the simulated human (human.strategy={cfg.human.strategy}; "
                                         "--set human.strategy=none runs without one)")
            human = SimulatedHuman(cfg.human, base.scripted_expert(), base.true_state,
                                   np.random.default_rng(cfg.seed + 7),
                                   control_hz=self.env.metadata.get("render_fps") or cfg.env.control_hz)
        self.human = human
        self.curriculum = ResetCurriculum(cfg.train.curriculum)
        self.episode = 0
        self.env_steps = 0
        self.before_act: Callable[[], None] | None = None
        """Called before each policy step: a remote actor loads new parameters and keeps its rate here."""
        self.policy_seconds: list[float] = []
        self._episode_start: dict | None = None
        self.view: LiveView | None = None
        """The live view (``--display``, ``--record``), fed every step when set."""

    def run_episode(self, on_transition: Callable[[Transition], None]) -> EpisodeStats:
        self._episode_start = self.state_dict()
        first_obs: list[dict] = []
        discounted = [0.0, 1.0]  # running sum, current discount factor
        value: list[float | None] = [None]  # the critic's value of the state acted on, for the view

        def policy(obs: dict) -> np.ndarray:
            if not first_obs:
                first_obs.append(obs)
            if self.before_act is not None:
                self.before_act()
            start = time.perf_counter()
            if self.view is not None:
                action, value[0] = self.agent.act_with_value(obs)
            else:
                action = self.agent.act(obs)
            self.policy_seconds.append(time.perf_counter() - start)
            return action

        def show(step: Step) -> None:
            assert self.view is not None
            self.view.step(self.episode, self.env_steps, step, value[0])

        def emit(t: Transition) -> None:
            self.env_steps += 1
            discounted[0] += discounted[1] * t.reward
            discounted[1] *= self.cfg.agent.discount
            on_transition(t)

        scale = self.curriculum.fraction
        result = run_episode(self.env, policy, human=self.human, episode_index=self.episode,
                             seed=self.cfg.seed * 1_000_003 + self.episode, on_transition=emit,
                             on_step=show if self.view is not None else None,
                             options=self.curriculum.reset_options() if self.cfg.train.curriculum.enabled else None)
        if self.view is not None:
            self.view.episode_end(self.episode, self.env_steps, result.length, result.success,
                                  result.intervention_steps)
        self.curriculum.record(result.success)
        stats = EpisodeStats(
            episode=self.episode,
            env_steps=self.env_steps,
            episode_return=result.episode_return,
            discounted_return=discounted[0],
            length=result.length,
            success=result.success,
            intervention_steps=result.intervention_steps,
            intervention_rate=result.intervention_rate,
            watched=bool(getattr(self.human, "watching", result.intervention_steps > 0)),
            region=result.region,
            cube_x=None if result.cube_start is None else float(result.cube_start[0]),
            cube_y=None if result.cube_start is None else float(result.cube_start[1]),
            cube_yaw=None if result.cube_start_yaw is None else float(result.cube_start_yaw),
            q_start=self.agent.value(first_obs[0]),
            reset_scale=scale,
            sim_success=bool(result.final_info.get("sim_success", result.success)),
            reward_false_positive=bool(result.final_info.get("reward_false_positive", False)),
            reward_missed_success=bool(result.final_info.get("reward_missed_success", False)),
        )
        self.episode += 1
        self._episode_start = None
        return stats

    def open_view(self, target: ViewTarget, realtime: bool = False, say=print) -> LiveView:
        """Start the live view of this actor's episodes (``self.view``); the caller closes it.
        ``realtime``: the actor keeps a control rate, so the view drops steps rather than delay it."""
        action = layout_of(self.env).action
        classifier = getattr(self.env, "classifier", None)
        self.view = LiveView(target, gripper_index=action.gripper_index if action.gripper else None,
                             threshold=self.cfg.env.reward.classifier_threshold if classifier is not None else None,
                             human="simulated human" if isinstance(self.human, SimulatedHuman) else "person",
                             realtime=realtime, say=say)
        return self.view

    def boundary_state(self) -> dict:
        """``state_dict()`` as of the last episode boundary: mid-episode, as the episode began (a
        resumed actor runs that episode again from its start, so it must not count twice)."""
        return self._episode_start if self._episode_start is not None else self.state_dict()

    def state_dict(self) -> dict:
        """Counters, the curriculum and the simulated human's random state (episodes are seeded by
        their index, so the env needs nothing more)."""
        state = {"episode": self.episode, "env_steps": self.env_steps, "curriculum": self.curriculum.state_dict()}
        if isinstance(getattr(self.human, "rng", None), np.random.Generator):
            state["human_rng"] = self.human.rng.bit_generator.state
        return state

    def load_state_dict(self, state: dict) -> None:
        self.episode, self.env_steps = int(state["episode"]), int(state["env_steps"])
        if "curriculum" in state:
            self.curriculum.load_state_dict(state["curriculum"])
        if "human_rng" in state and isinstance(getattr(self.human, "rng", None), np.random.Generator):
            self.human.rng.bit_generator.state = state["human_rng"]

    def close(self) -> None:
        self.env.close()
