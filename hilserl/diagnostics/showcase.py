"""Run the scripted expert and show what the cameras see: a table by region, a strip and a video."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from tqdm import tqdm

from hilserl.collect.rollout import EpisodeResult, run_episode
from hilserl.config import Config
from hilserl.envs.factory import make_env
from hilserl.teleop.scripted import expert_policy

STRIP_FRAMES = 8
"""Frames in the image strip, evenly spaced over the first episode."""


@dataclass
class ExpertSummary:
    results: list[EpisodeResult]
    files: list[Path] = field(default_factory=list)

    def success_by_region(self) -> dict[str, tuple[int, int]]:
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in self.results:
            table[r.region or "-"][0] += int(r.success)
            table[r.region or "-"][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}

    def table(self) -> str:
        lines = [f"{'region':<8} {'success':>8} {'episodes':>9}"]
        for region, (ok, n) in self.success_by_region().items():
            lines.append(f"{region:<8} {ok / n:>8.0%} {n:>9}")
        ok = sum(r.success for r in self.results)
        lines.append(f"{'all':<8} {ok / len(self.results):>8.0%} {len(self.results):>9}")
        mean_len = np.mean([r.length for r in self.results])
        lines.append(f"mean episode length {mean_len:.1f} steps")
        return "\n".join(lines)


def image_strip(frames: list[np.ndarray], count: int = STRIP_FRAMES) -> np.ndarray:
    """``count`` frames evenly spaced over the episode, stacked top to bottom."""
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return np.concatenate([frames[i] for i in picks], axis=0)


def run_expert_showcase(cfg: Config, episodes: int, out_dir: Path | None, seed: int = 0) -> ExpertSummary:
    env = make_env(cfg.env, render_mode=None if cfg.env.state_only else "rgb_array")
    policy = expert_policy(env)
    results = []
    for ep in tqdm(range(episodes), desc="expert episodes", unit="ep", disable=episodes < 5):
        record = out_dir is not None and ep == 0 and not cfg.env.state_only
        results.append(run_episode(env, policy, seed=seed + ep, record_frames=record))
    env.close()
    summary = ExpertSummary(results)
    if out_dir is not None and results[0].frames:
        out_dir.mkdir(parents=True, exist_ok=True)
        strip = out_dir / "expert_strip.png"
        imageio.imwrite(strip, image_strip(results[0].frames))
        video = out_dir / "expert_episode.gif"
        imageio.mimsave(video, results[0].frames, duration=1000 / cfg.env.control_hz, loop=0)
        summary.files += [strip, video]
    return summary
