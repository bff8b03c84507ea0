"""``hilserl record-classifier-data``: labelled frames for the reward classifier.

In the simulation the label of a frame is the simulator's truth: the cube is held by both jaws and
lifted. Episodes come from several behaviours, so that the negatives hold the hard cases
(near-successes) (a classifier that says "success" on them gives reward for failing):

- ``expert``: the scripted grasp (its approach frames are negatives, its holding frames positives);
- ``drop``: the expert lifts the cube, then opens the jaws (lifted, then dropped);
- ``touch``: the expert's motion with the jaws never closing (cube touched, pushed, not held);
- ``beside``: the expert aims a few cm beside the cube, closes and lifts (closed next to the cube);
- ``random``: random actions;
- ``policy``: a trained policy's episodes (``--policy RUN``), the frames the reward will really see.

With a real device a person drives (keyboard or gamepad) and holds a key while the frame is a
success (``SUCCESS_KEY``); the label is the key, not the simulator.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from hilserl.config import ClassifierConfig, EnvConfig, applied_settings
from hilserl.data.frames import FrameWriter
from hilserl.envs.actions import make_action
from hilserl.envs.contract import GRIPPER_OPEN, layout_of
from hilserl.envs.factory import SIM, make_env
from hilserl.teleop.devices import KeyBackend
from hilserl.teleop.interface import InterventionSource, resolve
from hilserl.teleop.scripted import require_hooks

BEHAVIOURS = {"expert": 0.35, "drop": 0.2, "touch": 0.15, "beside": 0.15, "random": 0.15}
"""Share of episodes per behaviour, in the simulated grasp task."""
GENERIC_BEHAVIOURS = {"expert": 0.5, "random": 0.5}
"""Share of episodes per behaviour in another env (with a scripted expert and a true state)."""
HARD_NEGATIVES = ("drop", "touch", "beside")
KEEP_POSITIVE = 0.35
KEEP_NEGATIVE = 0.2
"""Chance of keeping a frame: below 1 so kept frames spread over more episodes."""
DROP_AFTER_LIFTED = (2, 8)
"""The ``drop`` behaviour opens the jaws this many steps (range) after the cube is first lifted."""
BESIDE_OFFSET = (0.03, 0.045)
"""Distance (m) between the cube and where the ``beside`` behaviour closes the jaws."""
CLASSIFIER_SEED_OFFSET = 7 * 10**6
MAX_EPISODES_PER_FRAME = 2
"""Give up after this many episodes per requested frame (a class the behaviours cannot produce)."""


def frame_label(s: Any) -> bool:
    """The simulator's truth for one frame (``true_state().done``): in the grasp task, held by both
    jaws and lifted."""
    return bool(s.done)


SUCCESS_KEY = "l"
"""Held while the frame shows a success, when a person labels frames with the keyboard ("l" for
label: the driving keys are the arrows, w/s, c/o and space)."""
POLICY_SHARE = 0.3
"""Share of episodes from a trained policy, when one is given."""

Act = Callable[[dict], np.ndarray]


class KeyLabels:
    """A key backend that remembers which keys were held at the last poll: the teleop device drives
    with it, and the label of the frame is whether ``key`` was held."""

    def __init__(self, backend: KeyBackend, key: str = SUCCESS_KEY):
        self.backend, self.key, self._held = backend, key, set()

    def poll(self) -> tuple[set[str], set[str]]:
        held, pressed = self.backend.poll()
        self._held = set(held)
        return held, pressed

    @property
    def success(self) -> bool:
        return self.key in self._held


def _behaviour(name: str, env: Any, rng: np.random.Generator, policy: Act | None = None) -> Act:
    """``env``: the unwrapped env, with its ``true_state`` and ``scripted_expert`` hooks."""
    expert = env.scripted_expert()
    if name == "policy":
        assert policy is not None
        return policy
    if name == "random":
        return lambda _obs: rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
    if name == "expert":
        return lambda _obs: expert.act(env.true_state())
    if name == "touch":
        def touch(_obs: dict) -> np.ndarray:
            action = expert.act(env.true_state())
            action[-1] = 1.0  # jaws stay open (the gripper command is last)
            return action
        return touch
    if name == "beside":
        angle = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(*BESIDE_OFFSET) * np.array([np.cos(angle), np.sin(angle), 0.0])

        def beside(_obs: dict) -> np.ndarray:
            s = env.true_state()
            return expert.act(dataclasses.replace(s, cube_pos=s.cube_pos + offset))
        return beside
    if name == "drop":
        lifted_for = [0]
        drop_at = int(rng.integers(*DROP_AFTER_LIFTED))

        def drop(_obs: dict) -> np.ndarray:
            s = env.true_state()
            lifted_for[0] += int(s.lifted) if lifted_for[0] == 0 else 1
            if lifted_for[0] >= drop_at:
                return make_action(np.zeros(env.action_space.shape[0] - 1), GRIPPER_OPEN)
            return expert.act(s)
        return drop
    raise ValueError(f"unknown behaviour {name!r}; known: {sorted(BEHAVIOURS)}")


def record_classifier_data(env_cfg: EnvConfig, cfg: ClassifierConfig, out: Path, seed: int = 0,
                           progress: bool = True, policy: Act | None = None,
                           teleop: tuple[InterventionSource, KeyLabels] | None = None) -> dict:
    """Record until ``cfg.positives`` positive and ``cfg.negatives`` negative frames are kept; returns
    the counts by label and by behaviour. ``policy`` adds a trained policy's episodes; ``teleop`` (a
    device and the key labels it drives with) replaces the behaviours and the simulator's labels by a
    person's."""
    # Episodes run their full length: holding the cube after success gives varied positives.
    env_cfg = dataclasses.replace(env_cfg, reward=dataclasses.replace(env_cfg.reward, terminate_on_success=False))
    env = make_env(env_cfg)
    layout = layout_of(env)
    if not layout.observation.image_shapes:
        env.close()
        raise ValueError(f"classifier data needs cameras: env {env_cfg.kind!r} has none"
                         + (" (env.state_only is true)" if env_cfg.kind == SIM else ""))
    if teleop is None:
        base = require_hooks(env, "true_state", "scripted_expert", purpose="simulated classifier data")
    source = ("teleoperation, labels from the success key" if teleop is not None
              else "simulation, labels from the simulator's truth")
    writer = FrameWriter(out, layout.observation.image_shapes, layout.observation.state_dim,
                         env.metadata.get("render_fps", env_cfg.control_hz), source=source, env=applied_settings(env_cfg))
    rng = np.random.default_rng(seed)
    behaviours = dict(BEHAVIOURS if env_cfg.kind == SIM else GENERIC_BEHAVIOURS)
    if policy is not None:
        behaviours = {k: v * (1 - POLICY_SHARE) for k, v in behaviours.items()} | {"policy": POLICY_SHARE}
    if teleop is not None:
        behaviours = {"teleop": 1.0}
        device, keys = teleop
    names, weights = list(behaviours), np.array(list(behaviours.values()))
    wanted = {True: cfg.positives, False: cfg.negatives}
    kept = {True: 0, False: 0}
    by_kind: Counter[str] = Counter()
    episode = 0
    bar = tqdm(total=cfg.positives + cfg.negatives, desc="recording labelled frames", unit="frame", disable=not progress)
    while kept[True] < wanted[True] or kept[False] < wanted[False]:
        if episode > MAX_EPISODES_PER_FRAME * (cfg.positives + cfg.negatives):
            raise RuntimeError(f"gave up after {episode} episodes with {kept[True]} positives and {kept[False]} "
                               f"negatives kept")
        name = str(rng.choice(names, p=weights / weights.sum()))
        obs, _ = env.reset(seed=CLASSIFIER_SEED_OFFSET + seed * 100_000 + episode)
        if teleop is not None:
            device.reset(episode)
            idle = np.zeros(layout.action.dims, np.float32)
            act = lambda _obs: resolve(idle, device.step(idle))[0]  # noqa: E731
        else:
            act = _behaviour(name, base, rng, policy)
        step = 0
        while True:
            obs, _, terminated, truncated, _ = env.step(act(obs))
            step += 1
            label = keys.success if teleop is not None else frame_label(base.true_state())
            keep_chance = 1.0 if teleop is not None else KEEP_POSITIVE if label else KEEP_NEGATIVE
            if kept[label] < wanted[label] and rng.random() < keep_chance:
                writer.add(obs, label, step, name)
                kept[label] += 1
                by_kind[f"{name} {'positive' if label else 'negative'}"] += 1
                bar.update(1)
            if terminated or truncated:
                break
        writer.end_episode()
        episode += 1
    bar.close()
    env.close()
    hard = sum(v for k, v in by_kind.items() if k.split()[0] in HARD_NEGATIVES and k.endswith("negative"))
    return {"positives": kept[True], "negatives": kept[False], "hard_negatives": hard,
            "episodes": episode, "by_kind": dict(sorted(by_kind.items()))}
