"""Runs episodes of a policy in an env, with an optional intervention source, and reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hilserl.collect.failure_modes import failure_mode
from hilserl.data.transition import Observation, Transition
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_FLAG, GRIPPER_OPEN, gripper_class
from hilserl.teleop.interface import InterventionSource, resolve

Policy = Callable[[Observation], np.ndarray]


def camera_images(obs: Observation) -> dict[str, np.ndarray]:
    """The observation's camera frames (uint8, height x width x channels), by camera name."""
    return {k: v for k, v in obs.items()
            if isinstance(v, np.ndarray) and v.ndim == 3 and v.dtype == np.uint8 and v.shape[-1] in (1, 3)}


@dataclass
class Step:
    """One control step as the policy saw and did it: what the live view and the failure videos draw."""

    index: int
    """0-based, within the episode."""
    obs: Observation
    """The observation the action was chosen on."""
    action: np.ndarray
    """What the env received (the human's where one intervened)."""
    intervened: bool
    reward: float
    info: dict[str, Any]
    """The env's info after the step (``classifier_prob`` and ``success_streak`` under a classifier)."""


@dataclass
class EpisodeResult:
    episode_return: float
    length: int
    success: bool
    intervention_steps: int
    region: str | None = None
    """``info["region"]``; None when the env does not report it (an optional diagnostic key)."""
    cube_start: np.ndarray | None = None
    """``info["cube_start"]``; None when the env does not report it."""
    cube_start_yaw: float | None = None
    """Radians; None when the env does not report it (``info["cube_start_yaw"]``)."""
    frames: list[np.ndarray] = field(default_factory=list)
    ee_path: list[np.ndarray] = field(default_factory=list)
    final_info: dict[str, Any] = field(default_factory=dict)
    """The env's info after the last step (a reward wrapper's audit lands here)."""
    holds: list[tuple[bool, bool]] = field(default_factory=list)
    """Per step, ``info["grasped"]`` and ``info["lifted"]``; empty when the env does not report them."""
    close_commands: int | None = None
    """Steps whose gripper command was "close"; None for an env without a discrete gripper."""
    jaws_shut: list[bool] | None = None
    """Per step, whether the last open-or-close command so far was "close"; None for an env without a
    discrete gripper."""
    closest_distance: float | None = None
    """The least ``true_state().distance`` (m) after a step; None for an env without the hook."""
    first_close_step: int | None = None
    """The step (1-based) of the first "close" command; None when none was given."""
    first_close_distance: float | None = None
    """``true_state().distance`` (m) when the first "close" was commanded: a grasp decided away from
    the object (on the way down, say) shows here, successes and failures alike."""
    object_moved: float | None = None
    """The farthest (m) ``info["cube_pos"]`` went from where the reset put it; None when the env does
    not report it."""

    @property
    def intervention_rate(self) -> float:
        return self.intervention_steps / max(self.length, 1)

    def failure(self) -> dict[str, Any] | None:
        """Why it failed (:func:`~hilserl.collect.failure_modes.failure_mode`), where the env reports it."""
        return None if self.success else failure_mode(self.holds, self.close_commands, self.closest_distance,
                                                    self.jaws_shut, self.object_moved)


def run_episode(
    env: Any,
    policy: Policy,
    *,
    human: InterventionSource | None = None,
    episode_index: int = 0,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    on_transition: Callable[[Transition], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    record_frames: bool = False,
) -> EpisodeResult:
    obs, info = env.reset(seed=seed, options=options)
    if human is not None:
        human.reset(episode_index)
    frames = [env.render()] if record_frames else []
    total, steps, interventions = 0.0, 0, 0
    path = [np.asarray(info["ee_pos"]).copy()] if "ee_pos" in info else []
    object_start = np.asarray(info["cube_pos"], np.float64).copy() if "cube_pos" in info else None
    moved = 0.0
    holds = []
    gripper = bool(env.metadata.get(GRIPPER_FLAG, False))
    truth = getattr(env.unwrapped, "true_state", None)
    closes, closest = 0, np.inf
    jaws_shut, shut = [], False
    distance = float(truth().distance) if truth is not None else None
    first_close: tuple[int, float | None] | None = None
    while True:
        policy_action = policy(obs)
        action, intervened = policy_action, False
        if human is not None:
            action, intervened = resolve(policy_action, human.step(policy_action))
        command = gripper_class(float(action[-1])) if gripper else None
        closing = command == GRIPPER_CLOSE
        shut = closing or (shut and command != GRIPPER_OPEN)
        jaws_shut.append(shut)
        if closing and first_close is None:
            first_close = (steps + 1, distance)
        next_obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
        interventions += int(intervened)
        if "ee_pos" in info:
            path.append(np.asarray(info["ee_pos"]).copy())
        if "grasped" in info and "lifted" in info:
            holds.append((bool(info["grasped"]), bool(info["lifted"])))
        if object_start is not None and "cube_pos" in info:
            moved = max(moved, float(np.linalg.norm(np.asarray(info["cube_pos"]) - object_start)))
        closes += int(closing)
        if truth is not None:
            distance = float(truth().distance)
            closest = min(closest, distance)
        if on_transition is not None:
            on_transition(
                Transition(obs, np.asarray(action, np.float32), float(reward), next_obs,
                           bool(terminated), bool(truncated), intervened, bool(info["is_success"]),
                           float(info.get("grasp_penalty", 0.0)))
            )
        if on_step is not None:
            on_step(Step(steps - 1, obs, np.asarray(action, np.float32), intervened, float(reward), info))
        if record_frames:
            frames.append(env.render())
        obs = next_obs
        if terminated or truncated:
            break
    return EpisodeResult(
        episode_return=total,
        length=steps,
        success=bool(info["is_success"]),
        intervention_steps=interventions,
        region=info.get("region"),
        cube_start=np.asarray(info["cube_start"]) if "cube_start" in info else None,
        cube_start_yaw=info.get("cube_start_yaw"),
        frames=frames,
        ee_path=path,
        final_info=info,
        holds=holds,
        close_commands=closes if gripper else None,
        jaws_shut=jaws_shut if gripper else None,
        closest_distance=closest if truth is not None else None,
        first_close_step=first_close[0] if first_close else None,
        first_close_distance=first_close[1] if first_close else None,
        object_moved=moved if object_start is not None else None,
    )
