"""LeRobot's gym-hil ``PandaPickCube`` (a Franka Panda picking a 4 cm cube, lifted 10 cm for success,
100 steps at 10 Hz) behind the env contract: a task hilserl did not write, as LeRobot's users meet it.

The adapter keeps gym-hil's own task, physics, controller and success rule (``PandaPickCubeGymEnv``)
and its action scale (2.5 cm per step at 1.0, gym-hil's ``EEActionWrapper``), and changes only what the
contract needs:

- resets drawn from ``self.np_random`` (gym-hil draws the cube from NumPy's global generator, so its
  ``reset(seed=...)`` does not repeat), narrowed by the curriculum's ``reset_scale``;
- no one-second sleep at each reset (gym-hil's ``ResetDelayWrapper`` waits for a person);
- the gripper as a discrete close / stay / open command (gym-hil's -1 / 0 / +1 step on its 0..1
  command, inverted: gym-hil closes on +1);
- ``true_state`` and ``scripted_expert``, so that demos and the simulated human work;
- ``grasped``, ``lifted`` and ``cube_pos`` in ``info``, so that a failed episode's record says why
  (``hilserl.collect.failure_modes``), as on our own grasp;
- the cameras rendered without shadows or multisampling: on a CPU (Mesa's software EGL) gym-hil's
  shadow maps make the two 128x128 views about ten times slower to draw than the rest of a step.

The observation is gym-hil's, unscaled: ``state`` is its ``agent_pos`` (7 joint angles, 7 joint
velocities, the gripper command in 0..255 and the fingertip's x y z), followed by the cube's x y z in
the state-only variant; the image variant has the ``front`` and ``wrist`` cameras instead of the cube.

gym-hil needs ``mujoco<3.9`` (its controller reads ``MjData.qM``, which later MuJoCo removed): it lives
in a second environment, ``.venv-gym-hil`` (``bash scripts/setup.sh --gym-hil``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from hilserl.envs.actions import make_action
from hilserl.envs.contract import (
    GRIPPER_CLOSE,
    GRIPPER_FLAG,
    GRIPPER_OPEN,
    GRIPPER_STAY,
    RESET_OPTIONS,
    RESET_SCALE,
    gripper_class,
    gripper_value,
)

EPISODE_STEPS = 100
"""gym-hil's time limit for the task (its registration's ``max_episode_steps``)."""
CONTROL_HZ = 10
"""gym-hil's control rate (``control_dt`` 0.1 s)."""
STEP_METRES = 0.025
"""Fingertip motion per step at an action of 1.0: gym-hil's ``DEFAULT_EE_STEP_SIZE``."""
SAMPLING_BOUNDS = np.array([[0.3, -0.15], [0.5, 0.15]])
"""Where the cube starts (x, y in m): gym-hil's ``_SAMPLING_BOUNDS``."""
LIFT_FOR_SUCCESS = 0.1
"""gym-hil's success: the cube 10 cm above its start, within 5 cm of the fingertip."""
IMAGE_SIZE = 128
"""Camera images (square, pixels): gym-hil's default render size."""
LIFTED = 0.01
"""Height (m) above its start from which the cube counts as off the table (``info["lifted"]``): a
failure record's "lifted", not gym-hil's success height."""
PAD_BODIES = ("left_pad", "right_pad")
"""The Robotiq 2F-85's finger pads: the cube is grasped when both touch it."""
GRIPPER_MAX = 255.0
"""gym-hil's gripper command range is 0 (open) .. 255 (closed)."""
INSTALL_HINT = ("gym-hil needs mujoco<3.9, so it has an environment of its own: bash scripts/setup.sh --gym-hil, "
                "then run hilserl from .venv-gym-hil/bin/")


def _import_gym_hil():
    try:
        import mujoco
        from gym_hil.envs.panda_pick_gym_env import PandaPickCubeGymEnv
        from gym_hil.mujoco_gym_env import GymRenderingSpec
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{exc}: {INSTALL_HINT}") from exc
    major_minor = tuple(int(x) for x in mujoco.__version__.split(".")[:2])
    if major_minor >= (3, 9):
        raise ImportError(f"gym-hil's controller needs mujoco<3.9 (it reads MjData.qM), this is mujoco "
                          f"{mujoco.__version__}: {INSTALL_HINT}")
    return mujoco, PandaPickCubeGymEnv, GymRenderingSpec


@dataclass(frozen=True)
class PandaTruth:
    """The simulator's truth, for the scripted expert and the simulated human."""

    fingertip: np.ndarray
    cube: np.ndarray
    cube_start_z: float
    gripper: float
    """The gripper command, 0 open .. 1 closed."""

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(self.cube - self.fingertip))

    @property
    def lift(self) -> float:
        return float(self.cube[2] - self.cube_start_z)

    @property
    def done(self) -> bool:
        return self.distance < 0.05 and self.lift > LIFT_FOR_SUCCESS


@dataclass(frozen=True)
class PandaExpertConfig:
    hover: float = 0.05
    """Height above the cube's centre (m) while aligning over it."""
    align_tolerance: float = 0.008
    """Horizontal error (m) under which the expert descends."""
    grasp_tolerance: float = 0.008
    """Height error (m) at the cube's centre under which it closes."""
    close_seconds: float = 0.5
    """Time the fingers need to close before the expert lifts; if they then hold nothing it opens and
    tries again."""
    lift: float = 0.16
    """Height above the cube's start (m) the expert lifts to: past the success height."""
    held_within: float = 0.025
    """Cube-to-fingertip distance (m) under which closed fingers count as holding it."""


class PandaExpert:
    """Above the cube, down, close, lift; from the current truth alone (with a count of how long the
    fingers have been closed), so it can take over at any step of an episode."""

    def __init__(self, config: PandaExpertConfig = PandaExpertConfig(), control_hz: float = CONTROL_HZ):
        self.config = config
        self.close_steps = max(1, math.ceil(config.close_seconds * control_hz))
        self._closed_for = 0

    def reset(self) -> None:
        self._closed_for = 0

    @staticmethod
    def _move(frm: np.ndarray, to: np.ndarray) -> np.ndarray:
        return np.clip((to - frm) / STEP_METRES, -1.0, 1.0)

    def act(self, s: PandaTruth) -> np.ndarray:
        cfg = self.config
        tip, cube = s.fingertip, s.cube
        if s.gripper > 0.5:
            self._closed_for += 1
            if self._closed_for <= self.close_steps:
                return make_action(np.zeros(3), GRIPPER_STAY)
            if s.distance < cfg.held_within:
                goal = np.array([tip[0], tip[1], s.cube_start_z + cfg.lift])
                return make_action(self._move(tip, goal), GRIPPER_STAY)
            self._closed_for = 0
            return make_action(np.array([0.0, 0.0, 1.0]), GRIPPER_OPEN)
        self._closed_for = 0
        above = np.array([cube[0], cube[1], cube[2] + cfg.hover])
        if np.linalg.norm(cube[:2] - tip[:2]) > cfg.align_tolerance:
            goal = above if tip[2] > cube[2] + cfg.hover / 2 else np.array([tip[0], tip[1], above[2]])
            if np.linalg.norm(cube[:2] - tip[:2]) < 4 * cfg.align_tolerance:
                goal = np.array([cube[0], cube[1], tip[2]])
            return make_action(self._move(tip, goal), GRIPPER_OPEN)
        if tip[2] - cube[2] > cfg.grasp_tolerance:
            return make_action(self._move(tip, cube), GRIPPER_OPEN)
        return make_action(self._move(tip, cube), GRIPPER_CLOSE)


class PandaPickCubeEnv(gym.Env):
    """gym-hil's ``PandaPickCube`` under the env contract (state-only, or with ``images``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ, GRIPPER_FLAG: True,
                RESET_OPTIONS: (RESET_SCALE,)}

    def __init__(self, images: bool = False, image_size: int = IMAGE_SIZE, render_mode: str | None = None):
        self._mujoco, task_class, spec_class = _import_gym_hil()
        self.images, self.render_mode = images, render_mode
        self._task = task_class(image_obs=images, random_block_position=False,
                                render_spec=spec_class(height=image_size, width=image_size))
        if images:
            self._cheap_rendering(image_size)
        agent_dims = self._task.get_robot_state().shape[0]
        spaces: dict[str, gym.spaces.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, (agent_dims + (0 if images else 3),), np.float32)}
        if images:
            for name in ("front", "wrist"):
                spaces[name] = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        model, obj = self._task._model, self._mujoco.mjtObj
        self._block_geom = self._mujoco.mj_name2id(model, obj.mjOBJ_GEOM, "block")
        self._pads = frozenset(self._mujoco.mj_name2id(model, obj.mjOBJ_BODY, name) for name in PAD_BODIES)
        self._steps = 0
        self._cube_start = np.zeros(3)

    # ------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        scale = float((options or {}).get(RESET_SCALE, 1.0))
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"reset option {RESET_SCALE} = {scale}: expected a share in (0, 1]")
        task, mujoco = self._task, self._mujoco
        # gym-hil's own reset, but the cube from our generator and no frame rendered to be discarded.
        centre, half = SAMPLING_BOUNDS.mean(0), (SAMPLING_BOUNDS[1] - SAMPLING_BOUNDS[0]) / 2 * scale
        xy = self.np_random.uniform(centre - half, centre + half)
        mujoco.mj_resetData(task._model, task._data)
        task.reset_robot()
        task._data.jnt("block").qpos[:3] = (*xy, task._block_z)
        mujoco.mj_forward(task._model, task._data)
        task._z_init = float(task._data.sensor("block_pos").data[2])
        task._z_success = task._z_init + LIFT_FOR_SUCCESS
        self._cube_start = self._cube().copy()
        self._steps = 0
        return self._observation(task._compute_observation()), self._info(False)

    def step(self, action: np.ndarray):
        action = np.asarray(action, np.float64).reshape(4)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        arm = np.clip(action[:3], -1.0, 1.0) * STEP_METRES
        close = -float(gripper_value(gripper_class(action[3])))  # gym-hil closes on +1
        obs, _reward, terminated, _truncated, info = self._task.step(np.concatenate([arm, np.zeros(3), [close]]))
        self._steps += 1
        success = bool(info["succeed"])
        return self._observation(obs), float(success), bool(terminated), False, self._info(success)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._task.render()[0]

    def close(self) -> None:
        self._task.close()

    def _cheap_rendering(self, size: int) -> None:
        """gym-hil's renderer, remade without multisampling, and its scene drawn without shadows or
        reflections (the flags persist across ``update_scene``)."""
        mujoco, task = self._mujoco, self._task
        task._model.vis.quality.offsamples = 0
        task._viewer.close()
        task._viewer = mujoco.Renderer(task._model, height=size, width=size)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            task._viewer.scene.flags[flag] = False

    # ---------------------------------------------------------------------- contract hooks
    def true_state(self) -> PandaTruth:
        gripper = float(self._task.get_gripper_pose()[0]) / GRIPPER_MAX
        return PandaTruth(self._fingertip().copy(), self._cube().copy(), float(self._task._z_init), gripper)

    def scripted_expert(self) -> PandaExpert:
        return PandaExpert(control_hz=self.metadata["render_fps"])

    @property
    def max_episode_steps(self) -> int:
        return EPISODE_STEPS

    @property
    def elapsed_steps(self) -> int:
        return self._steps

    # ------------------------------------------------------------------------- observation
    def _cube(self) -> np.ndarray:
        return np.asarray(self._task._data.sensor("block_pos").data, np.float64)

    def _fingertip(self) -> np.ndarray:
        return np.asarray(self._task._data.sensor("2f85/pinch_pos").data, np.float64)

    def _observation(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        if self.images:
            out = {"state": np.asarray(obs["agent_pos"], np.float32)}
            out.update({name: np.ascontiguousarray(frame) for name, frame in obs["pixels"].items()})
            return out
        return {"state": np.concatenate([obs["agent_pos"], obs["environment_state"]]).astype(np.float32)}

    def _grasped(self) -> bool:
        """Both finger pads in contact with the cube."""
        model, data = self._task._model, self._task._data
        touching = set()
        for contact in data.contact[:data.ncon]:
            if self._block_geom in (contact.geom1, contact.geom2):
                other = contact.geom2 if contact.geom1 == self._block_geom else contact.geom1
                touching.add(int(model.geom_bodyid[other]))
        return self._pads <= touching

    def _info(self, success: bool) -> dict[str, Any]:
        cube = self._cube().copy()
        return {"is_success": success, "cube_start": self._cube_start.copy(), "ee_pos": self._fingertip().copy(),
                "cube_pos": cube, "grasped": self._grasped(),
                "lifted": bool(cube[2] > self._task._z_init + LIFTED)}
