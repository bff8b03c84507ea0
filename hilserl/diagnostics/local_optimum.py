"""Flags for a local optimum: a policy that grasps only the "easy" cubes, or that runs the
same motion wherever the cube is.

Two numbers from a grid evaluation:

- **region gap**: best region's success minus worst region's (front/back). A large gap means the
  policy learned a region, not the task.
- **cube tracking gain**: where the gripper goes down, regressed on where the cube is. For each
  episode we take the end-effector's (x, y) when it is lowest (the grasp attempt) and fit, per axis,
  ``ee = gain * cube + c`` over the grid's cube positions. 1.0: the gripper follows the cube exactly;
  0.0: the same grasp motion regardless of cube position (one motion whatever the cube's position).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hilserl.training.grid_eval import GridResult

REGION_GAP_LIMIT = 0.3
"""Success difference between regions above which the policy is flagged as region-bound."""
TRACKING_GAIN_LIMIT = 0.5
"""Tracking gain under which the policy is flagged as ignoring the cube's position."""
LOW_POINT_TOLERANCE = 0.005
"""Metres above the episode's lowest EE height that still count as the grasp attempt (the first
such step is taken, so a policy that stays low after grasping is measured where it went down)."""


@dataclass
class LocalOptimumReport:
    by_region: dict[str, float]
    region_gap: float
    tracking_gain: float
    tracking_gain_xy: tuple[float, float]
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def lines(self) -> list[str]:
        regions = ", ".join(f"{k} {v:.0%}" for k, v in self.by_region.items())
        out = [
            f"region gap: {self.region_gap:.0%} ({regions}); flagged above {REGION_GAP_LIMIT:.0%}",
            f"cube tracking gain: {self.tracking_gain:.2f} (x {self.tracking_gain_xy[0]:.2f}, "
            f"y {self.tracking_gain_xy[1]:.2f}; 1 = the gripper goes where the cube is, "
            f"0 = same motion wherever it is); flagged under {TRACKING_GAIN_LIMIT}",
        ]
        out += [f"LOCAL OPTIMUM: {f}" for f in self.flags] or ["no local-optimum flag"]
        return out

    def to_dict(self) -> dict:
        return {"by_region": self.by_region, "region_gap": self.region_gap, "tracking_gain": self.tracking_gain,
                "tracking_gain_xy": list(self.tracking_gain_xy), "flags": self.flags}


def grasp_point(ee_path: list[np.ndarray]) -> np.ndarray:
    """(x, y) of the end effector at the first step within tolerance of its lowest height."""
    path = np.asarray(ee_path)
    low = path[:, 2].min()
    first = int(np.argmax(path[:, 2] <= low + LOW_POINT_TOLERANCE))
    return path[first, :2]


def tracking_gain(cube_xy: np.ndarray, ee_xy: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of the grasp point on the cube position, per axis (0 where the cube does
    not vary along that axis)."""
    gains = []
    for axis in range(2):
        c = cube_xy[:, axis] - cube_xy[:, axis].mean()
        e = ee_xy[:, axis] - ee_xy[:, axis].mean()
        denom = float(c @ c)
        gains.append(float(c @ e / denom) if denom > 0 else 0.0)
    return gains[0], gains[1]


def analyse(result: GridResult, split_x: float) -> LocalOptimumReport:
    regions = result.by_region()
    gap = max(regions.values()) - min(regions.values()) if len(regions) > 1 else 0.0
    cubes, points = [], []
    for runs in result.episodes.values():
        for run in runs:
            cubes.append(run.cube_start[:2])
            points.append(grasp_point(run.ee_path))
    gx, gy = tracking_gain(np.asarray(cubes), np.asarray(points))
    gain = float(np.mean([gx, gy]))
    flags = []
    if gap > REGION_GAP_LIMIT:
        best = max(regions, key=regions.get)
        flags.append(f"success depends on region: {best} {regions[best]:.0%} against "
                     f"{min(regions.values()):.0%} elsewhere (try a reset-range curriculum or more "
                     f"interventions where it fails)")
    if gain < TRACKING_GAIN_LIMIT:
        flags.append(f"the grasp motion barely follows the cube (gain {gain:.2f}): check what the encoder "
                     f"sees with `hilserl diagnose encoder`")
    return LocalOptimumReport(regions, float(gap), gain, (gx, gy), flags)
