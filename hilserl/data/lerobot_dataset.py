"""LeRobotDataset folders (v3.0, and v2.1 for reading), with pyarrow for the tables and PyAV for video.

The layout, as LeRobot documents it::

    meta/info.json                  codebase_version, fps (an integer), features, totals, data_path,
                                    video_path, chunk and file sizes
    meta/stats.json                 per feature: min, max, mean, std, count, q01, q10, q50, q90, q99
    meta/tasks.parquet              task_index, with the task string as the table's (pandas) index
    meta/episodes/chunk-000/file-000.parquet
                                    per episode: episode_index, tasks, length, data/chunk_index,
                                    data/file_index, dataset_from_index, dataset_to_index, per video
                                    videos/<key>/chunk_index, file_index, from_timestamp, to_timestamp,
                                    per feature stats/<feature>/<stat>, and meta/episodes/chunk_index,
                                    file_index
    data/chunk-000/file-000.parquet one row per frame: the features, timestamp, frame_index,
                                    episode_index, index, task_index; a feature of dtype ``image``
                                    is a PNG in the row (``{bytes, path}``)
    videos/<key>/chunk-000/file-000.mp4
                                    the frames of many episodes, one after another; an episode's frame
                                    is at its ``from_timestamp`` plus the frame's ``timestamp``

v2.1 keeps one parquet and one mp4 per episode and ``meta/episodes.jsonl``. LeRobot writes what a
camera gives, channel first or last; a camera feature's ``names`` (or, without them, where its 3
channels are) says which side is the height. The fixtures in ``tests/data/lerobot/`` were written by
LeRobot itself (``scripts/lerobot_fixtures.py``). Video is written as H.264
(``libx264``, yuv420p), which PyAV writes and reads here and browsers and LeRobot's loaders play;
decoding is lossy (30 to 32 dB PSNR on the simulation's 128x128 frames, mostly from yuv420p's halved
colour resolution, which browsers and the Hub's viewer need).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from hilserl.data.video import PIX_FMT, VideoError, read_video, write_video

CODEBASE_VERSION = "v3.0"
READABLE_VERSIONS = ("v3.0", "v2.1")
VIDEO_CODEC_NAME = "h264"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
"""LeRobot's defaults for when it starts a new data or video file; written so that its appends follow them."""
FRAME_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
"""The quantiles LeRobot's stats hold (its quantile normalisation reads them)."""
MIN_IMAGE_SIDE = 16
"""A camera feature narrower than this cannot be a camera frame: its shape was misread."""
CAMERA_DTYPES = ("video", "image")


class LeRobotFormatError(ValueError):
    """A LeRobot dataset this code cannot read: the message names the file, column or feature."""


# ---------------------------------------------------------------------------------------------- reading
_AXIS_NAMES = {"height": ("height", "h"), "width": ("width", "w"), "channels": ("channels", "channel", "c")}


def camera_size(key: str, feature: dict[str, Any]) -> tuple[int, int]:
    """(height, width) of a camera feature: from its ``names`` where it has them (LeRobot's HIL-SERL
    recorder declares ``[channels, height, width]``), else from which end holds the 3 channels."""
    shape = [int(s) for s in feature.get("shape", ())]
    names = feature.get("names")
    if len(shape) != 3:
        raise LeRobotFormatError(f"{key}: a camera feature of shape {shape}; a camera frame has 3 dimensions")
    if isinstance(names, (list, tuple)) and len(names) == 3:
        lowered = [str(n).lower() for n in names]
        axes = {}
        for axis, aliases in _AXIS_NAMES.items():
            found = [i for i, n in enumerate(lowered) if n in aliases]
            if len(found) != 1:
                raise LeRobotFormatError(f"{key}: its names {names} do not say which dimension is the {axis}")
            axes[axis] = found[0]
        height, width, channels = (shape[axes[a]] for a in ("height", "width", "channels"))
    else:
        ends = [i for i in (0, 2) if shape[i] == 3]
        if len(ends) != 1:
            raise LeRobotFormatError(f"{key}: shape {shape} without names: cannot tell the channels from the height "
                                     "and width; add names to the feature in meta/info.json")
        height, width, channels = (shape[1], shape[2], 3) if ends[0] == 0 else (shape[0], shape[1], 3)
    if channels != 3:
        raise LeRobotFormatError(f"{key}: {channels} channels (shape {shape}, names {names}); RGB cameras have 3")
    if min(height, width) < MIN_IMAGE_SIDE:
        raise LeRobotFormatError(f"{key}: read as {height}x{width} pixels (shape {shape}, names {names}), too small "
                                 f"for a camera frame (a side under {MIN_IMAGE_SIDE}): check the feature's shape "
                                 "and names in meta/info.json")
    return height, width


@dataclass
class Episode:
    """One episode of a LeRobot dataset: its per-frame columns and, per camera key, its frames
    (N, height, width, 3) uint8, whether the dataset keeps them as video or as images."""

    index: int
    columns: dict[str, np.ndarray]
    cameras: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["frame_index"])


def _column(table: pa.Table, name: str, path: Path) -> np.ndarray:
    if name not in table.column_names:
        raise LeRobotFormatError(f"{path}: lacks the column {name!r} (it has {sorted(table.column_names)})")
    column = table.column(name).combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
        lengths = {len(v) for v in column.to_pylist()} if len(column) else {0}
        if len(lengths) > 1:
            raise LeRobotFormatError(f"{path}: column {name!r} holds rows of different lengths {sorted(lengths)}")
        return np.asarray(column.flatten().to_numpy(zero_copy_only=False)).reshape(len(column), -1)
    return np.asarray(column.to_numpy(zero_copy_only=False))


class LeRobotReader:
    """Reads a LeRobot dataset folder episode by episode, checking it against its own ``info.json``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.exists():
            raise LeRobotFormatError(f"{self.root}: no meta/info.json, so not a LeRobot dataset")
        self.info = json.loads(info_path.read_text())
        self.version = self.info.get("codebase_version")
        if self.version not in READABLE_VERSIONS:
            raise LeRobotFormatError(f"{info_path}: codebase_version {self.version!r}; readable: "
                                     f"{', '.join(READABLE_VERSIONS)}")
        for key in ("fps", "features", "data_path"):
            if key not in self.info:
                raise LeRobotFormatError(f"{info_path}: lacks {key!r}")
        self.fps = float(self.info["fps"])
        self.features: dict[str, dict] = self.info["features"]
        self.video_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        self.camera_keys = [k for k, f in self.features.items() if f.get("dtype") in CAMERA_DTYPES]
        self.camera_sizes = {k: camera_size(k, self.features[k]) for k in self.camera_keys}
        self._tables: dict[Path, pa.Table] = {}
        self._videos: dict[Path, np.ndarray] = {}

    def _table(self, path: Path) -> pa.Table:
        if path not in self._tables:
            if not path.exists():
                raise LeRobotFormatError(f"{path}: the data file is missing")
            try:
                self._tables[path] = pq.read_table(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise LeRobotFormatError(f"{path}: cannot be read as parquet ({exc})") from None
        return self._tables[path]

    def _video(self, path: Path) -> np.ndarray:
        if path not in self._videos:
            try:
                self._videos = {path: read_video(path)}  # one file decoded at a time
            except VideoError as exc:
                raise LeRobotFormatError(str(exc)) from None
        return self._videos[path]

    def episodes_meta(self) -> list[dict[str, Any]]:
        if self.version == "v2.1":
            path = self.root / "meta" / "episodes.jsonl"
            if not path.exists():
                raise LeRobotFormatError(f"{path}: missing")
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise LeRobotFormatError(f"{self.root / 'meta' / 'episodes'}: no episode metadata files")
        rows = [row for f in files for row in self._table(f).to_pylist()]
        return sorted(rows, key=lambda r: r["episode_index"])

    def __iter__(self) -> Iterator[Episode]:
        for meta in self.episodes_meta():
            yield self.episode(meta)

    def episode(self, meta: dict[str, Any]) -> Episode:
        index = int(meta["episode_index"])
        if self.version == "v2.1":
            chunk = index // int(self.info.get("chunks_size", CHUNKS_SIZE))
            path = self.root / self.info["data_path"].format(episode_chunk=chunk, episode_index=index)
            table = self._table(path)
        else:
            path = self.root / self.info["data_path"].format(chunk_index=int(meta["data/chunk_index"]),
                                                              file_index=int(meta["data/file_index"]))
            table = self._table(path)
            episodes = _column(table, "episode_index", path)
            table = table.filter(pa.array(episodes == index))
        order = np.argsort(_column(table, "frame_index", path), kind="stable")
        columns, cameras = {}, {}
        for name, feature in self.features.items():
            if feature.get("dtype") == "image":
                cameras[name] = self._images(table, name, path, order)
                continue
            if feature.get("dtype") == "video":
                continue
            values = _column(table, name, path)[order]
            shape = tuple(int(s) for s in feature.get("shape", ()))
            if shape not in ((), (1,)) and values.shape[1:] != shape:
                raise LeRobotFormatError(f"{path}: column {name!r} has rows of {values.shape[1:]}, info.json declares "
                                         f"{shape}")
            columns[name] = values.reshape(len(values)) if shape in ((), (1,)) and values.ndim == 2 else values
        length = len(columns["frame_index"]) if "frame_index" in columns else 0
        if length == 0:
            raise LeRobotFormatError(f"{path}: episode {index} has no frames")
        for key in self.video_keys:
            cameras[key] = self._episode_frames(key, meta, index, columns.get("timestamp"), length)
        return Episode(index, columns, {k: cameras[k] for k in self.camera_keys})

    def _images(self, table: pa.Table, key: str, path: Path, order: np.ndarray) -> np.ndarray:
        """A feature of dtype ``image``: each row's PNG (or JPEG) bytes, decoded."""
        if key not in table.column_names:
            raise LeRobotFormatError(f"{path}: lacks the image column {key!r}")
        cells = table.column(key).to_pylist()
        frames = []
        for i in order:
            cell = cells[i]
            data = cell.get("bytes") if isinstance(cell, dict) else None
            if not data:
                raise LeRobotFormatError(f"{path}: row {i} of {key!r} holds no image bytes (a path only: "
                                         f"{cell.get('path') if isinstance(cell, dict) else cell!r})")
            frames.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        return self._checked(key, np.stack(frames), path)

    def _checked(self, key: str, frames: np.ndarray, path: Path) -> np.ndarray:
        height, width = self.camera_sizes[key]
        if frames.shape[1:3] != (height, width):
            raise LeRobotFormatError(f"{path}: {key!r} holds frames of {frames.shape[1]}x{frames.shape[2]}, "
                                     f"meta/info.json declares {height}x{width}")
        return frames

    def _episode_frames(self, key: str, meta: dict[str, Any], index: int, timestamps: np.ndarray | None,
                        length: int) -> np.ndarray:
        if self.version == "v2.1":
            chunk = index // int(self.info.get("chunks_size", CHUNKS_SIZE))
            path = self.root / self.info["video_path"].format(episode_chunk=chunk, video_key=key, episode_index=index)
            start = 0.0
        else:
            path = self.root / self.info["video_path"].format(
                video_key=key, chunk_index=int(meta[f"videos/{key}/chunk_index"]),
                file_index=int(meta[f"videos/{key}/file_index"]))
            start = float(meta[f"videos/{key}/from_timestamp"])
        frames = self._video(path)
        offsets = timestamps if timestamps is not None else np.arange(length) / self.fps
        positions = np.rint((start + np.asarray(offsets, np.float64)) * self.fps).astype(int)
        if positions.max() >= len(frames):
            raise LeRobotFormatError(f"{path}: episode {index} needs frame {positions.max()} of {key!r}, the video "
                                     f"holds {len(frames)} (truncated?)")
        return self._checked(key, frames[positions], path)


# ---------------------------------------------------------------------------------------------- writing
@dataclass
class EpisodeRows:
    """An episode to write: per-frame feature arrays (the same length) and per video key its frames."""

    columns: dict[str, np.ndarray]
    videos: dict[str, np.ndarray]
    task: str


def _feature(values: np.ndarray) -> dict[str, Any]:
    shape = list(values.shape[1:]) or [1]
    dtype = "bool" if values.dtype == np.bool_ else str(values.dtype)
    return {"dtype": dtype, "shape": shape, "names": None}


def _stats(values: np.ndarray) -> dict[str, list]:
    """Per dimension, as LeRobot keeps them: min and max in the feature's own type (bool, integer or
    float), the rest as floats, and the number of frames."""
    v = values.reshape(len(values), -1)
    as_float = v.astype(np.float64)
    extreme = (lambda x: x.astype(bool)) if v.dtype == np.bool_ else \
        (lambda x: x.astype(np.int64)) if np.issubdtype(v.dtype, np.integer) else (lambda x: x.astype(np.float64))
    out = {"min": extreme(v.min(0)).tolist(), "max": extreme(v.max(0)).tolist(), "mean": as_float.mean(0).tolist(),
           "std": as_float.std(0).tolist(), "count": [len(values)]}
    for name, q in QUANTILES.items():
        out[name] = np.quantile(as_float, q, axis=0).tolist()
    return out


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per channel over all pixels, in [0, 1] and shaped (3, 1, 1), as LeRobot writes them."""
    v = frames.reshape(-1, 3).astype(np.float64) / 255.0

    def per_channel(x: np.ndarray) -> list:
        return [[[float(c)]] for c in x]
    out = {"min": per_channel(v.min(0)), "max": per_channel(v.max(0)), "mean": per_channel(v.mean(0)),
           "std": per_channel(v.std(0)), "count": [len(frames)]}
    for name, q in QUANTILES.items():
        out[name] = per_channel(np.quantile(v, q, axis=0))
    return out


def _write_tasks(root: Path, tasks: list[str]) -> None:
    """``meta/tasks.parquet`` as LeRobot writes it: pandas' frame of ``task_index`` indexed by the task."""
    frame = pd.DataFrame({"task_index": np.arange(len(tasks), dtype=np.int64)}, index=pd.Index(tasks))
    frame.to_parquet(root / "meta" / "tasks.parquet")


def _array(values: np.ndarray) -> pa.Array:
    if values.ndim == 1:
        return pa.array(values)
    flat = pa.array(values.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, int(np.prod(values.shape[1:])))


def write_lerobot(root: Path, episodes: list[EpisodeRows], fps: float, robot_type: str | None = None) -> dict[str, Any]:
    """Write ``episodes`` as one LeRobotDataset v3.0 as LeRobot's writer lays it out: one data file,
    one video file per camera, the tasks, episodes, info and stats that LeRobot's loader and its
    editing tools (append, delete, merge) read. Returns ``info.json``'s content."""
    root = Path(root)
    if (root / "meta" / "info.json").exists():
        raise LeRobotFormatError(f"{root}: already holds a LeRobot dataset; write into an empty folder")
    if not episodes:
        raise LeRobotFormatError("no episodes to write")
    if abs(fps - round(fps)) > 1e-9:
        raise LeRobotFormatError(f"a control rate of {fps} Hz: LeRobot datasets keep an integer fps")
    fps = int(round(fps))
    tasks = list(dict.fromkeys(e.task for e in episodes))
    names = list(episodes[0].columns)
    video_keys = list(episodes[0].videos)
    rows: dict[str, list[np.ndarray]] = {n: [] for n in [*names, *FRAME_COLUMNS]}
    meta_rows, start, video_time = [], 0, 0.0
    for e_index, ep in enumerate(episodes):
        length = len(next(iter(ep.columns.values())))
        frame = {n: ep.columns[n] for n in names}
        frame["timestamp"] = (np.arange(length) / fps).astype(np.float32)
        frame["frame_index"] = np.arange(length, dtype=np.int64)
        frame["episode_index"] = np.full(length, e_index, np.int64)
        frame["index"] = np.arange(start, start + length, dtype=np.int64)
        frame["task_index"] = np.full(length, tasks.index(ep.task), np.int64)
        for n, v in frame.items():
            rows[n].append(v)
        meta: dict[str, Any] = {"episode_index": e_index, "tasks": [ep.task], "length": length,
                                "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": start,
                                "dataset_to_index": start + length}
        for key in video_keys:
            meta.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                         f"videos/{key}/from_timestamp": video_time,
                         f"videos/{key}/to_timestamp": video_time + length / fps})
        episode_stats = {n: _stats(frame[n]) for n in [*names, *FRAME_COLUMNS]}
        episode_stats.update({key: _image_stats(ep.videos[key]) for key in video_keys})
        for feature, stats in episode_stats.items():
            meta.update({f"stats/{feature}/{stat}": value for stat, value in stats.items()})
        meta.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        meta_rows.append(meta)
        start += length
        video_time += length / fps
    columns = {n: np.concatenate(v) for n, v in rows.items()}
    data_path = root / DATA_PATH.format(chunk_index=0, file_index=0)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({n: _array(v) for n, v in columns.items()}), data_path)
    episodes_path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(meta_rows), episodes_path)
    _write_tasks(root, tasks)
    features = {n: _feature(columns[n]) for n in [*names, *FRAME_COLUMNS]}
    stats = {n: _stats(columns[n]) for n in [*names, *FRAME_COLUMNS]}
    for key in video_keys:
        frames = np.concatenate([ep.videos[key] for ep in episodes])
        write_video(root / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0), frames, fps)
        h, w = frames.shape[1:3]
        features[key] = {"dtype": "video", "shape": [int(h), int(w), 3], "names": ["height", "width", "channels"],
                         "info": {"video.height": int(h), "video.width": int(w), "video.codec": VIDEO_CODEC_NAME,
                                  "video.pix_fmt": PIX_FMT, "video.is_depth_map": False, "video.fps": fps,
                                  "video.channels": 3, "has_audio": False}}
        stats[key] = _image_stats(frames)
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": start, "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB, "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
            "fps": fps, "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if video_keys else None, "features": features}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4) + "\n")
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=4) + "\n")
    return info
