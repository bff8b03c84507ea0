"""The SO-101's kinematic model, shared by the simulated grasp and the real arm: one model, one
top-down IK, the same home pose and gripper angles, so actions and resets mean the same on both."""

from __future__ import annotations

import mujoco
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
HOME_GUESS = np.array([0.0, 0.17, -0.06, 1.47, -1.49])
"""Arm joint angles near the base pose, the IK's starting point at reset."""
RESET_IK_ITERATIONS = 100
STEP_IK_ITERATIONS = 8


def kinematics() -> TopDownIK:
    """Forward kinematics and the top-down IK on the SO-101's model (the simulation's scene)."""
    model = build_spec(EnvConfig(state_only=True)).compile()
    return TopDownIK(model, SceneIndex.of(model))


def open_jaws_centre(model: mujoco.MjModel, index: SceneIndex, ee: np.ndarray) -> np.ndarray:
    """Where the middle of the open jaws is, from the grasp centre: (x, y) in metres, world frame,
    with the gripper top-down at ``GRIPPER_YAW`` over ``ee``.

    The middle is halfway between the two pads' inner faces along the closing axis. The grasp centre
    sits near the fixed pad (``GRASP_CENTER_POS``), so a cube centred on it keeps only a few
    millimetres from that pad once turned (a 45-degree cube is 35 mm across the jaws); a cube centred
    between the pads keeps a margin on both sides."""
    ik = TopDownIK(model, index)
    q, _ = ik.solve(np.asarray(ee, float), GRIPPER_YAW, HOME_GUESS, RESET_IK_ITERATIONS)
    data = mujoco.MjData(model)
    data.qpos[index.arm_qpos] = q
    data.qpos[index.gripper_qpos] = GRIPPER_OPEN_Q
    mujoco.mj_kinematics(model, data)
    site = data.site_xpos[index.ee_site]
    closing = data.site_xmat[index.ee_site].reshape(3, 3)[:, 2]  # the site's z: the jaws' closing axis

    def span(geom: int) -> tuple[float, float]:
        """The pad's extent along the closing axis, from the grasp centre (box support function)."""
        centre = float((data.geom_xpos[geom] - site) @ closing)
        half = float(np.abs(data.geom_xmat[geom].reshape(3, 3).T @ closing) @ model.geom_size[geom])
        return centre - half, centre + half

    (a_lo, a_hi), (b_lo, b_hi) = (span(g) for g in index.pad_geoms)
    inner = (a_hi, b_lo) if a_hi < b_lo else (b_hi, a_lo)
    return (sum(inner) / 2.0 * closing)[:2]
