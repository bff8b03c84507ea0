"""The real SO-101 as an env of the contract: the simulation's actions and reset on the real arm.

One model, one IK: the fingertip moves by the same top-down IK on the same SO-101 model as the
simulation, so ``env.action_scale``, ``env.ee_base``, ``env.ee_reset_offset`` and ``env.ee_bounds``
mean the same on both. A reset moves the arm along an interpolated path (never a jump) to the base
pose plus a random offset, gripper open. Every joint command goes through ``SO101Arm``'s safety
(joint ranges, a maximum step, the jump check, torque off on any fault).

Observation: ``state`` (16 values: the 5 arm joints and the gripper in radians, their velocities
from the last step, the fingertip position from the model, the gripper command state) and one image
per configured camera. ``info["is_success"]`` comes from the person's keys (``labels``: success, or
failure, which ends the episode; the emergency stop) or, with ``--reward classifier``, from the
classifier wrapped around this env.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import gymnasium as gym
import numpy as np

from hilserl.config import EnvConfig
from hilserl.envs.actions import ACTION_DIMS, ARM_DIMS, GRIPPER_INDEX
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_FLAG, GRIPPER_OPEN, gripper_class
from hilserl.envs.grasp_env import region_of
from hilserl.envs.so101.arm import SO101Arm
from hilserl.envs.so101.cameras import Camera
from hilserl.envs.so101.guided_placement import GuidedPlacement
from hilserl.envs.so101_model import (
    GRIPPER_CLOSED_Q,
    GRIPPER_OPEN_Q,
    GRIPPER_YAW,
    HOME_GUESS,
    RESET_IK_ITERATIONS,
    STEP_IK_ITERATIONS,
    kinematics,
)

STATE_DIMS = 16
RESET_SETTLE_STEPS = 3


class Labels(Protocol):
    """Who says how an episode went on the real arm: a person's keys (``hilserl.teleop.robot_keys``)."""

    def poll(self) -> str | None:
        """"success", "failure" (the episode ends), or None; raises a RobotFault to stop the arm."""


class NoLabels:
    def poll(self) -> str | None:
        return None


class SO101Env(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, GRIPPER_FLAG: True}

    def __init__(self, config: EnvConfig, arm: SO101Arm, cameras: dict[str, Camera] | None = None,
                 labels: Labels | None = None, sleep: Callable[[float], None] | None = None,
                 placement: GuidedPlacement | None = None, placement_cameras: list | None = None):
        """``sleep``: how a reset waits between its interpolated commands (the control period);
        ``placement``: the guided cube placement at each reset, through ``placement_cameras`` where
        no observation camera serves it (closed with the env)."""
        import time

        config.validate()
        self.config, self.arm, self.cameras = config, arm, dict(cameras or {})
        self.placement, self._placement_cameras = placement, list(placement_cameras or [])
        self._cube: dict[str, Any] = {}
        self.labels = labels or NoLabels()
        self._sleep = sleep or time.sleep
        self.metadata = {**self.metadata, "render_fps": config.control_hz}
        self.ik = kinematics()
        spaces: dict[str, gym.spaces.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIMS,), np.float32)}
        for name, cam in self.cameras.items():
            spaces[name] = gym.spaces.Box(0, 255, (cam.spec.size, cam.spec.size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIMS,), np.float32)
        self._low, self._high = np.array(config.ee_bounds.low), np.array(config.ee_bounds.high)
        self._target = np.zeros(3)
        self._arm_cmd = HOME_GUESS.copy()
        self._closed = False
        self._steps = 0
        self._last_q: np.ndarray | None = None

    # ------------------------------------------------------------------------------- reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        try:
            return self._reset(seed, options)
        except BaseException:
            self.arm.disable()  # a fault, a stopped camera, Ctrl-C: torque off before anything else
            raise

    def step(self, action: np.ndarray):
        try:
            return self._step(action)
        except BaseException:
            self.arm.disable()
            raise

    def _reset(self, seed: int | None, options: dict[str, Any] | None):
        super().reset(seed=seed)
        cfg = self.config
        if not self.arm.torque_on:
            self.arm.enable()
        self._cube = self._place_cube(options or {}) if self.placement is not None else {}
        offset = self.np_random.uniform(-1.0, 1.0, 3) * np.array(cfg.ee_reset_offset)
        self._target = np.clip(np.array(cfg.ee_base) + offset, self._low, self._high)
        self._arm_cmd, _ = self.ik.solve(self._target, GRIPPER_YAW, HOME_GUESS, RESET_IK_ITERATIONS)
        self._closed = False
        self.arm.move_to(np.append(self._arm_cmd, GRIPPER_OPEN_Q), 1.0 / cfg.control_hz, RESET_SETTLE_STEPS)
        self._steps, self._last_q = 0, None
        obs = self._observation()
        return obs, self._info(False)

    def _place_cube(self, options: dict[str, Any]) -> dict[str, Any]:
        """The arm out of the camera's way, then the guided placement at ``options``' pose (the grid's
        ``cube_xy`` and ``cube_yaw``) or one drawn uniformly over the cube region; what was detected."""
        cfg = self.config
        low, high = np.array(cfg.cube_region.low[:2]), np.array(cfg.cube_region.high[:2])
        xy = options.get("cube_xy")
        xy = np.asarray(xy, float) if xy is not None else self.np_random.uniform(low, high)
        yaw = options.get("cube_yaw")
        yaw = float(yaw) if yaw is not None else float(self.np_random.uniform(-cfg.cube_yaw_range, cfg.cube_yaw_range))
        aside, _ = self.ik.solve(np.array(cfg.robot.placement_pose), GRIPPER_YAW, HOME_GUESS, RESET_IK_ITERATIONS)
        self.arm.move_to(np.append(aside, GRIPPER_OPEN_Q), 1.0 / cfg.control_hz, RESET_SETTLE_STEPS)
        found = self.placement.place((float(xy[0]), float(xy[1]), yaw))
        return {"cube_start": np.array([found.x, found.y, cfg.cube_size / 2]), "cube_start_yaw": found.yaw,
                "region": region_of(found.x, cfg.front_back_split_x), "cube_confidence": found.confidence}

    # -------------------------------------------------------------------------------- step
    def _step(self, action: np.ndarray):
        cfg = self.config
        action = np.clip(np.asarray(action, np.float64).reshape(ACTION_DIMS), -1.0, 1.0)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        self._target = np.clip(self._target + action[:ARM_DIMS] * cfg.action_scale, self._low, self._high)
        solution, _ = self.ik.solve(self._target, GRIPPER_YAW, self._arm_cmd, STEP_IK_ITERATIONS)
        if cfg.ee_bounds.contains(self.ik.fingertip(solution)[0], tol=0.002):
            self._arm_cmd = solution  # else: hold, as the simulation does at the edge of its reach
        cls = gripper_class(action[GRIPPER_INDEX])
        if cls in (GRIPPER_CLOSE, GRIPPER_OPEN):
            self._closed = cls == GRIPPER_CLOSE
        self.arm.command(np.append(self._arm_cmd, GRIPPER_CLOSED_Q if self._closed else GRIPPER_OPEN_Q))
        self._steps += 1
        obs = self._observation()
        label = self.labels.poll()
        success = self._steps >= cfg.reward.min_steps_before_success and label == "success"
        terminated = bool(success and cfg.reward.terminate_on_success)
        truncated = (self._steps >= cfg.max_episode_steps or label == "failure") and not terminated
        reward = cfg.reward.success_reward if success else cfg.reward.step_reward
        return obs, float(reward), terminated, truncated, {**self._info(success), "failure_label": label == "failure"}

    # ------------------------------------------------------------------------- observation
    def _observation(self) -> dict[str, np.ndarray]:
        q = self.arm.joints()
        velocity = np.zeros(6) if self._last_q is None else (q - self._last_q) * self.config.control_hz
        self._last_q = q
        tip, _ = self.ik.fingertip(q[:5])
        state = np.concatenate([q, velocity, tip, [1.0 if self._closed else 0.0]]).astype(np.float32)
        return {"state": state, **{name: cam.latest() for name, cam in self.cameras.items()}}

    def _info(self, success: bool) -> dict[str, Any]:
        return {"is_success": bool(success), "ee_pos": self.ik.fingertip(self.arm.commanded[:5])[0], **self._cube}

    @property
    def target(self) -> np.ndarray:
        """The fingertip position the arm is told to reach (a leader arm's reference)."""
        return self._target.copy()

    @property
    def max_episode_steps(self) -> int:
        return self.config.max_episode_steps

    @property
    def elapsed_steps(self) -> int:
        return self._steps

    def close(self) -> None:
        self.arm.disable()
        for cam in [*self.cameras.values(), *self._placement_cameras]:
            cam.close()
        if self.placement is not None:
            self.placement.close()
