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
                 config: ExpertConfig = ExpertConfig()):
        self.action_scale = action_scale
        self.cube_half = cube_size / 2.0
        self.config = config
        self.close_steps = max(1, math.ceil(config.close_seconds * control_hz))
        self.gain = min(1.0, 1.0 / (config.response_seconds * control_hz))
        self._closed_for = NOT_CLOSED_BY_ME

    @classmethod
    def for_task(cls, env: EnvConfig, config: ExpertConfig = ExpertConfig()) -> "ScriptedExpert":
        return cls(env.action_scale, env.cube_size, env.control_hz, config)

    def reset(self) -> None:
        self._closed_for = NOT_CLOSED_BY_ME

    def _move(self, ee: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.clip(self.gain * (goal - ee) / self.action_scale, -1.0, 1.0)

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
                return make_action(arm, GRIPPER_STAY)
            if self._closed_for <= self.close_steps:
                return make_action(np.zeros(3), GRIPPER_STAY)
            # Closed on nothing (missed, the cube slipped, or someone else closed it): open, retry.
            self._closed_for = NOT_CLOSED_BY_ME
            return make_action(np.array([0.0, 0.0, 1.0]), GRIPPER_OPEN)

        self._closed_for = NOT_CLOSED_BY_ME
        if xy_err > cfg.align_tolerance:
            # Align above the cube; rise first if low, so the jaws do not knock it away.
            hover_z = cube_top + cfg.hover_height
            if s.ee_pos[2] < cube_top + 0.01 and xy_err > 2 * cfg.align_tolerance:
                goal = np.array([s.ee_pos[0], s.ee_pos[1], hover_z])
            else:
                goal = np.array([s.cube_pos[0], s.cube_pos[1], max(s.ee_pos[2], hover_z * 0.5)])
            return make_action(self._move(s.ee_pos, goal), GRIPPER_OPEN)
        goal = np.array([s.cube_pos[0], s.cube_pos[1], grasp_z])
        if s.ee_pos[2] - grasp_z > cfg.height_tolerance:
            return make_action(self._move(s.ee_pos, goal), GRIPPER_OPEN)
        self._closed_for = 0
        return make_action(self._move(s.ee_pos, goal), GRIPPER_CLOSE)
