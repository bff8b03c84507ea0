"""One step of experience, as it flows from the actor to the buffers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Observation = dict[str, np.ndarray]


@dataclass
class Transition:
    observation: Observation
    action: np.ndarray
    """The executed action: the human's where ``intervened``, else the policy's."""
    reward: float
    next_observation: Observation
    terminated: bool
    """True at a real end (success); a time-limit truncation is not terminal and is bootstrapped."""
    truncated: bool
    intervened: bool
    """The human chose this action. Routed to the demo buffer as well as the online buffer."""
    success: bool = False
    grasp_penalty: float = 0.0
    """The env's penalty for a gripper command that changed the gripper's state (``info["grasp_penalty"]``)."""
