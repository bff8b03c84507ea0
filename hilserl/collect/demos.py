"""Recording demonstrations into an episode dataset: the env's scripted expert, or a person with a
teleop device (the real arm's leader arm or keyboard)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from hilserl.collect.live_view import LiveView, ViewTarget
from hilserl.collect.watch import Watch
from hilserl.config import DemoPlacement, DetourConfig, EnvConfig, applied_settings
from hilserl.data.episodes import EpisodeWriter
from hilserl.envs.contract import layout_of
from hilserl.envs.factory import SIM, make_env
from hilserl.teleop.interface import InterventionSource
from hilserl.teleop.scripted import expert_policy

DEMO_SEED_OFFSET = 5 * 10**6
"""Demonstration seeds start here, apart from training and evaluation seeds."""
MAX_ATTEMPTS_PER_DEMO = 5
"""The expert succeeds about 95% of the time on the default task; far fewer successes mean the task
cannot be done as configured (episodes too short, cube out of reach): stop and say so."""


class ExpertCannotSucceed(ValueError):
    """The scripted expert failed too often to record successful demonstrations (the CLI prints it)."""


Placement = tuple[float, float, float]
"""Cube x, y (m) and yaw (rad) at reset."""


def grid_placements(env: EnvConfig, episodes: int, rng: np.random.Generator) -> list[Placement]:
    """A k x k grid over the cube's reset range, edges and corners included (k = floor(sqrt(n))),
    then random positions for the rest; yaws evenly spread over the yaw range, in random order."""
    lo, hi = env.cube_region.low, env.cube_region.high
    side = math.isqrt(episodes)
    axes = [np.linspace(lo[a], hi[a], side) if side > 1 else np.array([(lo[a] + hi[a]) / 2]) for a in (0, 1)]
    xy = [(x, y) for x in axes[0] for y in axes[1]][:episodes]
    xy += [tuple(p) for p in rng.uniform(lo[:2], hi[:2], size=(episodes - len(xy), 2))]
    yaws = rng.permutation(np.linspace(-env.cube_yaw_range, env.cube_yaw_range, episodes))
    return [(float(x), float(y), float(yaw)) for (x, y), yaw in zip(xy, yaws)]


def detoured(policy: Callable[[dict], np.ndarray], arm_dims: int, detours: DetourConfig, control_hz: float,
             rng: np.random.Generator) -> Callable[[dict], np.ndarray]:
    """``policy`` with detours (``DetourConfig``): each step starts one with the chance rate / control
    rate; during one, the first ``arm_dims`` action values hold a random direction at full speed (its
    largest component +-1) and the rest (the gripper command) stay the policy's. The policy is asked
    every step, so an expert's own bookkeeping (how long its jaws have been closed) runs on."""
    chance = detours.rate / control_hz
    length = max(1, round(detours.seconds * control_hz))
    left, direction = 0, np.zeros(arm_dims, np.float32)

    def act(obs: dict) -> np.ndarray:
        nonlocal left, direction
        action = np.array(policy(obs), np.float32)
        if left == 0 and chance > 0 and rng.random() < chance:
            d = rng.normal(size=arm_dims)
            left, direction = length, (d / np.abs(d).max()).astype(np.float32)
        if left > 0:
            action[:arm_dims] = direction
            left -= 1
        return action

    return act


def _watch(env: gym.Env, view: ViewTarget | None, who: str) -> Watch:
    """The live view of a recording, if asked for; a person's runs in real time, so it drops steps
    rather than wait. Without a view the watch runs the episodes and shows nothing."""
    if view is None:
        return Watch()
    action = layout_of(env).action
    return Watch(LiveView(view, gripper_index=action.gripper_index if action.gripper else None, human=who,
                          realtime=who == "person"), demonstrating=who == "scripted expert")


def record_demos(env_cfg: EnvConfig, episodes: int, out: Path, seed: int = 0, successful_only: bool = True,
                 placement: DemoPlacement = "grid", complete: bool = False, view: ViewTarget | None = None,
                 progress: bool = True, detours: DetourConfig = DetourConfig()) -> int:
    """Record ``episodes`` episodes of the env's scripted expert (successful ones only, by default);
    returns the count. ``placement`` 'grid' (the simulated grasp task only) puts the cubes on
    ``grid_placements`` (a failed attempt retries the same
    cube with another arm start), 'random' lets each reset draw them. ``complete`` (and always for
    a folder whose recording was interrupted): the episodes already in ``out`` count towards
    ``episodes`` and the recording goes on with the next cube placement, so an interrupted recording
    ends with the set an uninterrupted one gives (the arm's start may differ where an attempt had
    failed). Otherwise the episodes are appended. A folder recorded with another config is refused.
    ``view``: every attempt shown live; ``progress``: a bar (from 5 episodes on); ``detours``: the
    expert's demos with detours (``detoured``), said in the folder's metadata so that a folder recorded
    without them is not taken for one with them."""
    env = make_env(env_cfg)
    watch = _watch(env, view, "scripted expert")
    task = layout_of(env)
    layout = task.observation
    policy = expert_policy(env)
    fps = env.metadata.get("render_fps", env_cfg.control_hz)
    settings = applied_settings(env_cfg)
    if detours.rate > 0:
        settings["demo_detours"] = dataclasses.asdict(detours)
    writer = EpisodeWriter(out, layout.image_shapes, layout.state_dim, fps, source="scripted expert", env=settings)
    placements = grid_placements(env_cfg, episodes, np.random.default_rng(DEMO_SEED_OFFSET + seed)) \
        if placement == "grid" and env_cfg.kind == SIM else None
    if writer.meta["episodes"] and not writer.was_complete:
        complete = True  # an interrupted recording: finish it rather than append to a part
        print(f"finishing the interrupted recording in {out}: {writer.meta['episodes']} of {episodes} episodes there",
              flush=True)
    kept = attempt = writer.meta["episodes"] if complete else 0
    with tqdm(total=episodes, initial=kept, desc="recording demos", unit="ep", disable=episodes < 5 or not progress) as bar:
        while kept < episodes:
            if attempt >= MAX_ATTEMPTS_PER_DEMO * episodes:
                env.close()
                raise ExpertCannotSucceed(
                    f"the scripted expert succeeded in {kept} of {attempt} episodes; the task may not be "
                    "doable as configured" + (f": with episodes of {env_cfg.episode_seconds:g} s "
                                              f"({env_cfg.max_episode_steps} steps), check env.episode_seconds "
                                              "and the reset ranges" if env_cfg.kind == SIM else ""))
            steps = []
            options = None
            if placements:
                x, y, yaw = placements[kept]
                options = {"cube_xy": (x, y), "cube_yaw": yaw}
            acting = policy if detours.rate == 0 else detoured(
                policy, task.action.arm_dims, detours, fps, np.random.default_rng(DEMO_SEED_OFFSET + seed + attempt))
            result = watch.run_episode(env, acting, f"attempt {attempt}", seed=DEMO_SEED_OFFSET + seed + attempt,
                                       options=options, on_transition=steps.append)
            attempt += 1
            if successful_only and not result.success:
                continue
            for t in steps:
                t.intervened = True  # every demo step is a human (expert) action
                writer.add(t)
            writer.end_episode()
            kept += 1
            bar.update(1)
    writer.finish()
    env.close()
    watch.close()
    return kept


def record_teleop_demos(env_cfg: EnvConfig, episodes: int, out: Path, human: InterventionSource,
                        env: gym.Env | None = None, max_attempts: int | None = None,
                        view: ViewTarget | None = None) -> int:
    """Record ``episodes`` demonstrations a person drives with ``human`` (a device that always acts: a
    leader arm with ``leader_takeover=always``, or the keyboard); an episode is kept when it ends in
    success (on the real arm: the person's ``l`` key) and dropped otherwise (``f``: record it again).
    ``env``: made from ``env_cfg`` when not given. Returns the count kept. ``view``: shown live."""
    own = env is None
    env = env if env is not None else make_env(env_cfg)
    watch = _watch(env, view, "person")
    layout = layout_of(env).observation
    writer = EpisodeWriter(out, layout.image_shapes, layout.state_dim, env.metadata.get("render_fps", env_cfg.control_hz),
                           source="teleoperation", env=applied_settings(env_cfg))
    kept, attempt = writer.meta["episodes"], 0
    limit = max_attempts or MAX_ATTEMPTS_PER_DEMO * episodes
    idle = np.zeros(env.action_space.shape, np.float32)
    try:
        while kept < episodes and attempt < limit:
            steps: list = []
            result = watch.run_episode(env, lambda _obs: idle, f"attempt {attempt}", human=human,
                                       episode_index=attempt, seed=DEMO_SEED_OFFSET + attempt,
                                       on_transition=steps.append)
            attempt += 1
            if not result.success:
                print(f"episode {attempt}: not a success, dropped ({kept} of {episodes} kept)", flush=True)
                continue
            for t in steps:
                writer.add(t)
            writer.end_episode()
            kept += 1
            print(f"episode {attempt}: kept ({kept} of {episodes}, {len(steps)} steps, "
                  f"{sum(t.intervened for t in steps)} driven by the person)", flush=True)
        if kept >= episodes:
            writer.finish()
    finally:
        watch.close()
        if own:
            env.close()
    return kept
