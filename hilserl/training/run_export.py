"""A run's transitions, from its newest usable checkpoint's online buffer, as a LeRobotDataset v3.0.

The buffer holds rows in the order they came; an episode ends where the next row does not start from
this row's next observation (its frames, or its state for runs without cameras). Runs that kept
feature-cache encodings instead of images (the default) have no frames to write: their demos export
(``hilserl export-lerobot RUN`` does) but not their transitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hilserl.config import Config, from_dict
from hilserl.data.lerobot_convert import INTERVENTION, PENALTY, STATE, VIDEO_PREFIX
from hilserl.data.lerobot_dataset import EpisodeRows, LeRobotFormatError, write_lerobot
from hilserl.envs.contract import TaskLayout
from hilserl.training.checkpoint import checkpoint_dir, usable_checkpoint

PREFIX = "buffer_online"


def _rows(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f"{PREFIX}.{name}.npy")


def episode_bounds(folder: Path, cameras: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each episode among the buffer's rows."""
    if cameras:
        continues = _rows(folder, "obs_frame")[1:] == _rows(folder, "next_frame")[:-1]
    else:
        continues = np.all(_rows(folder, "obs.state")[1:] == _rows(folder, "next_obs.state")[:-1], axis=1)
    continues &= _rows(folder, "terminated")[:-1] == 0
    ends = [i + 1 for i in np.flatnonzero(~continues)] + [len(_rows(folder, "reward"))]
    starts = [0] + ends[:-1]
    return [(s, e) for s, e in zip(starts, ends) if e > s]


def export_run(run_dir: Path, out: Path, task: str) -> dict[str, Any]:
    found = usable_checkpoint(Path(run_dir), only=None)
    if found is None:
        raise FileNotFoundError(f"no complete and undamaged checkpoint in {checkpoint_dir(Path(run_dir))}")
    folder, state = found
    cfg = from_dict(Config, state["config"])
    if "layout" not in state:
        raise LeRobotFormatError(f"{folder}: written before checkpoints recorded the env's layout; export its demos")
    layout = TaskLayout.from_dict(state["layout"])
    cameras = list(layout.observation.image_shapes)
    if cameras and cfg.agent.feature_cache:
        raise LeRobotFormatError(f"{run_dir}: its buffers hold feature-cache encodings, not images, so its transitions "
                                 "have no frames to export; export its demos (the run folder's demos/), or train with "
                                 "--set agent.feature_cache=false to keep images")
    frames = {cam: np.load(folder / f"{PREFIX}.frames.{cam}.npy") for cam in cameras}
    obs_ids = _rows(folder, "obs_frame") if cameras else None
    action, reward = _rows(folder, "action").astype(np.float32), _rows(folder, "reward").astype(np.float32)
    episodes = []
    for start, end in episode_bounds(folder, cameras):
        act = action[start:end].copy()
        if layout.action.gripper:
            act[:, -1] += 1.0  # -1 / 0 / +1 -> LeRobot's classes 0 / 1 / 2
        done = np.zeros(end - start, bool)
        done[-1] = True
        columns = {STATE: _rows(folder, "obs.state")[start:end].astype(np.float32), "action": act,
                   "next.reward": reward[start:end], "next.done": done,
                   INTERVENTION: _rows(folder, "intervened")[start:end].astype(bool)}
        if layout.action.gripper:
            columns[PENALTY] = _rows(folder, "grasp_penalty")[start:end].astype(np.float32)
        videos = {VIDEO_PREFIX + cam: frames[cam][obs_ids[start:end]] for cam in cameras}
        episodes.append(EpisodeRows(columns, videos, task))
    if not episodes:
        raise LeRobotFormatError(f"{folder}: its online buffer holds no transition")
    return write_lerobot(out, episodes, float(cfg.env.control_hz))
