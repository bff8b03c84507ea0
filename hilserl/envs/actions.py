"""The end-effector action layout of the grasp task and the teleop devices: ``[dx, dy, dz, gripper]``.

The first three move the fingertip by ``action_scale`` metres per unit; the gripper is a discrete
command carried as a float (-1 close, 0 stay, +1 open, see ``hilserl.envs.contract``) so that one
array holds the whole action.
"""

from __future__ import annotations

import numpy as np

from hilserl.envs.contract import gripper_value

ARM_DIMS = 3
ACTION_DIMS = ARM_DIMS + 1
GRIPPER_INDEX = ARM_DIMS


def make_action(arm: np.ndarray, gripper_cls: int) -> np.ndarray:
    action = np.empty(ACTION_DIMS, dtype=np.float32)
    action[:ARM_DIMS] = np.clip(arm, -1.0, 1.0)
    action[GRIPPER_INDEX] = gripper_value(gripper_cls)
    return action
