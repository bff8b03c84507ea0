"""The grasp task's scripted expert: it grasps the cube from the simulator's true state.

It decides from the current state alone (plus a short memory of how long the jaws have been
closing), so it can take over at any step of an episode: that is what the simulated human needs to
make brief corrections in the middle of the policy's attempt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hilserl.config import EnvConfig
from hilserl.envs.actions import make_action
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY
from hilserl.envs.so101_model import JAW_YAW_LIMIT

if TYPE_CHECKING:
    from hilserl.envs.grasp_env import TrueState


NOT_CLOSED_BY_ME = 10**6
"""Steps-since-close value meaning the expert did not close the jaws itself (taking over from
someone else): if they hold nothing, it opens them at once instead of waiting for them to close."""


@dataclass(frozen=True)
class ExpertConfig:
    hover_height: float = 0.03
    """Fingertip height above the cube's top while aligning over it (m)."""
    grasp_depth: float = 0.0
    """Grasp-centre height above the cube's centre when the jaws close (m)."""
    hold_height: float = 0.06
    """Fingertip height to lift the grasped cube to (m)."""
    align_tolerance: float = 0.006
    """Horizontal error under which the expert descends (m)."""
    height_tolerance: float = 0.005
    yaw_tolerance: float = 0.08
    """Jaw yaw error (rad) under which the expert descends, when the action turns the jaws."""
    close_seconds: float = 0.4
    """Time the jaws need to close on the cube before the expert lifts; if they then hold nothing,
    the expert opens them and tries again. In seconds, not steps: the jaws close at the same speed
    whatever the control rate (4 steps at 10 Hz, 20 at 50 Hz)."""
    response_seconds: float = 0.1
    """Time over which the expert closes a position error: each step commands the share
    min(1, step / response_seconds) of it. At the default 10 Hz that is all of it; at higher rates
    commanding all of it every step outruns the arm's tracking lag and oscillates."""


class ScriptedExpert:
    def __init__(self, action_scale: float, cube_size: float, control_hz: float,
                 config: ExpertConfig = ExpertConfig(), yaw_scale: float | None = None):
        """``yaw_scale``: radians per unit of a jaw yaw action, when the action has one; the expert then
        turns the jaws square to the cube's faces before it descends."""
        self.action_scale = action_scale
        self.yaw_scale = yaw_scale
        self.cube_half = cube_size / 2.0
        self.config = config
        self.close_steps = max(1, math.ceil(config.close_seconds * control_hz))
        self.gain = min(1.0, 1.0 / (config.response_seconds * control_hz))
        self._closed_for = NOT_CLOSED_BY_ME

    @classmethod
    def for_task(cls, env: EnvConfig, config: ExpertConfig = ExpertConfig()) -> "ScriptedExpert":
        return cls(env.action_scale, env.cube_size, env.control_hz, config,
                   yaw_scale=env.yaw_action_scale if env.jaw_yaw_action else None)

    def reset(self) -> None:
        self._closed_for = NOT_CLOSED_BY_ME

    def _move(self, ee: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.clip(self.gain * (goal - ee) / self.action_scale, -1.0, 1.0)

    def _yaw_error(self, s: TrueState) -> float:
        """Turn that squares the jaws to the cube's nearest faces (rad), 0 when the jaws do not turn."""
        if self.yaw_scale is None:
            return 0.0
        quarter = math.pi / 2
        faces = s.cube_yaw + quarter * np.arange(-3, 4)
        faces = faces[np.abs(faces) <= JAW_YAW_LIMIT]
        return float(faces[np.argmin(np.abs(faces - s.jaw_yaw))] - s.jaw_yaw)

    def _action(self, arm: np.ndarray, gripper: int, turn: float = 0.0) -> np.ndarray:
        if self.yaw_scale is None:
            return make_action(arm, gripper)
        yaw = np.clip(self.gain * turn / self.yaw_scale, -1.0, 1.0)
        return make_action(np.append(arm, yaw), gripper)

    def act(self, s: TrueState) -> np.ndarray:
        cfg = self.config
        cube_top = s.cube_pos[2] + self.cube_half
        grasp_z = s.cube_pos[2] + cfg.grasp_depth
        xy_err = float(np.linalg.norm(s.cube_pos[:2] - s.ee_pos[:2]))

        if s.gripper_closed:
            self._closed_for += 1
            if s.grasped:
                goal = np.array([s.ee_pos[0], s.ee_pos[1], cfg.hold_height])
                arm = self._move(s.ee_pos, goal) if self._closed_for > self.close_steps else np.zeros(3)
                return self._action(arm, GRIPPER_STAY)
            if self._closed_for <= self.close_steps:
                return self._action(np.zeros(3), GRIPPER_STAY)
            # Closed on nothing (missed, the cube slipped, or someone else closed it): open, retry.
            self._closed_for = NOT_CLOSED_BY_ME
            return self._action(np.array([0.0, 0.0, 1.0]), GRIPPER_OPEN)

        self._closed_for = NOT_CLOSED_BY_ME
        turn = self._yaw_error(s)
        turned = abs(turn) <= cfg.yaw_tolerance
        if xy_err > cfg.align_tolerance or not turned:
            # Align above the cube; rise first if low, so the jaws do not knock it away.
            hover_z = cube_top + cfg.hover_height
            far = xy_err > 2 * cfg.align_tolerance or abs(turn) > 2 * cfg.yaw_tolerance
            if s.ee_pos[2] < cube_top + 0.01 and far:
                goal = np.array([s.ee_pos[0], s.ee_pos[1], hover_z])
            else:
                goal = np.array([s.cube_pos[0], s.cube_pos[1], max(s.ee_pos[2], hover_z * 0.5)])
            return self._action(self._move(s.ee_pos, goal), GRIPPER_OPEN, turn)
        goal = np.array([s.cube_pos[0], s.cube_pos[1], grasp_z])
        if s.ee_pos[2] - grasp_z > cfg.height_tolerance:
            return self._action(self._move(s.ee_pos, goal), GRIPPER_OPEN, turn)
        self._closed_for = 0
        return self._action(self._move(s.ee_pos, goal), GRIPPER_CLOSE)
