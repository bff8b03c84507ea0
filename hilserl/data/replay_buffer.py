"""Replay buffers: fixed-capacity FIFO storage of transitions, grown lazily, each camera frame stored once.

A transition is a flat record of named arrays: ``obs.state``, ``next_obs.state``, ``action``,
``reward``, ``grasp_penalty``, ``terminated``, ``intervened``. Camera frames live apart, in a
:class:`FrameRing` per buffer: a transition holds the ids of its observation's and its next
observation's frames, and the next observation of one step, being the observation of the next, is
stored once for both (as HIL-SERL's memory-efficient buffer does). A sampled batch still reads
``obs.<cam>`` and ``next_obs.<cam>``. Frames are uint8 images (exact per-batch augmentation) or, with
the feature cache, ``cache_crops`` backbone feature maps of random crops (float16 or uint8); a batch then
draws one crop per sample, independently for obs and next obs.

The ring holds ``frame_capacity`` frames (by default ``capacity`` plus a sixteenth): enough for
``capacity`` transitions of episodes or intervention stretches of 16 steps or more. Shorter stretches
need more frames per transition; the oldest transitions then leave early, so memory stays bounded.
Storage grows by doubling up to capacity, so a short run does not reserve memory for 200,000
transitions of images.

A checkpoint taken in the middle of an episode saves the buffer as the episode began (a resumed actor
runs the episode again): ``mark`` at its first step keeps, until the next mark, the rows and frames
that new ones overwrite, so that ``save_rows`` can write them back in place of the episode's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

INITIAL_ROWS = 1024
FRAME_SLACK = 16
"""The frame ring holds ``capacity + capacity // FRAME_SLACK`` frames by default."""
OBS_FRAME, NEXT_FRAME = "obs_frame", "next_frame"


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class _Mark:
    """A buffer as it was at ``ReplayBuffer.mark``, and what was overwritten since."""

    added: int
    oldest: int
    size: int
    first_frame: int
    last_frame: int
    """The frame ids the rows then referred to, first and last (``_frame_span``)."""
    rows: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    """Storage row -> its fields as they were, for each row of the mark overwritten since."""
    frames: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    """Frame id -> its frames as they were, for each frame of the mark overwritten since."""

    def holds_row(self, row: int, capacity: int) -> bool:
        return (row - self.oldest) % capacity < self.size

    def holds_frame(self, frame_id: int) -> bool:
        return self.first_frame <= frame_id <= self.last_frame


def _segments(start: int, count: int, capacity: int) -> list[slice]:
    """``count`` ring positions from ``start`` on, as at most two slices of storage."""
    if count == 0:
        return []
    first = min(count, capacity - start)
    return [slice(start, start + first)] + ([slice(0, count - first)] if count > first else [])


class _Storage:
    """Named arrays of ``capacity`` rows, grown by doubling as rows are used."""

    def __init__(self, capacity: int, specs: dict[str, FieldSpec]):
        self.capacity, self.specs = capacity, specs
        self.data: dict[str, np.ndarray] = {}
        self.rows = 0

    def ensure(self, row: int) -> None:
        if row < self.rows:
            return
        rows = min(self.capacity, max(INITIAL_ROWS, 2 * self.rows, row + 1))
        for name, spec in self.specs.items():
            new = np.empty((rows, *spec.shape), dtype=spec.dtype)
            if name in self.data:
                new[: self.rows] = self.data[name][: self.rows]
            self.data[name] = new
        self.rows = rows

    def write(self, path: Path, name: str, start: int, count: int, offset: int = 0,
              replaced: dict[int, np.ndarray] | None = None) -> None:
        """Rows ``start``.. (``count``, ring order) of field ``name`` to the ``.npy`` file ``path``,
        streamed from storage; ``offset`` is subtracted (frame ids rebased to the file); ``replaced``:
        row of the file -> the value written there instead of storage's."""
        spec = self.specs[name]
        out = np.lib.format.open_memmap(path, mode="w+", dtype=spec.dtype, shape=(count, *spec.shape))
        row = 0
        for seg in _segments(start, count, self.capacity):
            n = seg.stop - seg.start
            out[row:row + n] = self.data[name][seg] - offset if offset else self.data[name][seg]
            row += n
        for row, value in (replaced or {}).items():
            out[row] = value - offset if offset else value
        out.flush()
        del out


class FrameRing:
    """Camera frames in arrival order, each under a global id; the newest ``capacity`` are kept."""

    def __init__(self, capacity: int, specs: dict[str, FieldSpec]):
        self.capacity = capacity
        self.storage = _Storage(capacity, specs)
        self.newest = -1
        """Id of the last frame pushed (-1: none yet)."""

    def push(self, frames: dict[str, np.ndarray]) -> int:
        missing = set(self.storage.specs) - set(frames)
        if missing:
            raise KeyError(f"frames lack {sorted(missing)}; the buffer stores {sorted(self.storage.specs)}")
        frame_id = self.newest + 1
        slot = frame_id % self.capacity
        self.storage.ensure(slot)
        for name, spec in self.storage.specs.items():
            value = np.asarray(frames[name])
            if value.shape != spec.shape:
                raise ValueError(f"frame {name!r}: got shape {value.shape}, the buffer stores {spec.shape}")
            self.storage.data[name][slot] = value
        self.newest = frame_id
        return frame_id

    @property
    def oldest(self) -> int:
        """The oldest id still held."""
        return max(0, self.newest - self.capacity + 1)

    def read(self, name: str, ids: np.ndarray) -> np.ndarray:
        return self.storage.data[name][ids % self.capacity]


class ReplayBuffer:
    def __init__(self, capacity: int, specs: dict[str, FieldSpec], crop_fields: tuple[str, ...] = (), seed: int = 0,
                 frames: dict[str, FieldSpec] | None = None, frame_capacity: int | None = None):
        """``specs``: the per-transition fields; ``frames``: per camera, the frame stored once (see the
        module's docstring) and read as ``obs.<cam>`` and ``next_obs.<cam>``; ``crop_fields``: camera
        names whose frames hold alternative crops on their first axis, one drawn per sample."""
        self.capacity = capacity
        self.frame_specs = dict(frames or {})
        self.specs = {**specs, **({OBS_FRAME: FieldSpec((), np.int64), NEXT_FRAME: FieldSpec((), np.int64)}
                                  if self.frame_specs else {})}
        self.crop_fields = crop_fields
        self._store = _Storage(capacity, self.specs)
        self.frames = FrameRing(frame_capacity or capacity + capacity // FRAME_SLACK + 1, self.frame_specs) \
            if self.frame_specs else None
        self._size = 0
        self._next = 0
        self.added = 0
        self.rng = np.random.default_rng(seed)
        self._mark: _Mark | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def _rows(self) -> int:
        return self._store.rows

    @property
    def _oldest(self) -> int:
        return (self._next - self._size) % self.capacity

    @property
    def bytes_per_transition(self) -> int:
        """Bytes reserved per transition at full capacity: its fields and its share of the frame ring."""
        flat = sum(spec.nbytes for spec in self.specs.values())
        if self.frames is None:
            return flat
        frame = sum(spec.nbytes for spec in self.frame_specs.values())
        return flat + -(-frame * self.frames.capacity // self.capacity)

    @property
    def frames_held(self) -> int:
        """Frames the live transitions refer to (0 without cameras): for the bytes they really use."""
        if self.frames is None or self._size == 0:
            return 0
        return int(self._store.data[NEXT_FRAME][(self._next - 1) % self.capacity]
                   - self._store.data[OBS_FRAME][self._oldest] + 1)

    def add(self, record: dict[str, np.ndarray], obs_frames: dict[str, np.ndarray] | None = None,
            next_frames: dict[str, np.ndarray] | None = None, continues: bool = False) -> None:
        """Store a transition. With cameras, ``obs_frames`` and ``next_frames`` are its observation's and
        next observation's frames; ``continues``: the observation is the previous transition's next
        observation (consecutive steps), whose stored frames it then shares."""
        fields = [n for n in self.specs if n not in (OBS_FRAME, NEXT_FRAME)]
        missing = set(fields) - set(record)
        if missing:
            raise KeyError(f"transition lacks {sorted(missing)}; the buffer stores {sorted(fields)}")
        values = {}
        for name in fields:
            value = np.asarray(record[name])
            if value.shape != self.specs[name].shape:
                raise ValueError(f"field {name!r}: got shape {value.shape}, the buffer stores {self.specs[name].shape}")
            values[name] = value
        if self.frames is not None:
            if obs_frames is None or next_frames is None:
                raise ValueError("a buffer with cameras needs the transition's frames")
            if continues and self._size:
                values[OBS_FRAME] = np.int64(self.frames.newest)
            else:
                values[OBS_FRAME] = np.int64(self._push(obs_frames))
            values[NEXT_FRAME] = np.int64(self._push(next_frames))
        if self._size == self.capacity:
            self._size -= 1  # the oldest row is overwritten
        i = self._next
        self._store.ensure(i)
        if self._mark is not None and i not in self._mark.rows and self._mark.holds_row(i, self.capacity):
            self._mark.rows[i] = {name: self._store.data[name][i].copy() for name in self.specs}
        for name, value in values.items():
            self._store.data[name][i] = value
        self._next = (i + 1) % self.capacity
        self._size += 1
        self.added += 1

    def _push(self, frames: dict[str, np.ndarray]) -> int:
        """Push a frame, first dropping the oldest transitions whose frames it would overwrite."""
        overwritten = self.frames.newest + 1 - self.frames.capacity
        while self._size and self._store.data[OBS_FRAME][self._oldest] <= overwritten:
            self._size -= 1
        mark = self._mark
        if mark is not None and overwritten not in mark.frames and mark.holds_frame(overwritten):
            slot = overwritten % self.frames.capacity
            mark.frames[overwritten] = {cam: self.frames.storage.data[cam][slot].copy() for cam in self.frame_specs}
        return self.frames.push(frames)

    def mark(self) -> None:
        """From now until the next mark, keep what new rows overwrite: ``save_rows`` can then leave out
        the rows added since and write the buffer exactly as it is now, however many old rows (and
        frames) those new ones pushed out."""
        self._mark = _Mark(self.added, self._oldest, self._size, *self._frame_span())

    def _frame_span(self) -> tuple[int, int]:
        """The first and last frame ids the live rows refer to; (0, -1), an empty span, without any."""
        if self.frames is None or not self._size:
            return 0, -1
        return (int(self._store.data[OBS_FRAME][self._oldest]),
                int(self._store.data[NEXT_FRAME][(self._next - 1) % self.capacity]))

    @property
    def added_since_mark(self) -> int:
        """Rows added since the last ``mark`` (0 without one): what ``save_rows`` can leave out."""
        return 0 if self._mark is None else self.added - self._mark.added

    def sample_indices(self, n: int) -> np.ndarray:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        return (self._oldest + self.rng.integers(0, self._size, n)) % self.capacity

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The transitions at storage rows ``indices``, their frames as ``obs.<cam>`` and ``next_obs.<cam>``."""
        out = {name: self._store.data[name][indices] for name in self.specs if name not in (OBS_FRAME, NEXT_FRAME)}
        for prefix, ids in (("obs", OBS_FRAME), ("next_obs", NEXT_FRAME)):
            if self.frames is None:
                break
            frame_ids = self._store.data[ids][indices]
            for cam in self.frame_specs:
                if cam in self.crop_fields:  # one of the stored crops per row, gathered alone
                    slots = frame_ids % self.frames.capacity
                    crops = self.rng.integers(0, self.frame_specs[cam].shape[0], len(indices))
                    out[f"{prefix}.{cam}"] = self.frames.storage.data[cam][slots, crops]
                else:
                    out[f"{prefix}.{cam}"] = self.frames.read(cam, frame_ids)
        return out

    def sample(self, n: int) -> dict[str, np.ndarray]:
        return self.gather(self.sample_indices(n))

    def save_rows(self, folder: Path, prefix: str, leave_newest: int = 0) -> None:
        """Each field to ``<prefix>.<field>.npy``, oldest row first, and the frames they refer to to
        ``<prefix>.frames.<cam>.npy`` (ids rebased to the file), streamed from storage (a checkpoint of
        a large buffer must not copy it in memory). ``leave_newest``: the rows added since the last
        ``mark`` (an episode not finished at the checkpoint), left out: the buffer is written as it was
        at the mark, the rows and frames they overwrote put back."""
        if leave_newest:
            mark = self._mark
            if mark is None or self.added_since_mark != leave_newest:
                since = "no mark" if mark is None else f"{self.added_since_mark} rows added since the mark"
                raise ValueError(f"cannot leave out the newest {leave_newest} rows ({since}): the buffer can "
                                 "only be written as it was at its last mark")
            oldest, rows, first, last = mark.oldest, mark.size, mark.first_frame, mark.last_frame
            old_rows, old_frames = mark.rows, mark.frames
        else:
            oldest, rows, old_rows, old_frames = self._oldest, self._size, {}, {}
            first, last = self._frame_span()
        if self.frames is not None and rows:
            for cam in self.frame_specs:
                self.frames.storage.write(folder / f"{prefix}.frames.{cam}.npy", cam, first % self.frames.capacity,
                                          last - first + 1, replaced={i - first: f[cam] for i, f in old_frames.items()})
        elif self.frames is not None:
            for cam, spec in self.frame_specs.items():
                np.save(folder / f"{prefix}.frames.{cam}.npy", np.empty((0, *spec.shape), spec.dtype))
        for name in self.specs:
            offset = first if name in (OBS_FRAME, NEXT_FRAME) else 0
            replaced = {(r - oldest) % self.capacity: values[name] for r, values in old_rows.items()}
            self._store.write(folder / f"{prefix}.{name}.npy", name, oldest, rows, offset, replaced)

    def load_rows(self, folder: Path, prefix: str) -> None:
        """Restore what ``save_rows`` wrote (into a buffer of the same fields; the newest rows are
        kept if this buffer's capacity is smaller)."""
        arrays = {name: np.load(folder / f"{prefix}.{name}.npy", mmap_mode="r") for name in self.specs}
        count = len(next(iter(arrays.values())))
        keep = min(count, self.capacity)
        for name, arr in arrays.items():
            if arr.shape[1:] != self.specs[name].shape:
                raise ValueError(f"checkpoint field {name!r} has rows of {arr.shape[1:]}, the buffer stores "
                                 f"{self.specs[name].shape}")
        frames = {cam: np.load(folder / f"{prefix}.frames.{cam}.npy", mmap_mode="r") for cam in self.frame_specs}
        for cam, arr in frames.items():
            if arr.shape[1:] != self.frame_specs[cam].shape or arr.dtype != self.frame_specs[cam].dtype:
                raise ValueError(
                    f"checkpoint frames of camera {cam!r} are {arr.dtype} {arr.shape[1:]}, the buffer stores "
                    f"{np.dtype(self.frame_specs[cam].dtype)} {self.frame_specs[cam].shape}: the crops cached per frame "
                    "(agent.cache_crops, agent.demo_cache_crops, agent.augmentation), their storage "
                    "(agent.cache_dtype) or agent.feature_cache "
                    "differ from the checkpoint's run")
        self._store = _Storage(self.capacity, self.specs)
        self._size = self._next = 0
        first_frame = 0
        if self.frames is not None:
            total = len(next(iter(frames.values())))
            if keep:  # keep the frames of the rows kept, as many as the ring holds
                first_frame = max(int(arrays[OBS_FRAME][count - keep]), total - self.frames.capacity)
                while keep and int(arrays[OBS_FRAME][count - keep]) < first_frame:
                    keep -= 1
            self.frames = FrameRing(self.frames.capacity, self.frame_specs)
            for i in range(first_frame, total if keep else first_frame):
                self.frames.push({cam: f[i] for cam, f in frames.items()})
        if keep:
            self._store.ensure(keep - 1)
            for name, arr in arrays.items():
                rows = arr[count - keep:]
                self._store.data[name][:keep] = rows - first_frame if name in (OBS_FRAME, NEXT_FRAME) else rows
        self._size, self._next = keep, keep % self.capacity
        self._mark = None


DEMONSTRATED = "demonstrated"
"""A sampled row's flag: 1 where it came from the demo buffer (a demo or a person's intervention)."""


def to_batch(record: dict[str, np.ndarray], cameras: list[str]) -> dict:
    """A sampled record as the agent's batch of tensors."""
    def obs(prefix: str) -> dict[str, torch.Tensor]:
        out = {"state": torch.from_numpy(record[f"{prefix}.state"]).float()}
        for cam in cameras:
            out[cam] = torch.from_numpy(record[f"{prefix}.{cam}"])
        return out

    rows = len(record["reward"])
    return {
        "obs": obs("obs"),
        "next_obs": obs("next_obs"),
        "action": torch.from_numpy(record["action"]).float(),
        "reward": torch.from_numpy(record["reward"]).float(),
        "grasp_penalty": torch.from_numpy(record["grasp_penalty"]).float(),
        "terminated": torch.from_numpy(record["terminated"]).float(),
        DEMONSTRATED: torch.from_numpy(record.get(DEMONSTRATED, np.zeros(rows, np.float32))).float(),
    }


def sample_mixed(online: ReplayBuffer, demo: ReplayBuffer, batch_size: int, demo_ratio: float) -> dict[str, np.ndarray]:
    """RLPD sampling: ``demo_ratio`` of the batch from the demo buffer, the rest from the online one.

    An empty demo buffer gives a batch from the online buffer alone, and vice versa. Each row is
    flagged ``DEMONSTRATED`` by the buffer it came from.
    """
    n_demo = int(round(batch_size * demo_ratio)) if len(demo) else 0
    if len(online) == 0:
        n_demo = batch_size
    parts = []
    if batch_size - n_demo:
        parts.append({**online.sample(batch_size - n_demo), DEMONSTRATED: np.zeros(batch_size - n_demo, np.float32)})
    if n_demo:
        parts.append({**demo.sample(n_demo), DEMONSTRATED: np.ones(n_demo, np.float32)})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
