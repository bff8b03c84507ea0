"""The action layout shared by the env, the agent, the demos and the teleop devices.

An action is ``[dx, dy, dz, gripper]`` in [-1, 1]. The first three move the fingertip by
``action_scale`` metres per unit. The gripper is a discrete command carried as a float so that one
array holds the whole action: -1 close, 0 stay, +1 open. The agent's grasp critic works on the class
index (0 close, 1 stay, 2 open). Rounding, not truncation, maps a float to its class: HIL-SERL once
shipped a bug where ``int(0.9)`` turned "open" into "stay".
"""

from __future__ import annotations

import numpy as np

ARM_DIMS = 3
ACTION_DIMS = ARM_DIMS + 1
GRIPPER_INDEX = ARM_DIMS

GRIPPER_CLOSE = 0
GRIPPER_STAY = 1
GRIPPER_OPEN = 2
GRIPPER_CLASSES = 3


def gripper_class(value: float) -> int:
    """Class index of a gripper command in [-1, 1], by rounding."""
    return int(np.clip(np.rint(value), -1, 1)) + 1


def gripper_value(cls: int | np.ndarray) -> float | np.ndarray:
    """The float command of a class index (inverse of :func:`gripper_class`)."""
    return np.asarray(cls, dtype=np.float32) - 1.0


def make_action(arm: np.ndarray, gripper_cls: int) -> np.ndarray:
    action = np.empty(ACTION_DIMS, dtype=np.float32)
    action[:ARM_DIMS] = np.clip(arm, -1.0, 1.0)
    action[GRIPPER_INDEX] = gripper_value(gripper_cls)
    return action
