"""A simulated human who watches the policy and intervenes with the scripted expert's actions.

Strategies, as the HIL-SERL paper describes them:

- ``brief``: let the policy explore for its first 2-3 seconds, then correct it for a fraction of a
  second when it drifts away from the cube or stalls, then hand back. The paper's advice.
- ``takeover``: after the exploration steps, take over and finish the task. The paper's anti-pattern
  ("persistently providing long sparse interventions that lead to task successes"), kept so its
  effect (value overestimation, no transfer to the policy) can be measured.
- ``none``: never intervene.

A schedule lowers the probability that the human watches an episode at all, as interventions should
become rarer while the policy improves. Its timings are in seconds and metres (``HumanConfig``), turned
into steps at the env's control rate.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from hilserl.config import HumanConfig
from hilserl.teleop.interface import NO_INTERVENTION, Intervention
from hilserl.teleop.scripted import Expert


class Progress(Protocol):
    """What the simulated human reads of the env's true state (the contract's ``true_state`` hook)."""

    @property
    def distance(self) -> float:
        """How far (m) the effector is from where the task needs it."""

    @property
    def done(self) -> bool:
        """The task is achieved (a held, lifted cube): nothing to correct."""


STALL_PROGRESS = 0.005
"""Metres of progress towards the cube that reset the stall counter."""


def watch_probability(config: HumanConfig, episode: int) -> float:
    """Linear decay from ``prob_start`` to ``prob_end`` over ``decay_episodes``."""
    frac = min(1.0, episode / config.decay_episodes)
    return config.prob_start + (config.prob_end - config.prob_start) * frac


class SimulatedHuman:
    def __init__(
        self,
        config: HumanConfig,
        expert: Expert,
        truth: Callable[[], Progress],
        rng: np.random.Generator,
        control_hz: float,
    ):
        """``control_hz``: the env's steps per second, which turn the config's seconds into steps."""
        config.validate()
        if not control_hz > 0:
            raise ValueError(f"control_hz = {control_hz}: the simulated human needs the env's control rate")
        self.config = config

        def steps(seconds: float) -> int:
            return int(round(seconds * control_hz))

        self.explore_range = tuple(steps(s) for s in config.explore_seconds)
        self.correction_steps = max(1, steps(config.correction_seconds))
        self.cooldown_steps = steps(config.cooldown_seconds)
        self.stall_steps = max(1, steps(config.stall_seconds))
        self.drift_per_step = config.drift_speed / control_hz
        self.expert = expert
        self.truth = truth
        self.rng = rng
        self.watching = False
        self._explore_until = 0
        self._clear_episode()

    def _clear_episode(self) -> None:
        self._t = 0
        self._correcting = 0
        self._cooldown = 0
        self._last_dist = np.inf
        self._best_dist = np.inf
        self._stalled = 0

    def reset(self, episode: int) -> None:
        cfg = self.config
        self.expert.reset()
        self._clear_episode()
        lo, hi = self.explore_range
        self._explore_until = int(self.rng.integers(lo, hi + 1))
        self.watching = cfg.strategy != "none" and bool(self.rng.random() < watch_probability(cfg, episode))

    def step(self, policy_action: np.ndarray) -> Intervention:
        self._t += 1
        if not self.watching:
            return NO_INTERVENTION
        state = self.truth()
        if self._t <= self._explore_until:
            self._observe(state)
            return NO_INTERVENTION
        if self.config.strategy == "takeover":
            return Intervention(self.expert.act(state))
        return self._brief(state)

    def _observe(self, state: Progress) -> tuple[float, bool]:
        dist = state.distance
        moving_away = dist > self._last_dist + self.drift_per_step
        self._last_dist = dist
        if dist < self._best_dist - STALL_PROGRESS:
            self._best_dist = dist
            self._stalled = 0
        else:
            self._stalled += 1
        return dist, moving_away

    def _brief(self, state: Progress) -> Intervention:
        cfg = self.config
        dist, moving_away = self._observe(state)
        if self._correcting > 0:
            self._correcting -= 1
            if self._correcting == 0:
                self._cooldown = self.cooldown_steps
                self._best_dist = dist
                self._stalled = 0
            return Intervention(self.expert.act(state))
        if self._cooldown > 0:
            self._cooldown -= 1
            return NO_INTERVENTION
        if state.done:
            return NO_INTERVENTION
        drifting = dist > cfg.drift_threshold and moving_away
        stalled = self._stalled >= self.stall_steps
        if drifting or stalled:
            self.expert.reset()
            self._correcting = self.correction_steps - 1
            return Intervention(self.expert.act(state))
        return NO_INTERVENTION
