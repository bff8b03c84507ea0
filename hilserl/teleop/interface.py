"""The intervention interface shared by real teleop devices and the simulated human.

Each control step the actor asks its intervention source what to do with the policy's action. The
source answers with an :class:`Intervention`: either "let the policy act" or an action that
replaces the policy's, flagged so that the transition is routed as a human step (to both buffers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Intervention:
    action: np.ndarray | None = None
    """The human's action, or None to let the policy's action through."""

    @property
    def active(self) -> bool:
        return self.action is not None


NO_INTERVENTION = Intervention()


class InterventionSource(Protocol):
    def reset(self, episode: int) -> None:
        """Called at the start of each episode with its index (0-based, counted over the run)."""

    def step(self, policy_action: np.ndarray) -> Intervention:
        """Called once per control step, before the action is sent to the env."""


def resolve(policy_action: np.ndarray, intervention: Intervention) -> tuple[np.ndarray, bool]:
    """The action that is executed, and whether it was the human's."""
    if intervention.action is None:
        return policy_action, False
    return np.asarray(intervention.action, dtype=np.float32), True
