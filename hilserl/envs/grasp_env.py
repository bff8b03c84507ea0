"""The simulated grasp task: an SO-101 grasps a 2.5 cm cube from random poses.

Each episode: the fingertip goes by inverse kinematics to a base pose plus a random offset, the cube
is placed at a random position and yaw, and the policy has ``episode_seconds`` at ``control_hz`` to
grasp and lift it. Actions are fingertip deltas (and, with ``jaw_yaw_action``, a jaw yaw delta) plus a
discrete gripper command (see ``actions``).

Observation ``state`` (proprioception, float32), index by index:

====  =========================================================
0-4   arm joint positions (pan, lift, elbow, wrist flex, wrist roll), rad
5     gripper joint position, rad (larger is more open)
6-10  arm joint velocities, rad/s
11    gripper joint velocity, rad/s
12-14 fingertip (EE site) position in the arm's base frame, m
15    gripper command state: 1 closed, 0 open
====  =========================================================

In ``state_only`` mode there are no images and the state gains the cube's true pose (privileged):
16-18 cube centre position (m), 19-21 cube centre minus fingertip (m), 22-23 sin and cos of 4 x cube
yaw (a cube looks the same every 90 degrees).

Ground truth (``info["grasped"]``, ``info["is_success"]``) comes from contacts and the cube's height;
it is for evaluation, labelling and the simulated human, never part of the observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from hilserl.config import EnvConfig
from hilserl.envs.actions import ARM_DIMS, YAW_INDEX
from hilserl.envs.contract import (
    GRIPPER_CLOSE,
    GRIPPER_FLAG,
    GRIPPER_OPEN,
    RESET_OPTIONS,
    RESET_SCALE,
    gripper_class,
)
from hilserl.envs.grasp_expert import ScriptedExpert
from hilserl.envs.ik import TopDownIK
from hilserl.envs.rendering import CameraRig
from hilserl.envs.scene import SceneIndex, build_spec
from hilserl.envs.so101_model import (
    GRIPPER_CLOSED_Q,
    GRIPPER_OPEN_Q,
    GRIPPER_YAW,
    HOME_GUESS,
    JAW_YAW_LIMIT,
    RESET_IK_ITERATIONS,
    STEP_IK_ITERATIONS,
)
from hilserl.envs.success_rule import SuccessRule

PROPRIO_DIMS = 16
GRIPPER_STATE_INDEX = 15
"""Index of the gripper command state (1 closed, 0 open) in ``state``."""
PRIVILEGED_DIMS = 8
MAX_TARGET_LEAD = 0.03
"""The commanded fingertip may run at most this far (m) ahead of the measured one, so that pushing
against the table or the cube does not wind the target up."""
BOUNDS_BACKOFF = (1.0, 0.5, 0.25, 0.1)
"""Fractions of a joint-space step tried, in order, until the commanded fingertip is in bounds."""
BOUNDS_TOLERANCE = 0.002
SETTLE_STEPS = 25
"""Physics steps after a reset so that the cube rests and the actuators hold the arm."""
MAX_CUBE_PLACEMENTS = 50


@dataclass(frozen=True)
class TrueState:
    """The simulator's truth, read by the scripted expert, the simulated human and evaluations."""

    ee_pos: np.ndarray
    cube_pos: np.ndarray
    cube_yaw: float
    gripper_closed: bool
    gripper_q: float
    grasped: bool
    lifted: bool
    jaw_yaw: float = GRIPPER_YAW
    """The jaws' yaw about the vertical (rad): 0 closes them along the world y axis."""

    @property
    def distance(self) -> float:
        """Fingertip to cube (m): how far the task is from done, as the simulated human judges it."""
        return float(np.linalg.norm(self.ee_pos - self.cube_pos))

    @property
    def done(self) -> bool:
        return self.grasped and self.lifted


def region_of(cube_x: float, split_x: float) -> str:
    """'front' (far from the base, near the reach limit: hard) or 'back' (easy)."""
    return "front" if cube_x > split_x else "back"


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _quat_yaw(q: np.ndarray) -> float:
    w, x, y, z = q
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def _site_yaw(rot: np.ndarray) -> float:
    """The jaws' yaw from the EE site's rotation: its y axis is (cos yaw, sin yaw, 0) top-down (``ik``)."""
    return float(np.arctan2(rot[1, 1], rot[0, 1]))


class GraspCubeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, GRIPPER_FLAG: True,
                RESET_OPTIONS: (RESET_SCALE,)}

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None):
        self.config = config or EnvConfig()
        self.config.validate()
        cfg = self.config
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": cfg.control_hz}
        self.model = build_spec(cfg).compile()
        self.data = mujoco.MjData(self.model)
        self.index = SceneIndex.of(self.model)
        self.ik = TopDownIK(self.model, self.index)
        self._cameras = None if cfg.state_only else CameraRig(self.model, cfg.cameras)
        self._gripper_body = self.model.geom_bodyid[self.index.pad_geoms[0]]
        self._jaw_body = self.model.geom_bodyid[self.index.pad_geoms[1]]
        self._cube_rest_z = cfg.cube_size / 2.0
        self._rule = SuccessRule(cfg.reward.min_steps_before_success, cfg.reward.consecutive_success_frames)

        state_dims = PROPRIO_DIMS + (PRIVILEGED_DIMS if cfg.state_only else 0)
        spaces: dict[str, gym.spaces.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, (state_dims,), np.float32)
        }
        if not cfg.state_only:
            for cam in cfg.cameras:
                spaces[cam.name] = gym.spaces.Box(0, 255, (cam.size, cam.size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.arm_dims = ARM_DIMS + int(cfg.jaw_yaw_action)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.arm_dims + 1,), np.float32)

        self._low = np.array(cfg.ee_bounds.low)
        self._high = np.array(cfg.ee_bounds.high)
        self._target = np.zeros(3)
        self._jaw_yaw = GRIPPER_YAW
        self._arm_cmd = HOME_GUESS.copy()
        self._gripper_closed = False
        self._steps = 0
        self._cube_start = np.zeros(3)
        self._cube_start_yaw = 0.0

    # ----------------------------------------------------------------------------------- reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Options: ``cube_xy``, ``cube_yaw``, ``ee_offset`` fix those parts of the reset (for grids);
        ``reset_scale`` in (0, 1] narrows the cube's range around its centre (for a curriculum)."""
        super().reset(seed=seed)
        options = options or {}
        cfg = self.config
        m, d, ix = self.model, self.data, self.index
        mujoco.mj_resetData(m, d)

        offset = options.get("ee_offset")
        if offset is None:
            offset = self.np_random.uniform(-1.0, 1.0, 3) * np.array(cfg.ee_reset_offset)
        self._target = np.clip(np.array(cfg.ee_base) + offset, self._low, self._high)
        self._jaw_yaw = GRIPPER_YAW
        self._arm_cmd, _ = self.ik.solve(self._target, self._jaw_yaw, HOME_GUESS, RESET_IK_ITERATIONS)
        d.qpos[ix.arm_qpos] = self._arm_cmd
        d.ctrl[ix.arm_actuators] = self._arm_cmd
        d.qpos[ix.gripper_qpos] = GRIPPER_OPEN_Q
        d.ctrl[ix.gripper_actuator] = GRIPPER_OPEN_Q
        self._gripper_closed = False

        fixed_xy = options.get("cube_xy")
        fixed_yaw = options.get("cube_yaw")
        scale = float(options.get(RESET_SCALE, 1.0))
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"reset option reset_scale must be in (0, 1], got {scale}")
        low, high = np.array(cfg.cube_region.low[:2]), np.array(cfg.cube_region.high[:2])
        centre, half = (low + high) / 2.0, (high - low) / 2.0 * scale
        yaw_range = cfg.cube_yaw_range * scale
        for _ in range(MAX_CUBE_PLACEMENTS):
            if fixed_xy is None:
                xy = self.np_random.uniform(centre - half, centre + half)
            else:
                xy = np.asarray(fixed_xy, float)
            yaw = float(self.np_random.uniform(-yaw_range, yaw_range)) if fixed_yaw is None else float(fixed_yaw)
            self._place_cube(xy, yaw)
            if not self._cube_touches_arm() or fixed_xy is not None:
                break
        mujoco.mj_step(m, d, nstep=SETTLE_STEPS)
        self._cube_start = d.xpos[ix.cube_body].copy()
        truth = self.true_state()
        self._cube_start_yaw = truth.cube_yaw
        self._steps = 0
        self._rule.reset()
        return self._observation(), self._info(truth, success=False)

    def _place_cube(self, xy: np.ndarray, yaw: float) -> None:
        adr = self.index.cube_qpos
        self.data.qpos[adr : adr + 3] = [xy[0], xy[1], self._cube_rest_z]
        self.data.qpos[adr + 3 : adr + 7] = _yaw_quat(yaw)
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def _cube_touches_arm(self) -> bool:
        cube, table = self.index.cube_geom, self.index.table_geom
        for c in self.data.contact[: self.data.ncon]:
            pair = {c.geom1, c.geom2}
            if cube in pair and table not in pair:
                return True
        return False

    # ------------------------------------------------------------------------------------ step
    def step(self, action: np.ndarray):
        cfg = self.config
        m, d, ix = self.model, self.data, self.index
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(self.arm_dims + 1), -1.0, 1.0)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")

        ee = d.site_xpos[ix.ee_site]
        target = np.clip(self._target + action[:ARM_DIMS] * cfg.action_scale, self._low, self._high)
        lead = target - ee
        dist = float(np.linalg.norm(lead))
        if dist > MAX_TARGET_LEAD:
            target = np.clip(ee + lead * (MAX_TARGET_LEAD / dist), self._low, self._high)
        self._target = target
        if cfg.jaw_yaw_action:
            turned = self._jaw_yaw + action[YAW_INDEX] * cfg.yaw_action_scale
            self._jaw_yaw = float(np.clip(turned, -JAW_YAW_LIMIT, JAW_YAW_LIMIT))
        self._arm_cmd = self._safe_joint_command(target)
        d.ctrl[ix.arm_actuators] = self._arm_cmd

        cls = gripper_class(action[-1])
        if cls == GRIPPER_CLOSE:
            self._gripper_closed = True
        elif cls == GRIPPER_OPEN:
            self._gripper_closed = False
        d.ctrl[ix.gripper_actuator] = GRIPPER_CLOSED_Q if self._gripper_closed else GRIPPER_OPEN_Q

        mujoco.mj_step(m, d, nstep=cfg.substeps)
        self._steps += 1

        truth = self.true_state()
        success = self._rule.update(self._steps, truth.grasped and truth.lifted)
        reward = cfg.reward.success_reward if success else cfg.reward.step_reward
        terminated = bool(success and cfg.reward.terminate_on_success)
        truncated = self._steps >= cfg.max_episode_steps and not terminated
        return self._observation(), float(reward), terminated, truncated, self._info(truth, success)

    def _safe_joint_command(self, target: np.ndarray) -> np.ndarray:
        """IK for ``target``, shortened if needed so the commanded fingertip stays inside the bounds.

        Near the edge of the SO-101's reach some corners of the bounds box cannot be reached
        top-down, and the IK's closest compromise can lie outside the box; the arm then moves only
        as far along the joint-space step as keeps the fingertip inside.
        """
        bounds = self.config.ee_bounds
        solution, _ = self.ik.solve(target, self._jaw_yaw, self._arm_cmd, STEP_IK_ITERATIONS)
        for fraction in BOUNDS_BACKOFF:
            q = self._arm_cmd + fraction * (solution - self._arm_cmd)
            if bounds.contains(self.ik.fingertip(q)[0], tol=BOUNDS_TOLERANCE):
                return q
        return self._arm_cmd

    # ----------------------------------------------------------------------------------- truth
    def true_state(self) -> TrueState:
        d, ix = self.data, self.index
        cube_pos = d.xpos[ix.cube_body].copy()
        adr = ix.cube_qpos
        touches_fixed = touches_jaw = False
        for c in d.contact[: d.ncon]:
            if ix.cube_geom not in (c.geom1, c.geom2):
                continue
            other = c.geom2 if c.geom1 == ix.cube_geom else c.geom1
            body = self.model.geom_bodyid[other]
            touches_fixed |= body == self._gripper_body
            touches_jaw |= body == self._jaw_body
        return TrueState(
            ee_pos=d.site_xpos[ix.ee_site].copy(),
            cube_pos=cube_pos,
            cube_yaw=_quat_yaw(d.qpos[adr + 3 : adr + 7]),
            gripper_closed=self._gripper_closed,
            gripper_q=float(d.qpos[ix.gripper_qpos]),
            grasped=bool(touches_fixed and touches_jaw),
            lifted=bool(cube_pos[2] > self._cube_rest_z + self.config.cube_lift_height),
            jaw_yaw=_site_yaw(d.site_xmat[ix.ee_site].reshape(3, 3)),
        )

    def scripted_expert(self) -> ScriptedExpert:
        return ScriptedExpert.for_task(self.config)

    @property
    def max_episode_steps(self) -> int:
        return self.config.max_episode_steps

    @property
    def elapsed_steps(self) -> int:
        return self._steps

    def _info(self, truth: TrueState, success: bool) -> dict[str, Any]:
        return {
            "is_success": bool(success),
            "grasped": truth.grasped,
            "lifted": truth.lifted,
            "cube_pos": truth.cube_pos,
            "cube_start": self._cube_start.copy(),
            "cube_start_yaw": self._cube_start_yaw,
            "cube_yaw": truth.cube_yaw,
            "ee_pos": truth.ee_pos,
            "region": region_of(self._cube_start[0], self.config.front_back_split_x),
        }

    # ----------------------------------------------------------------------------- observation
    def _proprio(self) -> np.ndarray:
        d, ix = self.data, self.index
        return np.concatenate(
            [
                d.qpos[ix.arm_qpos],
                [d.qpos[ix.gripper_qpos]],
                d.qvel[ix.arm_dof],
                [d.qvel[ix.gripper_dof]],
                d.site_xpos[ix.ee_site],
                [1.0 if self._gripper_closed else 0.0],
            ]
        )

    def _observation(self) -> dict[str, np.ndarray]:
        state = self._proprio()
        if self.config.state_only:
            d, ix = self.data, self.index
            yaw = _quat_yaw(d.qpos[ix.cube_qpos + 3 : ix.cube_qpos + 7])
            cube = d.xpos[ix.cube_body]
            rel = cube - d.site_xpos[ix.ee_site]
            state = np.concatenate([state, cube, rel, [np.sin(4 * yaw), np.cos(4 * yaw)]])
        obs: dict[str, np.ndarray] = {"state": state.astype(np.float32)}
        if self._cameras is not None:
            obs.update(self._cameras.render(self.data))
        return obs

    def render(self) -> np.ndarray | None:
        """All camera frames side by side (``rgb_array``), for videos and image strips."""
        if self.render_mode != "rgb_array":
            return None
        if self._cameras is None:
            raise RuntimeError("render() needs cameras; this env is state_only")
        frames = self._cameras.render(self.data)
        return np.concatenate(list(frames.values()), axis=1)

    def close(self) -> None:
        if self._cameras is not None:
            self._cameras.close()
            self._cameras = None
