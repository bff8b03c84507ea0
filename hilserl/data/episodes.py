"""Episodes on disk: demonstrations, and (later) labelled classifier frames, in one open format.

A dataset is a folder::

    meta.json               {"format": "hilserl-episodes", "version": 1, "fps": 10,
                             "state_dim": 16, "cameras": {"wrist": [128, 128, 3], ...},
                             "episodes": 20, "source": "scripted expert", "env": {...}}
    episode_000000.npz      one file per episode, T steps:
        observation.state            (T+1, state_dim) float32
        observation.images.<camera>  (T+1, H, W, 3)   uint8
        action                       (T, 4)           float32  [dx, dy, dz, gripper]
        next.reward                  (T,)             float32
        next.terminated              (T,)             bool
        next.truncated               (T,)             bool
        next.success                 (T,)             bool
        intervention                 (T,)             bool     the human chose the action

Key names follow LeRobotDataset's (``observation.images.*``, ``next.reward``); every file opens
with ``numpy.load`` and nothing else. Observations are stored once (T+1 of them), not per transition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hilserl.data.transition import Transition

FORMAT = "hilserl-episodes"
VERSION = 1
IMAGE_PREFIX = "observation.images."


class DatasetMismatch(ValueError):
    """A dataset's cameras or shapes differ from what the env produces."""


class EpisodeWriter:
    """Collects the transitions of one episode, then writes it as one file."""

    def __init__(self, root: Path, cameras: dict[str, tuple[int, ...]], state_dim: int, fps: float,
                 source: str, env: dict[str, Any] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.meta = {"format": FORMAT, "version": VERSION, "fps": fps, "state_dim": state_dim,
                     "cameras": {k: list(v) for k, v in cameras.items()}, "episodes": 0,
                     "source": source, "env": env or {}}
        existing = self.root / "meta.json"
        if existing.exists():
            self.meta["episodes"] = json.loads(existing.read_text())["episodes"]
        self._steps: list[Transition] = []

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
        (self.root / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")
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


def iter_transitions(root: Path, state_dim: int, cameras: dict[str, tuple[int, ...]]) -> Iterator[Transition]:
    """Every transition of a dataset, checked against the env's state size and cameras."""
    root = Path(root)
    meta = read_meta(root)
    check_compatible(meta, root, state_dim, cameras)
    for i in range(meta["episodes"]):
        with np.load(root / f"episode_{i:06d}.npz") as ep:
            states = ep["observation.state"]
            images = {cam: ep[IMAGE_PREFIX + cam] for cam in cameras}
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
                )
