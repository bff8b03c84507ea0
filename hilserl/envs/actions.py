"""The end-effector action layout of the grasp task and the teleop devices: ``[dx, dy, dz, gripper]``.

The first three move the fingertip by ``action_scale`` metres per unit; the gripper is a discrete
command carried as a float (-1 close, 0 stay, +1 open, see ``hilserl.envs.contract``) so that one
array holds the whole action. The simulated grasp with ``env.jaw_yaw_action`` adds a jaw yaw delta
before the gripper, ``[dx, dy, dz, dyaw, gripper]``: the gripper command is always last.
"""

from __future__ import annotations

import numpy as np

from hilserl.envs.contract import gripper_value

ARM_DIMS = 3
ACTION_DIMS = ARM_DIMS + 1
GRIPPER_INDEX = ARM_DIMS
"""Where the gripper command sits in this default layout; with a jaw yaw it is last, index 4."""
YAW_INDEX = ARM_DIMS
"""Where the jaw yaw delta sits when the action has one."""


def make_action(arm: np.ndarray, gripper_cls: int) -> np.ndarray:
    """``arm``: the continuous part (3 values, or 4 with a yaw delta), clipped to [-1, 1]; the gripper
    command follows it."""
    arm = np.asarray(arm, dtype=np.float32)
    action = np.empty(len(arm) + 1, dtype=np.float32)
    action[:-1] = np.clip(arm, -1.0, 1.0)
    action[-1] = gripper_value(gripper_cls)
    return action
