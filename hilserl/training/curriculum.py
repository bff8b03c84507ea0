"""A reset-range curriculum: cubes near the centre of their range first, the range widening as the
policy succeeds (``train.curriculum``). It hands the env a ``reset_scale`` option per episode."""

from __future__ import annotations

from collections import deque

from hilserl.config import CurriculumConfig
from hilserl.envs.contract import RESET_SCALE

FULL_RANGE = 1.0


class ResetCurriculum:
    def __init__(self, config: CurriculumConfig):
        self.config = config
        self.fraction = config.start_fraction if config.enabled else FULL_RANGE
        self._recent: deque[bool] = deque(maxlen=config.window)

    def reset_options(self) -> dict[str, float]:
        return {RESET_SCALE: self.fraction}

    def record(self, success: bool) -> bool:
        """Note an episode's outcome; True when this widened the range. Each widening starts a new
        window, so the policy proves itself on the wider range before the next one."""
        if self.fraction >= FULL_RANGE:
            return False
        self._recent.append(bool(success))
        full = len(self._recent) == self._recent.maxlen
        if full and sum(self._recent) / len(self._recent) >= self.config.success_threshold:
            self.fraction = min(FULL_RANGE, self.fraction + self.config.step)
            self._recent.clear()
            return True
        return False

    def state_dict(self) -> dict:
        return {"fraction": self.fraction, "recent": list(self._recent)}

    def load_state_dict(self, state: dict) -> None:
        self.fraction = float(state["fraction"])
        self._recent = deque(state["recent"], maxlen=self.config.window)
