"""HIL-SERL's success rules, shared by every success signal (simulator truth or classifier).

A raw per-frame signal becomes an episode success only after ``consecutive_frames`` frames in a row
say success, and never before ``min_steps`` steps of the episode have passed. This filters a single
noisy frame (a classifier false positive, a cube that bounces up) from ending an episode.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SuccessRule:
    min_steps: int
    consecutive_frames: int
    _streak: int = 0

    def reset(self) -> None:
        self._streak = 0

    @property
    def streak(self) -> int:
        return self._streak

    def update(self, step: int, frame_success: bool) -> bool:
        """Feed the signal of the frame after step ``step`` (1-based); True when success is declared."""
        self._streak = self._streak + 1 if frame_success else 0
        return self._streak >= self.consecutive_frames and step >= self.min_steps
