"""What an evaluation or a demo recording shows of its episodes: the live view, the failure videos, or
both, fed from one pass over each episode."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hilserl.collect.episode_video import FailureVideos
from hilserl.collect.live_view import LiveView
from hilserl.collect.rollout import EpisodeResult, Policy, Step, run_episode


class Watch:
    """``demonstrating``: every step is a demonstrator's (the scripted expert's), shown as such."""

    def __init__(self, view: LiveView | None = None, videos: FailureVideos | None = None,
                 demonstrating: bool = False):
        self.view, self.videos, self.demonstrating = view, videos, demonstrating
        self.episode = 0
        self.env_steps = 0
        self._value: float | None = None

    def policy(self, agent: Any, stream: Any = None) -> Policy:
        """The agent's trained policy (``SACAgent.act_trained`` with ``stream``), keeping the critic's value
        of each state it acts on for the view and videos."""
        def act(obs: dict[str, np.ndarray]) -> np.ndarray:
            action, self._value = agent.act_trained(obs, stream)
            return action
        return act

    def run_episode(self, env: Any, policy: Callable, label: str, **kwargs: Any) -> EpisodeResult:
        """``rollout.run_episode``, each step shown and kept; ``label`` names the episode in the videos."""
        if self.videos is not None:
            self.videos.begin(label)

        def on_step(step: Step) -> None:
            self.env_steps += 1
            if self.demonstrating:
                step = dataclasses.replace(step, intervened=True)
            if self.view is not None:
                self.view.step(self.episode, self.env_steps, step, self._value)
            if self.videos is not None:
                self.videos.step(step, self._value)

        result = run_episode(env, policy, on_step=on_step, **kwargs)
        if self.view is not None:
            self.view.episode_end(self.episode, self.env_steps, result.length, result.success,
                                  result.intervention_steps)
        if self.videos is not None:
            self.videos.end(result)
        self.episode += 1
        self._value = None
        return result

    def close(self) -> list[Path]:
        """Close the view; the failures' index and contact sheet (the files written)."""
        if self.view is not None:
            self.view.close()
        return self.videos.finish() if self.videos is not None else []
