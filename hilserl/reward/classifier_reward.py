"""The classifier's reward for any env, and its audit against the simulator's truth.

``ClassifierReward`` wraps an env: each frame's success probability goes through HIL-SERL's rules
(``SuccessRule``: over ``classifier_threshold`` for ``consecutive_success_frames`` frames in a row,
never before ``min_steps_before_success``), and the rule's decision gives the reward and ends the
episode. The wrapped env must not end episodes on its own success signal (``reward_env_config``).

``RewardAudit`` is what no anchor has: in the simulation each decision is compared with the truth.
An episode is a **false positive** when the classifier declares success at a step where the cube is
not held and lifted; a **missed success** when the simulator's rule declared success and the
classifier never did. The frames the classifier got most wrong are kept for a person to look at.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from hilserl.config import EnvConfig, RewardConfig
from hilserl.envs.success_rule import SuccessRule
from hilserl.reward.classifier import RewardClassifier

WORST_FRAMES = 8
"""Frames kept per kind of error (false positive, missed success) for the audit's pictures."""


def reward_env_config(env_cfg: EnvConfig) -> EnvConfig:
    """The config of the env to wrap: its own success signal never ends an episode."""
    return dataclasses.replace(env_cfg, reward=dataclasses.replace(env_cfg.reward, terminate_on_success=False))


@dataclass
class EpisodeAudit:
    declared_step: int | None = None
    declared_truth: bool = False
    """Was the cube held and lifted at the step the classifier declared success?"""
    sim_success_step: int | None = None

    @property
    def false_positive(self) -> bool:
        return self.declared_step is not None and not self.declared_truth

    @property
    def missed(self) -> bool:
        return self.sim_success_step is not None and self.declared_step is None


@dataclass
class RewardAudit:
    episodes: int = 0
    false_positive_episodes: int = 0
    missed_episodes: int = 0
    declared_episodes: int = 0
    sim_success_episodes: int = 0
    frames: int = 0
    frame_fp: int = 0
    frame_fn: int = 0
    current: EpisodeAudit = field(default_factory=EpisodeAudit)
    _worst_fp: list[tuple[float, int, np.ndarray]] = field(default_factory=list)
    _worst_fn: list[tuple[float, int, np.ndarray]] = field(default_factory=list)

    def begin_episode(self) -> None:
        self.current = EpisodeAudit()

    def frame(self, prob: float, predicted: bool, truth: bool, images: list[np.ndarray]) -> None:
        self.frames += 1
        if predicted and not truth:
            self.frame_fp += 1
            self._keep(self._worst_fp, prob, images)
        elif truth and not predicted:
            self.frame_fn += 1
            self._keep(self._worst_fn, 1.0 - prob, images)

    def _keep(self, heap: list, badness: float, images: list[np.ndarray]) -> None:
        item = (badness, self.frames, np.concatenate(images, axis=1))
        if len(heap) < WORST_FRAMES:
            heapq.heappush(heap, item)
        elif badness > heap[0][0]:
            heapq.heapreplace(heap, item)

    def end_episode(self) -> EpisodeAudit:
        ep = self.current
        self.episodes += 1
        self.declared_episodes += ep.declared_step is not None
        self.sim_success_episodes += ep.sim_success_step is not None
        self.false_positive_episodes += ep.false_positive
        self.missed_episodes += ep.missed
        return ep

    def summary(self) -> dict[str, Any]:
        n = max(self.episodes, 1)
        return {
            "episodes": self.episodes,
            "false_positive_episodes": self.false_positive_episodes,
            "false_positive_rate": self.false_positive_episodes / n,
            "missed_success_episodes": self.missed_episodes,
            "missed_success_rate": self.missed_episodes / max(self.sim_success_episodes, 1),
            "classifier_success_episodes": self.declared_episodes,
            "sim_success_episodes": self.sim_success_episodes,
            "frames": self.frames,
            "frame_false_positives": self.frame_fp,
            "frame_false_negatives": self.frame_fn,
        }

    def write(self, out_dir: Path) -> list[Path]:
        """``reward_audit.json`` and the worst frames as PNGs (camera views side by side)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "reward_audit.json"]
        written[0].write_text(json.dumps(self.summary(), indent=2) + "\n")
        for name, heap, what in (("false_positive", self._worst_fp, "p(success)"),
                                 ("missed_success", self._worst_fn, "p(failure)")):
            for rank, (badness, _, image) in enumerate(sorted(heap, reverse=True)):
                path = out_dir / f"worst_{name}_{rank:02d}.png"
                fig, ax = plt.subplots(figsize=(max(image.shape[1] / 60, 3.0), max(image.shape[0] / 60, 2.0) + 0.4))
                ax.imshow(image)
                ax.set_title(f"{name.replace('_', ' ')}: {what} {badness:.2f}", fontsize=8)
                ax.axis("off")
                fig.tight_layout()
                fig.savefig(path, dpi=80)
                plt.close(fig)
                written.append(path)
        return written


class ClassifierReward(gym.Wrapper):
    """Reward and termination from the classifier, with an audit against the simulator's truth."""

    def __init__(self, env: gym.Env, classifier: RewardClassifier, reward: RewardConfig,
                 audit: RewardAudit | None = None):
        super().__init__(env)
        self.classifier = classifier
        self.cfg = reward
        self.rule = SuccessRule(reward.min_steps_before_success, reward.consecutive_success_frames)
        self.audit = audit if audit is not None else RewardAudit()
        self._steps = 0

    def _frame_truth(self, info: dict) -> bool:
        """Does the frame really show a success: the simulator's truth (``true_state().done``) where
        the env offers it, else the env's own success signal."""
        base = self.env.unwrapped
        return bool(base.true_state().done) if hasattr(base, "true_state") else bool(info.get("is_success"))

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.rule.reset()
        self._steps = 0
        self.audit.begin_episode()
        return obs, info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        prob = self.classifier.probability(obs)
        frame = prob >= self.cfg.classifier_threshold
        success = self.rule.update(self._steps, frame)
        truth = self._frame_truth(info)
        ep = self.audit.current
        self.audit.frame(prob, frame, truth, [obs[c] for c in self.classifier.head.cameras])
        if info.get("is_success") and ep.sim_success_step is None:
            ep.sim_success_step = self._steps
        if success and ep.declared_step is None:
            ep.declared_step, ep.declared_truth = self._steps, truth
        reward = self.cfg.success_reward if success else self.cfg.step_reward
        terminated = bool(terminated or (success and self.cfg.terminate_on_success))
        info = {**info, "sim_success": bool(info.get("is_success")), "is_success": bool(success),
                "classifier_prob": prob, "success_streak": self.rule.streak}
        if terminated or truncated:
            done = self.audit.end_episode()
            info["reward_false_positive"], info["reward_missed_success"] = done.false_positive, done.missed
        return obs, float(reward), terminated, truncated, info
