"""Labelled camera frames on disk (the reward classifier's data), in the episode format's folder
layout: ``meta.json`` plus one ``episode_NNNNNN.npz`` per recorded episode, holding only the frames
kept from it (see docs/data_format.md):

    observation.images.<camera>  (K, H, W, 3) uint8
    observation.state            (K, state_dim) float32
    label                        (K,) bool     success in this frame (simulator truth, or a key press)
    frame_index                  (K,) int32    step of the episode the frame was taken at
    kind                         (K,) str      what produced it: expert, drop, touch, beside, random...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hilserl.data.episodes import FORMAT, IMAGE_PREFIX, VERSION, check_compatible, read_meta

CONTENT = "labelled frames"


@dataclass
class LabelledFrames:
    images: dict[str, np.ndarray]
    states: np.ndarray
    labels: np.ndarray
    episode: np.ndarray
    """Index of the episode each frame comes from (for splits that keep episodes whole)."""
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "LabelledFrames":
        return LabelledFrames({k: v[index] for k, v in self.images.items()}, self.states[index],
                              self.labels[index], self.episode[index], self.kinds[index])

    def counts(self) -> dict[str, int]:
        return {"positives": int(self.labels.sum()), "negatives": int((~self.labels).sum())}


class FrameWriter:
    def __init__(self, root: Path, cameras: dict[str, tuple[int, ...]], state_dim: int, fps: float,
                 source: str, env: dict[str, Any] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.meta = {"format": FORMAT, "version": VERSION, "content": CONTENT, "fps": fps, "state_dim": state_dim,
                     "cameras": {k: list(v) for k, v in cameras.items()}, "episodes": 0, "frames": 0,
                     "positives": 0, "source": source, "env": env or {}}
        self._rows: list[tuple[dict, bool, int, str]] = []

    def add(self, obs: dict[str, np.ndarray], label: bool, frame_index: int, kind: str) -> None:
        self._rows.append((obs, bool(label), frame_index, kind))

    def end_episode(self) -> Path | None:
        rows, self._rows = self._rows, []
        if not rows:
            return None
        arrays = {IMAGE_PREFIX + cam: np.stack([r[0][cam] for r in rows]).astype(np.uint8) for cam in self.meta["cameras"]}
        arrays["observation.state"] = np.stack([r[0]["state"] for r in rows]).astype(np.float32)
        arrays["label"] = np.array([r[1] for r in rows])
        arrays["frame_index"] = np.array([r[2] for r in rows], np.int32)
        arrays["kind"] = np.array([r[3] for r in rows])
        path = self.root / f"episode_{self.meta['episodes']:06d}.npz"
        np.savez_compressed(path, **arrays)
        self.meta["episodes"] += 1
        self.meta["frames"] += len(rows)
        self.meta["positives"] += int(arrays["label"].sum())
        (self.root / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")
        return path


def load_frames(root: Path, state_dim: int, cameras: dict[str, tuple[int, ...]]) -> LabelledFrames:
    """All frames of a labelled-frames dataset, checked against the env's state size and cameras."""
    root = Path(root)
    meta = read_meta(root)
    if meta.get("content") != CONTENT:
        raise ValueError(f"{root} holds {meta.get('content', 'episodes')!r}, not {CONTENT!r}: record it with "
                         f"`hilserl record-classifier-data`")
    check_compatible(meta, root, state_dim, cameras)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("state", "label", "episode", "kind", *cameras)}
    for i in range(meta["episodes"]):
        with np.load(root / f"episode_{i:06d}.npz") as ep:
            for cam in cameras:
                parts[cam].append(ep[IMAGE_PREFIX + cam])
            parts["state"].append(ep["observation.state"])
            parts["label"].append(ep["label"].astype(bool))
            parts["kind"].append(ep["kind"])
            parts["episode"].append(np.full(len(ep["label"]), i))
    if not parts["label"]:
        raise ValueError(f"{root} holds no frames")
    return LabelledFrames({cam: np.concatenate(parts[cam]) for cam in cameras}, np.concatenate(parts["state"]),
                          np.concatenate(parts["label"]), np.concatenate(parts["episode"]), np.concatenate(parts["kind"]))
