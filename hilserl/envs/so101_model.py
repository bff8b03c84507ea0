"""The SO-101's kinematic model, shared by the simulated grasp and the real arm: one model, one
top-down IK, the same home pose and gripper angles, so actions and resets mean the same on both."""

from __future__ import annotations

import numpy as np

from hilserl.config import EnvConfig
from hilserl.envs.ik import TopDownIK
from hilserl.envs.scene import SceneIndex, build_spec

GRIPPER_OPEN_Q = 0.7
"""Gripper joint target when open (rad): the pads' inner faces are about 5 cm apart."""
GRIPPER_CLOSED_Q = -0.15
"""Gripper joint target when closed; below the cube's width, so the actuator squeezes it."""
GRIPPER_YAW = 0.0
"""Yaw of the jaws (rad): they close along the world y axis."""
JAW_YAW_LIMIT = 1.0
"""Largest jaw yaw either way (rad) when the action turns the jaws: a cube's faces repeat every 90
degrees, so +-45 degrees meets any of them; the rest is a margin, within the wrist roll's range."""
HOME_GUESS = np.array([0.0, 0.17, -0.06, 1.47, -1.49])
"""Arm joint angles near the base pose, the IK's starting point at reset."""
RESET_IK_ITERATIONS = 100
STEP_IK_ITERATIONS = 8


def kinematics() -> TopDownIK:
    """Forward kinematics and the top-down IK on the SO-101's model (the simulation's scene)."""
    model = build_spec(EnvConfig(state_only=True)).compile()
    return TopDownIK(model, SceneIndex.of(model))
