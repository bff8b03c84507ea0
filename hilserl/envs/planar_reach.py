"""A second task, sharing no code with the grasp task: a two-link planar arm brings its fingertip to a
random target on a table, seen from above.

It exists to show that hilserl's core learns any env that keeps the contract: no gripper (every action
dimension is continuous, the grasp critic is off), its own state layout, its own success rule, and
the optional hooks (``true_state``, ``scripted_expert``) that give it demos and a simulated human.
Kinematic, in NumPy: a step is microseconds, so a learning test takes seconds of env time.

Observation ``state`` (float32): cos and sin of both joints, fingertip x y, target x y, target minus
fingertip (m). With ``camera_size`` > 0 it adds a ``top`` camera image drawn from above.
Action: two joint-velocity commands in [-1, 1], ``max_joint_step`` rad per step at 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

LINKS = (0.12, 0.10)
"""Upper and lower link lengths (m)."""
JOINT_LIMIT = 2.6
"""Both joints stay within +-this (rad)."""
TARGET_RADIUS = (0.07, 0.20)
"""The target's distance from the shoulder (m): inside the reach, away from the singular centre."""
TARGET_ANGLE = np.pi / 2
"""The target's bearing from the shoulder is uniform in +-this (rad): the table in front of the arm."""
START_SPREAD = 0.6
"""Each joint starts uniform in +-this (rad) around a bent home pose."""
HOME = np.array([0.0, 1.2])
TABLE_HALF_WIDTH = 0.25
"""The camera sees the square of this half-width (m) around the shoulder."""
RENDER_SIZE = 128
"""Pixels of ``render()``'s view when the env has no camera of its own."""


@dataclass(frozen=True)
class ReachTruth:
    """The true state, for the scripted expert and the simulated human."""

    q: np.ndarray
    fingertip: np.ndarray
    target: np.ndarray
    tolerance: float

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(self.target - self.fingertip))

    @property
    def done(self) -> bool:
        return self.distance < self.tolerance


def fingertip_of(q: np.ndarray) -> np.ndarray:
    elbow = LINKS[0] * np.array([np.cos(q[0]), np.sin(q[0])])
    return elbow + LINKS[1] * np.array([np.cos(q[0] + q[1]), np.sin(q[0] + q[1])])


def joints_for(point: np.ndarray, elbow_sign: float) -> np.ndarray:
    """Joint angles that put the fingertip at ``point`` (analytic two-link inverse kinematics)."""
    r2 = float(point @ point)
    c2 = np.clip((r2 - LINKS[0] ** 2 - LINKS[1] ** 2) / (2 * LINKS[0] * LINKS[1]), -1.0, 1.0)
    q2 = elbow_sign * np.arccos(c2)
    q1 = np.arctan2(point[1], point[0]) - np.arctan2(LINKS[1] * np.sin(q2), LINKS[0] + LINKS[1] * np.cos(q2))
    return np.array([np.arctan2(np.sin(q1), np.cos(q1)), q2])


class ReachExpert:
    """Joint-space steps toward the inverse-kinematics solution on the current elbow side."""

    def __init__(self, max_joint_step: float):
        self.max_joint_step = max_joint_step

    def reset(self) -> None:
        pass

    def act(self, truth: ReachTruth) -> np.ndarray:
        goal = joints_for(truth.target, 1.0 if truth.q[1] >= 0 else -1.0)
        error = np.arctan2(np.sin(goal - truth.q), np.cos(goal - truth.q))
        return np.clip(error / self.max_joint_step, -1.0, 1.0).astype(np.float32)


EPISODE_STEPS = 40
"""Steps an episode lasts unless the target is reached (the time limit it is registered with)."""


class PlanarReachEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, max_steps: int = EPISODE_STEPS, tolerance: float = 0.015, max_joint_step: float = 0.15,
                 camera_size: int = 0, render_mode: str | None = None):
        self.max_steps, self.tolerance, self.max_joint_step = max_steps, tolerance, max_joint_step
        self.camera_size, self.render_mode = camera_size, render_mode
        spaces: dict[str, gym.spaces.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (10,), np.float32)}
        if camera_size:
            spaces["top"] = gym.spaces.Box(0, 255, (camera_size, camera_size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._q = HOME.copy()
        self._target = np.zeros(2)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        self._q = HOME + rng.uniform(-START_SPREAD, START_SPREAD, 2)
        radius, angle = rng.uniform(*TARGET_RADIUS), rng.uniform(-TARGET_ANGLE, TARGET_ANGLE)
        self._target = radius * np.array([np.cos(angle), np.sin(angle)])
        self._steps = 0
        return self._observation(), self._info(False)

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float64).reshape(2), -1.0, 1.0)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        self._q = np.clip(self._q + action * self.max_joint_step, -JOINT_LIMIT, JOINT_LIMIT)
        self._steps += 1
        success = self.true_state().done
        truncated = self._steps >= self.max_steps and not success
        return self._observation(), float(success), success, truncated, self._info(success)

    # ---------------------------------------------------------------------- contract hooks
    def true_state(self) -> ReachTruth:
        return ReachTruth(self._q.copy(), fingertip_of(self._q), self._target.copy(), self.tolerance)

    def scripted_expert(self) -> ReachExpert:
        return ReachExpert(self.max_joint_step)

    @property
    def max_episode_steps(self) -> int:
        return self.max_steps

    @property
    def elapsed_steps(self) -> int:
        return self._steps

    # ------------------------------------------------------------------------- observation
    def _info(self, success: bool) -> dict[str, Any]:
        tip = fingertip_of(self._q)
        return {"is_success": bool(success), "ee_pos": np.array([tip[0], tip[1], 0.0])}

    def _observation(self) -> dict[str, np.ndarray]:
        tip = fingertip_of(self._q)
        state = np.concatenate([np.cos(self._q), np.sin(self._q), tip, self._target, self._target - tip])
        obs = {"state": state.astype(np.float32)}
        if self.camera_size:
            obs["top"] = self._draw()
        return obs

    def _draw(self, size: int | None = None) -> np.ndarray:
        """The table from above: the target a red disc, the links grey, the fingertip white."""
        n = size or self.camera_size
        image = np.full((n, n, 3), 40, np.uint8)
        axis = np.linspace(-TABLE_HALF_WIDTH, TABLE_HALF_WIDTH, n)
        xs, ys = np.meshgrid(axis, axis[::-1])
        pixel = 2 * TABLE_HALF_WIDTH / n

        def disc(centre: np.ndarray, radius: float, colour: tuple[int, int, int]) -> None:
            image[(xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius ** 2] = colour

        def link(a: np.ndarray, b: np.ndarray) -> None:
            along = np.clip(((xs - a[0]) * (b - a)[0] + (ys - a[1]) * (b - a)[1]) / float((b - a) @ (b - a)), 0, 1)
            near = (xs - a[0] - along * (b - a)[0]) ** 2 + (ys - a[1] - along * (b - a)[1]) ** 2 <= pixel ** 2
            image[near] = (160, 160, 160)

        disc(self._target, max(self.tolerance, pixel), (220, 40, 40))
        elbow = LINKS[0] * np.array([np.cos(self._q[0]), np.sin(self._q[0])])
        link(np.zeros(2), elbow)
        link(elbow, fingertip_of(self._q))
        disc(fingertip_of(self._q), 1.5 * pixel, (255, 255, 255))
        return image

    def render(self) -> np.ndarray | None:
        return self._draw(self.camera_size or RENDER_SIZE) if self.render_mode == "rgb_array" else None
