"""The env contract: what every env, simulated or real, gives the rest of hilserl.

The agent, the buffers, the actor and the tools read an env only through what this module names
(``docs/env_contract.md`` says it for env authors; ``hilserl check-env`` runs an env through it):

- ``observation_space``: a ``Dict`` of a float32 ``state`` vector plus any number of named uint8
  camera images ``(H, W, 3)``;
- ``action_space``: a float32 ``Box`` in [-1, 1]; ``metadata["discrete_gripper"] = True`` declares the
  last dimension a gripper command read as close / stay / open (-1 / 0 / +1), which turns the grasp
  critic on; without it every dimension is continuous and the gripper is not the agent's
  (HIL-SERL's fixed-gripper set-up);
- ``info["is_success"]`` after every reset and step;
- optional: the diagnostic info keys of :data:`DIAGNOSTIC_KEYS`, and the hooks of :data:`HOOKS`
  on ``env.unwrapped``, used by the tools that need them and reported missing by those tools.

The grasp penalty arrives with each step in ``info["grasp_penalty"]`` (:class:`GripperPenalty`
computes it from the sequence of gripper commands), never from a state index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

STATE_KEY = "state"
RESET_OPTIONS = "reset_options"
"""The ``metadata`` key by which an env declares the reset options it takes (``reset_scale``)."""
RESET_SCALE = "reset_scale"
"""The reset option of the curriculum (``train.curriculum``): the env narrows its start to this share
of its range, in (0, 1]."""
GRIPPER_FLAG = "discrete_gripper"
"""The ``metadata`` key by which an env declares a discrete gripper command as its last action dimension."""

GRIPPER_CLOSE = 0
GRIPPER_STAY = 1
GRIPPER_OPEN = 2
GRIPPER_CLASSES = 3

DIAGNOSTIC_KEYS = {
    "cube_start": "success by the object's start position (x, y, z in metres)",
    "cube_start_yaw": "success by the object's start rotation (radians)",
    "region": "success by region (a label of where the object started)",
    "ee_pos": "the end effector's paths in the diagnostics",
    "grasped": "why a failed episode failed, with ``lifted`` (never grasped, never lifted, lifted then dropped)",
    "lifted": "the object held above its resting height (with ``grasped``)",
    "cube_pos": "how far a failed episode pushed an object it never grasped (x, y, z in metres, now)",
}
"""Optional ``info`` keys and what the diagnostics do with them."""

HOOKS = {
    "true_state": "the simulated human, the reward audit and simulated classifier data (the simulator's "
                  "truth, with at least ``distance`` and ``done``)",
    "scripted_expert": "recorded demos and the simulated human's corrections (an expert with reset() and "
                       "act(true_state))",
    "elapsed_steps": "the scripted expert's episode boundaries (steps since the reset)",
    "max_episode_steps": "the episode's length (``env.observe_elapsed``, the run's recorded facts) of an env "
                         "made without a registered time limit",
}
"""Optional methods and attributes of ``env.unwrapped``, and who needs them."""


def gripper_class(value: float) -> int:
    """Class index (0 close, 1 stay, 2 open) of a gripper command in [-1, 1], by rounding: HIL-SERL
    once shipped a bug where ``int(0.9)`` turned "open" into "stay"."""
    return int(np.clip(np.rint(value), -1, 1)) + 1


def gripper_value(cls: int | np.ndarray) -> float | np.ndarray:
    """The float command of a class index (inverse of :func:`gripper_class`)."""
    return np.asarray(cls, dtype=np.float32) - 1.0


class ContractViolation(ValueError):
    """An env does not give what the contract asks; the message says what and where."""


@dataclass(frozen=True)
class ActionLayout:
    """How the agent reads an action: ``arm_dims`` continuous values, then a discrete gripper command
    when ``gripper``."""

    arm_dims: int
    gripper: bool

    @property
    def dims(self) -> int:
        return self.arm_dims + int(self.gripper)

    @property
    def gripper_index(self) -> int:
        if not self.gripper:
            raise ValueError("this action layout has no gripper command")
        return self.arm_dims


@dataclass(frozen=True)
class ObservationLayout:
    """The observation the agent and buffers are sized from: the state's length and each camera's
    image shape, in the env's order."""

    state_dim: int
    image_shapes: dict[str, tuple[int, int, int]]


@dataclass(frozen=True)
class TaskLayout:
    """Everything the learning side needs to know of an env, and may save beside a checkpoint."""

    observation: ObservationLayout
    action: ActionLayout

    def to_dict(self) -> dict[str, Any]:
        return {"state_dim": self.observation.state_dim,
                "image_shapes": {k: list(v) for k, v in self.observation.image_shapes.items()},
                "arm_dims": self.action.arm_dims, "gripper": self.action.gripper}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskLayout":
        images = {k: tuple(int(x) for x in v) for k, v in d["image_shapes"].items()}
        return cls(ObservationLayout(int(d["state_dim"]), images), ActionLayout(int(d["arm_dims"]), bool(d["gripper"])))


def episode_steps(env: gym.Env) -> int | None:
    """The env's time limit in steps: its registration's ``max_episode_steps``, else the
    ``max_episode_steps`` hook of ``env.unwrapped``; None if it declares neither."""
    spec = getattr(env, "spec", None)
    limit = getattr(spec, "max_episode_steps", None) or getattr(env.unwrapped, "max_episode_steps", None)
    return int(limit) if limit and int(limit) >= 1 else None


def layout_of(env: gym.Env) -> TaskLayout:
    """The layout an env declares by its spaces and metadata; :class:`ContractViolation` if they break
    the contract."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Dict):
        raise ContractViolation(f"observation_space must be a gymnasium.spaces.Dict, got {type(obs_space).__name__}")
    state = obs_space.spaces.get(STATE_KEY)
    if state is None:
        keys = ", ".join(f"{k!r} {v}" for k, v in obs_space.spaces.items()) or "none"
        raise ContractViolation(
            f"observation_space has no {STATE_KEY!r} (its keys: {keys}): hilserl reads the robot's state as one "
            f"1-D float32 Box under {STATE_KEY!r} and each camera under its own key; a wrapper can put them so "
            "(hilserl/envs/panda_pick.py does it for gym-hil's PandaPickCube: hilserl/PandaPickCube-v0)")
    if not isinstance(state, gym.spaces.Box) or len(state.shape) != 1 or state.dtype != np.float32:
        raise ContractViolation(f"observation_space[{STATE_KEY!r}] must be a 1-D float32 Box, got {state}")
    images: dict[str, tuple[int, int, int]] = {}
    for name, space in obs_space.spaces.items():
        if name == STATE_KEY:
            continue
        if isinstance(space, gym.spaces.Dict):
            raise ContractViolation(f"observation_space[{name!r}] is a Dict ({', '.join(map(repr, space.spaces))}): "
                                    "give each camera its own key at the top of the observation")
        if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3
                and space.shape[2] == 3):
            raise ContractViolation(f"observation_space[{name!r}] must be a uint8 camera image Box (H, W, 3), got {space}")
        images[name] = tuple(int(x) for x in space.shape)  # type: ignore[assignment]
    if not (isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1 and act_space.dtype == np.float32):
        raise ContractViolation(f"action_space must be a 1-D float32 Box, got {act_space}")
    if not (np.all(act_space.low == -1.0) and np.all(act_space.high == 1.0)):
        raise ContractViolation(f"action_space must span [-1, 1] in every dimension, got low {act_space.low} "
                                f"high {act_space.high}: scale actions inside the env")
    gripper = bool(env.metadata.get(GRIPPER_FLAG, False))
    dims = int(act_space.shape[0])
    if dims - int(gripper) < 1:
        raise ContractViolation(f"the action has {dims} dimension(s): it needs at least one continuous one")
    return TaskLayout(ObservationLayout(int(state.shape[0]), images), ActionLayout(dims - int(gripper), gripper))


def gripper_change(command: float, closed: bool) -> tuple[bool, bool]:
    """Whether a gripper command changes the gripper's state, and whether it is closed after."""
    cls = gripper_class(command)
    changed = (cls == GRIPPER_CLOSE and not closed) or (cls == GRIPPER_OPEN and closed)
    return changed, closed if cls == GRIPPER_STAY else cls == GRIPPER_CLOSE


PENALTY_ON_CHANGE = "change"
PENALTY_ON_RELEASE = "release"
PENALTY_RULES = (PENALTY_ON_CHANGE, PENALTY_ON_RELEASE)
"""Which gripper commands pay the grasp penalty (``env.grasp_penalty_on``): every change of state
(HIL-SERL's), or only an open that undoes a close. Both price chatter (a close-open cycle pays at
least once); only the second leaves the grasp itself free."""


def penalized(command: float, closed: bool, rule: str) -> tuple[bool, bool]:
    """Whether a gripper command pays the penalty under ``rule``, and whether the gripper is closed after."""
    changed, closed_after = gripper_change(command, closed)
    return changed and (rule == PENALTY_ON_CHANGE or not closed_after), closed_after


class GripperPenalty(gym.Wrapper):
    """Puts HIL-SERL's grasp penalty in ``info["grasp_penalty"]``: ``penalty`` on each step whose
    gripper command changes the gripper's state (``rule`` "change": close when open, open when closed;
    "release": open when closed only), 0 otherwise. The state is followed from the commands
    themselves, starting open at each reset."""

    def __init__(self, env: gym.Env, penalty: float, rule: str = PENALTY_ON_CHANGE):
        super().__init__(env)
        if rule not in PENALTY_RULES:
            raise ValueError(f"grasp penalty rule {rule!r}: expected one of {PENALTY_RULES}")
        self.penalty = float(penalty)
        self.rule = rule
        self.index = layout_of(env).action.gripper_index
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the commands so far leave the gripper closed."""
        return self._closed

    def reset(self, **kwargs):
        self._closed = False
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "grasp_penalty": 0.0}

    def step(self, action):
        paid, self._closed = penalized(float(np.asarray(action)[self.index]), self._closed, self.rule)
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "grasp_penalty": self.penalty if paid else 0.0}


def grasp_penalties(actions: np.ndarray, gripper_index: int, penalty: float,
                    rule: str = PENALTY_ON_CHANGE) -> np.ndarray:
    """:class:`GripperPenalty`'s values for one episode's actions (T, dims), for data recorded without it."""
    closed, out = False, np.zeros(len(actions), np.float32)
    for t, a in enumerate(actions):
        paid, closed = penalized(float(a[gripper_index]), closed, rule)
        out[t] = penalty if paid else 0.0
    return out
