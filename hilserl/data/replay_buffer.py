"""Replay buffers: fixed-capacity FIFO storage of transitions, grown lazily.

A transition is stored as a flat record of named arrays: ``obs.state``, ``next_obs.state``,
``action``, ``reward``, ``grasp_penalty``, ``terminated``, ``intervened`` and, per camera, ``obs.<cam>`` and
``next_obs.<cam>``. Camera entries are uint8 images (exact per-batch augmentation) or, with the
feature cache, ``cache_crops`` backbone feature maps of random crops in float16; a batch then draws
one crop per sample, independently for obs and next obs.

Storage grows by doubling up to ``capacity`` so that a short run does not reserve memory for 200,000
transitions of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

INITIAL_ROWS = 1024


@dataclass(frozen=True)
class FieldSpec:
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


class ReplayBuffer:
    def __init__(self, capacity: int, specs: dict[str, FieldSpec], crop_fields: tuple[str, ...] = (), seed: int = 0):
        """``crop_fields``: fields whose first axis holds alternative crops, one drawn per sample."""
        self.capacity = capacity
        self.specs = specs
        self.crop_fields = crop_fields
        self._data: dict[str, np.ndarray] = {}
        self._rows = 0
        self._size = 0
        self._next = 0
        self.added = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    @property
    def bytes_per_transition(self) -> int:
        return sum(spec.nbytes for spec in self.specs.values())

    def _grow(self, rows: int) -> None:
        rows = min(self.capacity, rows)
        for name, spec in self.specs.items():
            new = np.empty((rows, *spec.shape), dtype=spec.dtype)
            if name in self._data:
                new[: self._rows] = self._data[name][: self._rows]
            self._data[name] = new
        self._rows = rows

    def add(self, record: dict[str, np.ndarray]) -> None:
        missing = set(self.specs) - set(record)
        if missing:
            raise KeyError(f"transition lacks {sorted(missing)}; the buffer stores {sorted(self.specs)}")
        if self._next >= self._rows:
            self._grow(max(INITIAL_ROWS, 2 * self._rows))
        i = self._next
        for name, spec in self.specs.items():
            value = np.asarray(record[name])
            if value.shape != spec.shape:
                raise ValueError(f"field {name!r}: got shape {value.shape}, the buffer stores {spec.shape}")
            self._data[name][i] = value
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        self.added += 1

    def sample_indices(self, n: int) -> np.ndarray:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        return self.rng.integers(0, self._size, n)

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for name in self.specs:
            if name in self.crop_fields:  # one of the stored crops per row, gathered alone
                crops = self.rng.integers(0, self._data[name].shape[1], len(indices))
                out[name] = self._data[name][indices, crops]
            else:
                out[name] = self._data[name][indices]
        return out

    def sample(self, n: int) -> dict[str, np.ndarray]:
        return self.gather(self.sample_indices(n))

    def _segments(self) -> list[slice]:
        """The stored rows in insertion order (oldest first), as at most two slices of storage."""
        if self._size < self.capacity:
            return [slice(0, self._size)]
        return [slice(self._next, self.capacity), slice(0, self._next)]

    def save_rows(self, folder: Path, prefix: str, leave_newest: int = 0) -> None:
        """Each field to ``<prefix>.<field>.npy``, oldest row first, streamed from storage (a
        checkpoint of a large buffer must not copy it in memory), without the ``leave_newest`` rows
        added last (an episode not finished at the checkpoint)."""
        rows = max(0, self._size - leave_newest)
        for name, spec in self.specs.items():
            out = np.lib.format.open_memmap(folder / f"{prefix}.{name}.npy", mode="w+", dtype=spec.dtype,
                                            shape=(rows, *spec.shape))
            row = 0
            for seg in self._segments() if self._size else []:
                n = min(seg.stop - seg.start, rows - row)
                out[row:row + n] = self._data[name][seg.start:seg.start + n]
                row += n
            out.flush()
            del out

    def load_rows(self, folder: Path, prefix: str) -> None:
        """Restore what ``save_rows`` wrote (into a buffer of the same fields; the newest rows are
        kept if this buffer's capacity is smaller)."""
        arrays = {name: np.load(folder / f"{prefix}.{name}.npy", mmap_mode="r") for name in self.specs}
        count = len(next(iter(arrays.values())))
        keep = min(count, self.capacity)
        self._data, self._rows, self._size, self._next = {}, 0, 0, 0
        if keep:
            self._grow(max(INITIAL_ROWS, keep))
            for name, arr in arrays.items():
                if arr.shape[1:] != self.specs[name].shape:
                    raise ValueError(f"checkpoint field {name!r} has rows of {arr.shape[1:]}, the buffer stores "
                                     f"{self.specs[name].shape}")
                self._data[name][:keep] = arr[count - keep:]
        self._size, self._next = keep, keep % self.capacity


def to_batch(record: dict[str, np.ndarray], cameras: list[str]) -> dict:
    """A sampled record as the agent's batch of tensors."""
    def obs(prefix: str) -> dict[str, torch.Tensor]:
        out = {"state": torch.from_numpy(record[f"{prefix}.state"]).float()}
        for cam in cameras:
            out[cam] = torch.from_numpy(record[f"{prefix}.{cam}"])
        return out

    return {
        "obs": obs("obs"),
        "next_obs": obs("next_obs"),
        "action": torch.from_numpy(record["action"]).float(),
        "reward": torch.from_numpy(record["reward"]).float(),
        "grasp_penalty": torch.from_numpy(record["grasp_penalty"]).float(),
        "terminated": torch.from_numpy(record["terminated"]).float(),
    }


def sample_mixed(online: ReplayBuffer, demo: ReplayBuffer, batch_size: int, demo_ratio: float) -> dict[str, np.ndarray]:
    """RLPD sampling: ``demo_ratio`` of the batch from the demo buffer, the rest from the online one.

    An empty demo buffer gives a batch from the online buffer alone, and vice versa.
    """
    n_demo = int(round(batch_size * demo_ratio)) if len(demo) else 0
    if len(online) == 0:
        n_demo = batch_size
    parts = []
    if batch_size - n_demo:
        parts.append(online.sample(batch_size - n_demo))
    if n_demo:
        parts.append(demo.sample(n_demo))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
