"""What a run's env really does, as the env declares it, recorded in the run's config; and the
refusal of ``env.*`` settings that do not apply to that env.

An env other than the simulated grasp and the real arm sets its own rate, episode length, cameras and
success: ``env.control_hz`` and ``env.episode_seconds`` then take the env's own values, so that what
is counted in seconds or steps (time estimates, buffer room, exports, videos) counts the env's, and a
setting the user gave that the env would ignore is refused, naming the field.
"""

from __future__ import annotations

import dataclasses
import functools

import gymnasium as gym

from hilserl.config import (
    ENV_SCOPES,
    SIM,
    SO101,
    SUCCESS_RULES,
    Config,
    ConfigError,
    DeclaredEnv,
    EnvConfig,
    applies,
)
from hilserl.envs.contract import RESET_OPTIONS, RESET_SCALE, TaskLayout, episode_steps, layout_of
from hilserl.envs.factory import make_env, task_layout


def _cameras(layout: TaskLayout) -> tuple[str, ...]:
    return tuple(f"{name} {h}x{w}" for name, (h, w, _) in layout.observation.image_shapes.items())


def declared_by(env: gym.Env) -> DeclaredEnv:
    """The facts an env declares: ``render_fps``, its time limit (0: none), its spaces, its reset options."""
    layout = layout_of(env)
    hz = float(env.metadata.get("render_fps") or 0.0)
    return DeclaredEnv(control_hz=hz, episode_steps=episode_steps(env) or 0, cameras=_cameras(layout),
                       gripper=layout.action.gripper, reset_options=tuple(env.unwrapped.metadata.get(RESET_OPTIONS, ())))


def _own_kinds(cfg: EnvConfig) -> DeclaredEnv:
    """The simulated grasp and the real arm, from the config (no env made: the arm may not be here)."""
    if cfg.kind == SIM:
        from hilserl.envs.grasp_env import GraspCubeEnv as kind
    else:
        from hilserl.envs.so101.env import SO101Env as kind
    layout = task_layout(cfg)
    return DeclaredEnv(control_hz=cfg.control_hz, episode_steps=cfg.max_episode_steps, cameras=_cameras(layout),
                       gripper=layout.action.gripper, reset_options=tuple(kind.metadata.get(RESET_OPTIONS, ())))


def unapplied(cfg: EnvConfig, facts: DeclaredEnv) -> list[str]:
    """The ``env.*`` settings given a value that the env of ``cfg.kind`` does not use (a value equal to
    the default, or to what the env declares, is no setting)."""
    default, found = EnvConfig(), []
    own = {"control_hz": facts.control_hz,
           "episode_seconds": facts.episode_steps / facts.control_hz if facts.control_hz else None}
    for name in [*ENV_SCOPES, *SUCCESS_RULES]:
        if applies(name, cfg):
            continue
        value, base = _get(cfg, name), _get(default, name)
        if value != base and (own.get(name) is None or abs(float(value) - float(own[name])) > 1e-9):
            found.append(f"env.{name} = {value!r}")
    return found


def _get(cfg: EnvConfig, path: str):
    """``cfg.reward.min_steps_before_success`` for ``"reward.min_steps_before_success"``."""
    return functools.reduce(getattr, path.split("."), cfg)


def declare(cfg: Config, env: gym.Env | None = None) -> Config:
    """``cfg`` with ``declared_env`` filled from its env (made here if not given, unless it is one of
    hilserl's own two kinds, or another env whose facts ``cfg`` already records: the command and then
    the training, or a resumed run); on another env, ``env.control_hz`` and ``env.episode_seconds``
    become the env's own. Refused (ConfigError) when a setting does not apply to the env, or when the
    curriculum is on and the env does not take its reset option."""
    if cfg.env.kind in (SIM, SO101):
        facts = _own_kinds(cfg.env)  # from the config itself, which may have changed
    elif env is not None:
        facts = declared_by(env)
    elif cfg.declared_env.kind == cfg.env.kind:
        facts = cfg.declared_env
    else:
        made = make_env(cfg.env)
        try:
            facts = declared_by(made)
        finally:
            made.close()
    if wrong := unapplied(cfg.env, facts):
        rate = (f"it runs {facts.episode_steps} steps at {facts.control_hz:g} Hz"
                if facts.control_hz and facts.episode_steps else "it sets its own rate and episodes")
        raise ConfigError(f"{', '.join(wrong)}: does not apply to env.kind = {cfg.env.kind!r} ({rate}; these "
                          f"settings configure {SIM!r} and {SO101!r} only): remove it")
    if cfg.train.curriculum.enabled and RESET_SCALE not in facts.reset_options:
        raise ConfigError(f"train.curriculum.enabled: env.kind = {cfg.env.kind!r} does not take the reset option "
                          f"{RESET_SCALE!r} (an env declares it in metadata[{RESET_OPTIONS!r}]), so the curriculum "
                          "could not narrow its start")
    env_cfg = cfg.env
    if cfg.env.kind not in (SIM, SO101) and facts.control_hz:
        env_cfg = dataclasses.replace(env_cfg, control_hz=facts.control_hz)
        if facts.episode_steps:
            env_cfg = dataclasses.replace(env_cfg, episode_seconds=facts.episode_steps / facts.control_hz)
    return dataclasses.replace(cfg, env=env_cfg, declared_env=dataclasses.replace(facts, kind=cfg.env.kind))


def facts_lines(facts: DeclaredEnv) -> list[str]:
    """The declared facts, as ``check-env`` prints them."""
    length = f"{facts.episode_steps} steps" if facts.episode_steps else "no time limit declared"
    rate = f"{facts.control_hz:g} Hz" if facts.control_hz else "no rate declared (metadata['render_fps'])"
    return [f"declares: {rate}, episodes of {length}, cameras {', '.join(facts.cameras) or 'none'}, "
            f"{'a discrete gripper' if facts.gripper else 'no gripper'}, reset options "
            f"{', '.join(facts.reset_options) or 'none'} (the curriculum needs {RESET_SCALE!r})"]
