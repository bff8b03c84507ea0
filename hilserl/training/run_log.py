"""A run's logs: JSON lines (read back by ``hilserl report``) and TensorBoard, side by side.

``episodes.jsonl``: one line per episode (return, length, success, intervention rate, region...).
``metrics.jsonl``: one line every ``log_every`` learner updates (losses, alpha, buffer sizes).
Both append, so a resumed run continues its files.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

EPISODES = "episodes.jsonl"
METRICS = "metrics.jsonl"


class RunLog:
    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._episodes = open(self.run_dir / EPISODES, "a")
        self._metrics = open(self.run_dir / METRICS, "a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def episode(self, record: dict[str, Any]) -> None:
        self._episodes.write(json.dumps(record) + "\n")
        self._episodes.flush()
        if self._tb is not None:
            step = record["env_steps"]
            for key in ("episode_return", "success", "intervention_rate", "length", "q_start", "reset_scale"):
                self._tb.add_scalar(f"episode/{key}", float(record[key]), step)

    def metrics(self, update: int, env_steps: int, values: dict[str, float]) -> None:
        self._metrics.write(json.dumps({"update": update, "env_steps": env_steps, **values}) + "\n")
        self._metrics.flush()
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(f"learner/{key}", float(value), update)

    def close(self) -> None:
        self._episodes.close()
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()


class LogDamaged(ValueError):
    """A line of a run's JSON-lines log is not JSON (and is not the torn last line of a crash)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines log. A torn last line (the process died mid-write) is left out
    with a warning naming the file; a bad line elsewhere is an error naming the file and the line."""
    path = Path(path)
    if not path.exists():
        return []
    lines = [(i, line) for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    records = []
    for k, (number, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if k == len(lines) - 1:
                warnings.warn(f"{path}: line {number} is cut off (a crash mid-write?); left out", stacklevel=2)
                break
            raise LogDamaged(f"{path}: line {number} is not JSON: {line[:80]!r}") from None
    return records


def truncate_logs(run_dir: Path, episodes: int, update: int) -> tuple[int, int]:
    """Cut the logs back to a checkpoint: its first ``episodes`` episodes and the metrics up to its
    ``update``. After a crash, what was logged past the checkpoint happens again on resume, and
    would otherwise be logged twice. Returns the lines removed from each file."""
    removed = []
    for name, keep in ((EPISODES, lambda i, r: i < episodes), (METRICS, lambda i, r: r.get("update", 0) <= update)):
        path = Path(run_dir) / name
        rows = read_jsonl(path)
        kept = [r for i, r in enumerate(rows) if keep(i, r)]
        torn = path.exists() and sum(1 for line in path.read_text().splitlines() if line.strip()) > len(rows)
        if len(kept) != len(rows) or torn:  # a torn last line goes too: the next record must start a line
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        removed.append(len(rows) - len(kept))
    return removed[0], removed[1]
