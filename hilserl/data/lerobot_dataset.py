"""LeRobotDataset folders (v3.0, and v2.1 for reading), with pyarrow for the tables and PyAV for video.

The layout, as LeRobot documents it::

    meta/info.json                  codebase_version, fps, features, totals, data_path, video_path, ...
    meta/stats.json                 per feature: min, max, mean, std, count
    meta/tasks.parquet              task_index, task
    meta/episodes/chunk-000/file-000.parquet
                                    per episode: episode_index, tasks, length, data/chunk_index,
                                    data/file_index, dataset_from_index, dataset_to_index and, per
                                    video, videos/<key>/chunk_index, file_index, from_timestamp,
                                    to_timestamp
    data/chunk-000/file-000.parquet one row per frame: the features, timestamp, frame_index,
                                    episode_index, index, task_index
    videos/<key>/chunk-000/file-000.mp4
                                    the frames of many episodes, one after another; an episode's frame
                                    is at its ``from_timestamp`` plus the frame's ``timestamp``

v2.1 keeps one parquet and one mp4 per episode and ``meta/episodes.jsonl``. Video is written as H.264
(``libx264``, yuv420p), which PyAV writes and reads here and browsers and LeRobot's loaders play;
decoding is lossy (30 to 32 dB PSNR on the simulation's 128x128 frames, mostly from yuv420p's halved
colour resolution, which browsers and the Hub's viewer need).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
READABLE_VERSIONS = ("v3.0", "v2.1")
VIDEO_CODEC = "libx264"
VIDEO_CODEC_NAME = "h264"
PIX_FMT = "yuv420p"
VIDEO_CRF = "18"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CHUNKS_SIZE = 1000
FRAME_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


class LeRobotFormatError(ValueError):
    """A LeRobot dataset this code cannot read: the message names the file, column or feature."""


# ----------------------------------------------------------------------------------------------- video
def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """``frames`` (N, H, W, 3) uint8 as an H.264 mp4, every frame a key frame away from at most one
    other (short groups of pictures keep seeking cheap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(VIDEO_CODEC, rate=int(round(fps)))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = PIX_FMT
        stream.options = {"crf": VIDEO_CRF, "g": "2"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def read_video(path: Path) -> np.ndarray:
    """Every frame of an mp4, (N, H, W, 3) uint8; a missing or damaged file is named."""
    if not path.exists():
        raise LeRobotFormatError(f"{path}: the video file is missing")
    try:
        with av.open(str(path)) as video:
            frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    except (av.error.FFmpegError, ValueError) as exc:
        raise LeRobotFormatError(f"{path}: cannot be decoded ({exc})") from None
    if not frames:
        raise LeRobotFormatError(f"{path}: holds no video frame")
    return np.stack(frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of uint8 images, in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ---------------------------------------------------------------------------------------------- reading
@dataclass
class Episode:
    """One episode of a LeRobot dataset: its per-frame columns and, per video key, its frames."""

    index: int
    columns: dict[str, np.ndarray]
    videos: dict[str, np.ndarray]

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
            self._videos = {path: read_video(path)}  # one file decoded at a time
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
        columns = {}
        for name, feature in self.features.items():
            if feature.get("dtype") in ("video", "image"):
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
        videos = {key: self._episode_frames(key, meta, index, columns.get("timestamp"), length) for key in self.video_keys}
        return Episode(index, columns, videos)

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
        return frames[positions]


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


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = values.astype(np.float64).reshape(len(values), -1)
    return {"min": v.min(0).tolist(), "max": v.max(0).tolist(), "mean": v.mean(0).tolist(), "std": v.std(0).tolist(),
            "count": [len(values)]}


def _image_stats(frames: np.ndarray) -> dict[str, Any]:
    """Per channel over all pixels, in [0, 1] and shaped (3, 1, 1), as LeRobot writes them."""
    v = frames.reshape(-1, 3).astype(np.float64) / 255.0

    def per_channel(x: np.ndarray) -> list:
        return [[[float(c)]] for c in x]
    return {"min": per_channel(v.min(0)), "max": per_channel(v.max(0)), "mean": per_channel(v.mean(0)),
            "std": per_channel(v.std(0)), "count": [len(frames)]}


def _array(values: np.ndarray) -> pa.Array:
    if values.ndim == 1:
        return pa.array(values)
    flat = pa.array(values.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, int(np.prod(values.shape[1:])))


def write_lerobot(root: Path, episodes: list[EpisodeRows], fps: float, robot_type: str | None = None) -> dict[str, Any]:
    """Write ``episodes`` as one LeRobotDataset v3.0: one data file, one video file per camera, the
    metadata LeRobot's loader reads. Returns ``info.json``'s content."""
    root = Path(root)
    if (root / "meta" / "info.json").exists():
        raise LeRobotFormatError(f"{root}: already holds a LeRobot dataset; write into an empty folder")
    if not episodes:
        raise LeRobotFormatError("no episodes to write")
    tasks = sorted({e.task for e in episodes})
    names = list(episodes[0].columns)
    video_keys = list(episodes[0].videos)
    rows: dict[str, list[np.ndarray]] = {n: [] for n in [*names, *FRAME_COLUMNS]}
    meta_rows, start, video_time = [], 0, 0.0
    for e_index, ep in enumerate(episodes):
        length = len(next(iter(ep.columns.values())))
        for n in names:
            rows[n].append(ep.columns[n])
        rows["timestamp"].append((np.arange(length) / fps).astype(np.float32))
        rows["frame_index"].append(np.arange(length, dtype=np.int64))
        rows["episode_index"].append(np.full(length, e_index, np.int64))
        rows["index"].append(np.arange(start, start + length, dtype=np.int64))
        rows["task_index"].append(np.full(length, tasks.index(ep.task), np.int64))
        meta = {"episode_index": e_index, "tasks": [ep.task], "length": length, "data/chunk_index": 0,
                "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + length}
        for key in video_keys:
            meta.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                         f"videos/{key}/from_timestamp": video_time,
                         f"videos/{key}/to_timestamp": video_time + length / fps})
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
    pq.write_table(pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks)}),
                   root / "meta" / "tasks.parquet")
    features = {n: _feature(columns[n]) for n in [*names, *FRAME_COLUMNS]}
    stats = {n: _stats(columns[n]) for n in names if columns[n].dtype != np.bool_}
    for key in video_keys:
        frames = np.concatenate([ep.videos[key] for ep in episodes])
        write_video(root / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0), frames, fps)
        h, w = frames.shape[1:3]
        features[key] = {"dtype": "video", "shape": [int(h), int(w), 3], "names": ["height", "width", "channels"],
                         "info": {"video.fps": fps, "video.height": int(h), "video.width": int(w),
                                  "video.channels": 3, "video.codec": VIDEO_CODEC_NAME, "video.pix_fmt": PIX_FMT,
                                  "video.is_depth_map": False, "has_audio": False}}
        stats[key] = _image_stats(frames)
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": start, "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE, "fps": fps,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
            "features": features}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return info
