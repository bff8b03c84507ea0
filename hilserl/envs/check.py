"""``hilserl check-env``: runs an env through the contract (``hilserl.envs.contract``) and says, line by
line, what it keeps, what it breaks and which optional parts (diagnostic keys, hooks) it offers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from hilserl.envs.contract import (
    DIAGNOSTIC_KEYS,
    HOOKS,
    RESET_OPTIONS,
    RESET_SCALE,
    STATE_KEY,
    ContractViolation,
    TaskLayout,
    layout_of,
)

CHECK_SEED = 0


@dataclass
class EnvCheck:
    """What :func:`check_env` found: ``problems`` break the contract, ``notes`` say what is optional."""

    layout: TaskLayout | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: int = 0
    episodes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = []
        if self.layout is not None:
            obs, act = self.layout.observation, self.layout.action
            cams = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in obs.image_shapes.items()) or "none"
            out += [f"observation: state of {obs.state_dim} floats; cameras: {cams}",
                    f"action: {act.arm_dims} continuous dims" + (" + a discrete gripper (close/stay/open): the "
                                                                  "grasp critic is on" if act.gripper else
                                                                  "; no discrete gripper: the grasp critic is off")]
        out.append(f"ran {self.steps} random steps over {self.episodes} episode(s)")
        out += [f"problem: {p}" for p in self.problems]
        out += [f"note: {n}" for n in self.notes]
        out.append("the env keeps the contract" if self.ok else
                   f"the env breaks the contract ({len(self.problems)} problem(s)); see docs/env_contract.md")
        return out


def _observation_problems(obs: Any, space: gym.spaces.Dict, where: str) -> list[str]:
    if not isinstance(obs, dict):
        return [f"{where}: the observation is a {type(obs).__name__}, not a dict"]
    problems = []
    if set(obs) != set(space.spaces):
        problems.append(f"{where}: the observation has keys {sorted(obs)}, the space declares {sorted(space.spaces)}")
    for key, sub in space.spaces.items():
        if key not in obs:
            continue
        value = np.asarray(obs[key])
        if value.shape != sub.shape or value.dtype != sub.dtype:
            problems.append(f"{where}: {key!r} is {value.dtype} {list(value.shape)}, the space declares "
                            f"{sub.dtype} {list(sub.shape)}")
        elif key == STATE_KEY and not np.isfinite(value).all():
            problems.append(f"{where}: the state holds NaN or inf")
    return problems


def _step_problems(reward: Any, terminated: Any, truncated: Any, info: Any, where: str,
                   gripper: bool) -> list[str]:
    problems = []
    if not isinstance(reward, (int, float, np.floating, np.integer)) or not math.isfinite(float(reward)):
        problems.append(f"{where}: the reward is {reward!r}, not a finite number")
    for name, flag in (("terminated", terminated), ("truncated", truncated)):
        if not isinstance(flag, (bool, np.bool_)):
            problems.append(f"{where}: {name} is {flag!r}, not a bool")
    problems += _info_problems(info, where)
    if gripper and isinstance(info, dict) and "grasp_penalty" not in info:
        problems.append(f"{where}: info lacks 'grasp_penalty' (an env with a discrete gripper is made through "
                        "hilserl.envs.factory.make_env, which adds it)")
    return problems


def _info_problems(info: Any, where: str) -> list[str]:
    if not isinstance(info, dict):
        return [f"{where}: info is a {type(info).__name__}, not a dict"]
    if "is_success" not in info:
        return [f"{where}: info lacks 'is_success'"]
    if not isinstance(info["is_success"], (bool, np.bool_)):
        return [f"{where}: info['is_success'] is {info['is_success']!r}, not a bool"]
    return []


RESET_OPTION_PROBE = {RESET_SCALE: 0.5}
"""The value each known reset option is tried with."""


def check_env(env: gym.Env, steps: int = 200) -> EnvCheck:
    """Reset ``env`` (seeded), run ``steps`` uniformly random actions through it, resetting at episode
    ends, and check every observation, reward, flag and info against the contract."""
    result = EnvCheck()
    try:
        result.layout = layout_of(env)
    except ContractViolation as exc:
        result.problems.append(str(exc))
        return result
    gripper = result.layout.action.gripper
    rng = np.random.default_rng(CHECK_SEED)
    obs, info = env.reset(seed=CHECK_SEED)
    result.problems += _observation_problems(obs, env.observation_space, "reset")
    result.problems += _info_problems(info, "reset")
    seen_keys = set(info) if isinstance(info, dict) else set()
    first_state = np.array(obs[STATE_KEY]) if isinstance(obs, dict) and STATE_KEY in obs else None
    result.episodes = 1
    for step in range(steps):
        action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        result.steps += 1
        where = f"step {step + 1}"
        result.problems += _observation_problems(obs, env.observation_space, where)
        result.problems += _step_problems(reward, terminated, truncated, info, where, gripper)
        if isinstance(info, dict):
            seen_keys |= set(info)
        if len(result.problems) > 10:
            result.problems.append("stopped after 10 problems")
            break
        if terminated or truncated:
            if step + 1 < steps:
                obs, info = env.reset()
                result.problems += _info_problems(info, "reset")
                result.episodes += 1
    if result.ok and first_state is not None:
        again, _ = env.reset(seed=CHECK_SEED)
        if not np.array_equal(np.asarray(again[STATE_KEY]), first_state):
            result.notes.append("a reset with the same seed gave another state: seeded runs of this env will not "
                                "repeat (expected of a real robot, not of a simulation)")
    if result.episodes == 1 and result.steps == steps:
        result.notes.append(f"no episode ended in {steps} steps: give the env a time limit (truncated=True)")
    for key, use in DIAGNOSTIC_KEYS.items():
        result.notes.append(f"info[{key!r}] {'given' if key in seen_keys else 'absent'}; it serves {use}")
    base = env.unwrapped
    for hook, use in HOOKS.items():
        result.notes.append(f"hook {hook} {'offered' if hasattr(base, hook) else 'absent'}; it serves {use}")
    for option in base.metadata.get(RESET_OPTIONS, ()):
        try:
            env.reset(seed=CHECK_SEED, options={option: RESET_OPTION_PROBE.get(option)})
            result.notes.append(f"reset option {option!r} declared and taken")
        except Exception as exc:  # noqa: BLE001 - any failure of a declared option breaks the contract
            result.problems.append(f"reset option {option!r} is declared in metadata[{RESET_OPTIONS!r}] but "
                                   f"reset(options={{{option!r}: ...}}) failed: {exc}")
    rate = env.metadata.get("render_fps")
    result.notes.append(f"control rate (metadata['render_fps']): {rate} Hz" if rate else
                        "metadata['render_fps'] absent: the actor cannot hold the env's control rate (--realtime)")
    return result
