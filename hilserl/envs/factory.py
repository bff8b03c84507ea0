"""Builds the env a config names (``env.kind``), with the grasp penalty on envs that have a gripper."""

from __future__ import annotations

import gymnasium as gym

from hilserl.config import EnvConfig
from hilserl.envs.contract import GripperPenalty, TaskLayout, layout_of

SIM = "sim"


class UnknownEnv(ValueError):
    """``env.kind`` names no env that can be made; the message says what was tried."""


def make_env(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    """The env of ``cfg.kind``: the simulated grasp task (``sim``, configured by ``cfg``), or a
    gymnasium env id made with its own defaults. Envs that declare a discrete gripper get
    :class:`GripperPenalty` (``cfg.grasp_penalty``)."""
    if cfg.kind == SIM:
        from hilserl.envs.grasp_env import GraspCubeEnv

        env: gym.Env = GraspCubeEnv(cfg, render_mode=render_mode)
    else:
        try:
            env = gym.make(cfg.kind, render_mode=render_mode) if render_mode else gym.make(cfg.kind)
        except (gym.error.Error, ModuleNotFoundError, ImportError) as exc:
            known = sorted(k for k in gym.registry if k.startswith("hilserl/"))
            raise UnknownEnv(f"env.kind = {cfg.kind!r}: {exc}. Give 'sim', an id registered with gymnasium "
                             f"(hilserl's: {', '.join(known)}), or 'some.module:Id-v0' to import its "
                             "module first") from exc
    if layout_of(env).action.gripper:
        env = GripperPenalty(env, cfg.grasp_penalty)
    return env


def task_layout(cfg: EnvConfig) -> TaskLayout:
    """The layout of ``cfg``'s env, read from an instance made and closed for the purpose."""
    env = make_env(cfg)
    try:
        return layout_of(env)
    finally:
        env.close()


def require_sim(cfg: EnvConfig, purpose: str) -> None:
    """Refuse, saying why, a tool that needs the simulated grasp task's truth (cube poses, placements)
    on another env."""
    if cfg.kind != SIM:
        raise UnknownEnv(f"{purpose} needs the simulated grasp task's truth (it places the cube and reads its "
                         f"pose); env.kind = {cfg.kind!r} cannot provide it. Run it with env.kind=sim")
