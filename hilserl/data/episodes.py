"""Episodes on disk: demonstrations, and (later) labelled classifier frames, in one open format.

A dataset is a folder::

    meta.json               {"format": "hilserl-episodes", "version": 1, "fps": 10,
                             "state_dim": 16, "cameras": {"wrist": [128, 128, 3], ...},
                             "episodes": 20, "complete": true, "source": "scripted expert", "env": {...}}
    episode_000000.npz      one file per episode, T steps:
        observation.state            (T+1, state_dim) float32
        observation.images.<camera>  (T+1, H, W, 3)   uint8
        action                       (T, A)           float32  the env's action (the grasp task's: dx, dy, dz, gripper)
        next.reward                  (T,)             float32
        next.terminated              (T,)             bool
        next.truncated               (T,)             bool
        next.success                 (T,)             bool
        intervention                 (T,)             bool     the human chose the action

``complete`` is false while a recording runs and true once it has all it was asked for: an
interrupted recording is refused for training until it is finished.

Key names follow LeRobotDataset's (``observation.images.*``, ``next.reward``); every file opens
with ``numpy.load`` and nothing else. Observations are stored once (T+1 of them), not per transition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hilserl.data.transition import Transition
from hilserl.envs.contract import PENALTY_ON_CHANGE, ActionLayout, grasp_penalties

FORMAT = "hilserl-episodes"
VERSION = 1
IMAGE_PREFIX = "observation.images."


class DatasetMismatch(ValueError):
    """A dataset's cameras or shapes differ from what the env produces."""


class DatasetDamaged(ValueError):
    """A dataset's file cannot be read, lacks a field, has one of the wrong shape, or holds NaN."""


RECORDING_FIELDS = ("fps", "state_dim", "cameras", "env")
"""What must match for episodes to be appended to a dataset."""


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in RECORDING_FIELDS:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key == "env":
            out += [f"env.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            out.append(f"{key}: {a!r} -> {b!r}")
    return out


class EpisodeWriter:
    """Collects the transitions of one episode, then writes it as one file."""

    def __init__(self, root: Path, cameras: dict[str, tuple[int, ...]], state_dim: int, fps: float,
                 source: str, env: dict[str, Any] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.meta = {"format": FORMAT, "version": VERSION, "fps": fps, "state_dim": state_dim,
                     "cameras": {k: list(v) for k, v in cameras.items()}, "episodes": 0, "complete": False,
                     "source": source, "env": env or {}}
        self.was_complete = False
        """The folder held a finished recording when this writer opened it."""
        if (self.root / "meta.json").exists():
            old = read_meta(self.root)
            if diffs := _differences(old, json.loads(json.dumps(self.meta))):
                raise DatasetMismatch(f"{self.root} holds {old['episodes']} episodes recorded with another config "
                                      f"({'; '.join(diffs)}): record into another folder")
            self.meta["episodes"] = old["episodes"]
            self.was_complete = bool(old.get("complete", True))
        self._steps: list[Transition] = []

    def _write_meta(self) -> None:
        (self.root / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")

    def finish(self) -> None:
        """The recording has all it was asked for: mark the dataset complete."""
        self.meta["complete"] = True
        self._write_meta()

    def add(self, t: Transition) -> None:
        self._steps.append(t)

    def end_episode(self) -> Path | None:
        steps, self._steps = self._steps, []
        if not steps:
            return None
        obs = [s.observation for s in steps] + [steps[-1].next_observation]
        arrays: dict[str, np.ndarray] = {"observation.state": np.stack([o["state"] for o in obs]).astype(np.float32)}
        for cam in self.meta["cameras"]:
            arrays[IMAGE_PREFIX + cam] = np.stack([o[cam] for o in obs]).astype(np.uint8)
        arrays["action"] = np.stack([s.action for s in steps]).astype(np.float32)
        arrays["next.reward"] = np.array([s.reward for s in steps], np.float32)
        arrays["next.terminated"] = np.array([s.terminated for s in steps])
        arrays["next.truncated"] = np.array([s.truncated for s in steps])
        arrays["next.success"] = np.array([s.success for s in steps])
        arrays["intervention"] = np.array([s.intervened for s in steps])
        path = self.root / f"episode_{self.meta['episodes']:06d}.npz"
        np.savez_compressed(path, **arrays)
        self.meta["episodes"] += 1
        self.meta["complete"] = False  # until finish(): a recording cut short is never taken for a whole one
        self._write_meta()
        return path


def demo_steps(root: Path) -> int:
    """Transitions in a dataset (each episode file's action count), without loading its frames."""
    total = 0
    for i in range(read_meta(root)["episodes"]):
        with np.load(Path(root) / f"episode_{i:06d}.npz") as ep:
            total += len(ep["next.reward"])
    return total


def read_meta(root: Path) -> dict[str, Any]:
    path = Path(root) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{root} holds no dataset (no meta.json)")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise DatasetMismatch(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def check_compatible(meta: dict[str, Any], root: Path, state_dim: int, cameras: dict[str, tuple[int, ...]]) -> None:
    """Refuse a dataset whose state size, cameras or image shapes differ from the env's."""
    if meta["state_dim"] != state_dim:
        raise DatasetMismatch(f"{root}: state has {meta['state_dim']} dims, the env gives {state_dim}")
    for cam, shape in cameras.items():
        if cam not in meta["cameras"]:
            raise DatasetMismatch(f"{root}: camera {cam!r} is missing; the dataset has {sorted(meta['cameras'])}")
        if tuple(meta["cameras"][cam]) != tuple(shape):
            raise DatasetMismatch(
                f"{root}: camera {cam!r} images are {tuple(meta['cameras'][cam])}, the env gives {tuple(shape)}"
            )


def iter_transitions(root: Path, state_dim: int, cameras: dict[str, tuple[int, ...]], action: ActionLayout,
                     grasp_penalty: float = 0.0, penalty_rule: str = PENALTY_ON_CHANGE) -> Iterator[Transition]:
    """Every transition of a dataset, checked against the env's state size, cameras and action layout;
    a file that cannot be read, lacks a field, has one of the wrong shape or holds NaN or inf is named.
    With a gripper in the layout, each step carries the ``grasp_penalty`` its command earns under
    ``penalty_rule`` (as ``GripperPenalty`` gives it online)."""
    root = Path(root)
    meta = read_meta(root)
    if not meta.get("complete", True):
        raise DatasetMismatch(f"{root}: its recording was interrupted ({meta['episodes']} episodes); finish it "
                              f"(`hilserl record-demos --out {root}` completes it) or record another")
    check_compatible(meta, root, state_dim, cameras)
    for i in range(meta["episodes"]):
        ep = _read_episode(root / f"episode_{i:06d}.npz", state_dim, cameras, action.dims)
        states, images = ep["observation.state"], {cam: ep[IMAGE_PREFIX + cam] for cam in cameras}
        penalties = (grasp_penalties(ep["action"], action.gripper_index, grasp_penalty, penalty_rule) if action.gripper
                     else np.zeros(len(ep["action"]), np.float32))
        for t in range(len(ep["action"])):
            yield Transition(
                observation={"state": states[t], **{c: v[t] for c, v in images.items()}},
                action=ep["action"][t],
                reward=float(ep["next.reward"][t]),
                next_observation={"state": states[t + 1], **{c: v[t + 1] for c, v in images.items()}},
                terminated=bool(ep["next.terminated"][t]),
                truncated=bool(ep["next.truncated"][t]),
                intervened=bool(ep["intervention"][t]),
                success=bool(ep["next.success"][t]),
                grasp_penalty=float(penalties[t]),
            )


STEP_FIELDS = ("action", "next.reward", "next.terminated", "next.truncated", "next.success", "intervention")


def _read_episode(path: Path, state_dim: int, cameras: dict[str, tuple[int, ...]],
                  action_dims: int) -> dict[str, np.ndarray]:
    """One episode file's arrays, checked: present, readable, of consistent lengths and shapes, finite."""
    names = ["observation.state", *STEP_FIELDS, *(IMAGE_PREFIX + c for c in cameras)]
    try:
        with np.load(path) as ep:
            missing = [n for n in names if n not in ep.files]
            if missing:
                raise DatasetDamaged(f"{path}: lacks {missing}")
            arrays = {n: ep[n] for n in names}
    except DatasetDamaged:
        raise
    except Exception as exc:  # a truncated or altered file: zipfile, zlib, numpy and OS errors alike
        raise DatasetDamaged(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    steps = len(arrays["action"])
    expected = {"observation.state": (steps + 1, state_dim), "action": (steps, action_dims),
                **{n: (steps,) for n in STEP_FIELDS if n != "action"},
                **{IMAGE_PREFIX + c: (steps + 1, *shape) for c, shape in cameras.items()}}
    for name, shape in expected.items():
        if arrays[name].shape != tuple(shape):
            raise DatasetDamaged(f"{path}: {name} has shape {arrays[name].shape}, expected {tuple(shape)}")
    for name in ("observation.state", "action", "next.reward"):
        if not np.isfinite(arrays[name]).all():
            raise DatasetDamaged(f"{path}: {name} holds NaN or inf")
    return arrays
