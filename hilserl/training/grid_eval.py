"""Evaluation over a fixed grid of cube positions and rotations covering the whole reset range.

Random resets can hide a policy that only grasps "easy" cubes (a local optimum): a grid
gives every region the same weight and the same cubes every time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from hilserl.collect.rollout import EpisodeResult, run_episode
from hilserl.collect.watch import Watch
from hilserl.config import EnvConfig
from hilserl.envs.factory import make_env, require_sim

Policy = Callable[[dict], np.ndarray]


@dataclass(frozen=True)
class Grid:
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    yaws: tuple[float, ...]

    @classmethod
    def covering(cls, env: EnvConfig, nx: int = 3, ny: int = 3, nyaw: int = 3) -> "Grid":
        lo, hi = env.cube_region.low, env.cube_region.high
        yaw = env.cube_yaw_range
        return cls(tuple(np.linspace(lo[0], hi[0], nx)), tuple(np.linspace(lo[1], hi[1], ny)),
                   tuple(np.linspace(-yaw, yaw, nyaw)))

    def cells(self) -> list[tuple[float, float, float]]:
        return list(itertools.product(self.xs, self.ys, self.yaws))


@dataclass
class GridResult:
    grid: Grid
    seeds: int
    success: dict[tuple[float, float, float], float] = field(default_factory=dict)
    """Success rate per (x, y, yaw) cell, over ``seeds`` repeats (the EE offset varies by seed)."""
    first_seed: int = 0
    """The episode seed of each cell's first repeat (the next repeats follow it)."""
    episodes: dict[tuple[float, float, float], list[EpisodeResult]] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(np.mean(list(self.success.values())))

    def failures(self) -> list[dict[str, Any]]:
        """Each failed episode: its cell (x, y, yaw), its seed and, where the env reports ``grasped`` and
        ``lifted``, why it failed (``failure``: :meth:`~hilserl.collect.rollout.EpisodeResult.failure`)."""
        out = []
        for cell, runs in self.episodes.items():
            for i, run in enumerate(runs):
                if not run.success:
                    mode = run.failure()
                    out.append({"cell": [float(v) for v in cell], "seed": self.first_seed + i,
                                **({"failure": mode} if mode is not None else {})})
        return out

    def by_region(self) -> dict[str, float]:
        """Success per region, as the env labels each cell's start (``info["region"]``)."""
        out: dict[str, list[float]] = {}
        for cell, rate in self.success.items():
            out.setdefault(self.episodes[cell][0].region or "all", []).append(rate)
        return {k: float(np.mean(v)) for k, v in sorted(out.items())}


def hardest_resets(env: EnvConfig, count: int, seed: int) -> list[dict[str, Any]]:
    """Reset options at the edge of the reset range, where a policy fails first: the cube on its
    region's border (uniform along it), the gripper's start offset at a corner of its box, the cube's
    rotation drawn over its range. Seeded: the same ``count`` resets for every policy graded."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array(env.cube_region.low[:2]), np.array(env.cube_region.high[:2])
    # The border's four sides, walked from lo: each point is a start corner plus a distance along a side.
    sides = [(lo, np.array([1.0, 0.0]), hi[0] - lo[0]), (np.array([hi[0], lo[1]]), np.array([0.0, 1.0]), hi[1] - lo[1]),
             (hi, np.array([-1.0, 0.0]), hi[0] - lo[0]), (np.array([lo[0], hi[1]]), np.array([0.0, -1.0]), hi[1] - lo[1])]
    ends = np.cumsum([length for _, _, length in sides])  # each side's end, as a distance along the border
    offset = np.array(env.ee_reset_offset)
    resets = []
    for _ in range(count):
        along = rng.uniform(0.0, ends[-1])
        side = min(int(np.searchsorted(ends, along, side="right")), len(sides) - 1)
        start, direction, length = sides[side]
        xy = start + direction * (along - (ends[side] - length))
        resets.append({"cube_xy": tuple(float(v) for v in xy),
                       "cube_yaw": float(rng.uniform(-env.cube_yaw_range, env.cube_yaw_range)),
                       "ee_offset": tuple(float(v) for v in rng.choice([-1.0, 1.0], 3) * offset)})
    return resets


def cell_label(cell: tuple[float, float, float], seed: int) -> str:
    """A grid episode's name in failure videos and reports: the success map's cell and the seed."""
    return f"x={cell[0]:.3f} y={cell[1]:+.3f} yaw={np.degrees(cell[2]):+.0f}deg seed {seed}"


def evaluate_grid(policy: Policy, env_cfg: EnvConfig, grid: Grid, seeds: int = 1, progress: bool = True,
                  env: Any = None, first_seed: int = 0, watch: Watch | None = None) -> GridResult:
    """The simulated grasp task, or the real arm with guided placement: the grid places its cube. Each cell runs the episode seeds
    ``first_seed`` to ``first_seed + seeds - 1`` (the EE offset varies by seed). ``watch``: each
    episode shown live and, when it fails, filmed."""
    require_sim(env_cfg, "the grid evaluation", placement=True)
    own = env is None
    env = env or make_env(env_cfg)
    result = GridResult(grid, seeds, first_seed=first_seed)
    cells = grid.cells()
    bar = tqdm(total=len(cells) * seeds, desc="grid evaluation", unit="ep", disable=not progress)
    for cell in cells:
        runs = []
        for seed in range(seeds):
            options = {"cube_xy": cell[:2], "cube_yaw": cell[2]}
            if watch is not None:
                runs.append(watch.run_episode(env, policy, cell_label(cell, first_seed + seed), seed=first_seed + seed,
                                              options=options))
            else:
                runs.append(run_episode(env, policy, seed=first_seed + seed, options=options))
            bar.update(1)
        result.episodes[cell] = runs
        result.success[cell] = float(np.mean([r.success for r in runs]))
    bar.close()
    if own:
        env.close()
    return result
