"""Damped-least-squares inverse kinematics for a top-down gripper pose.

The target is a fingertip position plus an orientation whose approach axis (the EE site's x axis)
points straight down and whose jaw axis is turned by ``yaw`` about the vertical. The SO-101's pan,
lift, elbow and wrist-flex joints place the fingertip and tilt it down; wrist roll sets the yaw, so
the full pose is reachable with five joints.

IK runs on a scratch ``MjData`` (kinematics only), never on the simulation's own state.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hilserl.envs.scene import SceneIndex


@dataclass(frozen=True)
class IKConfig:
    damping: float = 1e-2
    orientation_weight: float = 0.3
    """Metres of position error worth one radian of orientation error."""
    max_step: float = 0.3
    """Largest joint change per iteration (rad), for stability far from the solution."""
    tolerance: float = 1e-4


def top_down_rotation(yaw: float) -> np.ndarray:
    """Rotation matrix (columns = EE site axes in world) with x down and y turned by ``yaw``."""
    x = np.array([0.0, 0.0, -1.0])
    y = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def orientation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Small-angle rotation vector taking ``current`` to ``target`` (both 3x3, columns = axes)."""
    return 0.5 * sum(np.cross(current[:, i], target[:, i]) for i in range(3))


class TopDownIK:
    def __init__(self, model: mujoco.MjModel, index: SceneIndex, config: IKConfig = IKConfig()):
        self.model = model
        self.index = index
        self.config = config
        self.data = mujoco.MjData(model)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._low = model.jnt_range[[model.dof_jntid[d] for d in index.arm_dof], 0]
        self._high = model.jnt_range[[model.dof_jntid[d] for d in index.arm_dof], 1]

    def fingertip(self, arm_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: EE site position and rotation for arm joint angles ``arm_q``."""
        self.data.qpos[self.index.arm_qpos] = arm_q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # the Jacobian reads cdof, computed here
        site = self.index.ee_site
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    def solve(
        self, position: np.ndarray, yaw: float, q_init: np.ndarray, iterations: int = 50
    ) -> tuple[np.ndarray, float]:
        """Joint angles reaching ``position`` top-down with ``yaw``; returns (q, position error in m)."""
        cfg = self.config
        target_rot = top_down_rotation(yaw)
        q = np.clip(np.asarray(q_init, float).copy(), self._low, self._high)
        dofs = self.index.arm_dof
        err_pos = np.inf
        for _ in range(iterations):
            pos, rot = self.fingertip(q)
            e_p = position - pos
            e_r = orientation_error(rot, target_rot) * cfg.orientation_weight
            err_pos = float(np.linalg.norm(e_p))
            if err_pos < cfg.tolerance and np.linalg.norm(e_r) < cfg.tolerance:
                break
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.index.ee_site)
            jac = np.vstack([self._jacp[:, dofs], self._jacr[:, dofs] * cfg.orientation_weight])
            err = np.concatenate([e_p, e_r])
            jjt = jac @ jac.T + cfg.damping**2 * np.eye(6)
            dq = jac.T @ np.linalg.solve(jjt, err)
            dq = np.clip(dq, -cfg.max_step, cfg.max_step)
            q = np.clip(q + dq, self._low, self._high)
        pos, _ = self.fingertip(q)
        return q, float(np.linalg.norm(position - pos))
