"""A success heatmap over cube positions (averaged over rotations), front/back regions marked, and
success by cube rotation beside it (averaged over positions)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hilserl.training.grid_eval import GridResult  # noqa: E402

DPI = 120


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def success_table(result: GridResult) -> np.ndarray:
    """Success rate per (x, y) cell, averaged over yaws: array (len(xs), len(ys))."""
    grid = result.grid
    table = np.zeros((len(grid.xs), len(grid.ys)))
    for i, x in enumerate(grid.xs):
        for j, y in enumerate(grid.ys):
            table[i, j] = np.mean([result.success[(x, y, yaw)] for yaw in grid.yaws])
    return table


def success_by_yaw(result: GridResult) -> np.ndarray:
    """Success rate per cube rotation, averaged over positions: array (len(yaws),)."""
    grid = result.grid
    return np.array([np.mean([result.success[(x, y, yaw)] for x in grid.xs for y in grid.ys]) for yaw in grid.yaws])


def plot_success_map(result: GridResult, split_x: float, path: Path, title: str = "") -> Path:
    grid = result.grid
    table = success_table(result)
    fig, (ax, ax_yaw) = plt.subplots(1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [3, 2]})

    def edges(values: tuple[float, ...]) -> tuple[float, float]:
        half = (max(values) - min(values)) / (2 * max(len(values) - 1, 1)) or 0.005
        return (min(values) - half) * 100, (max(values) + half) * 100

    image = ax.imshow(table, origin="lower", cmap="RdYlGn", vmin=0, vmax=1, aspect="auto",
                      extent=(*edges(grid.ys), *edges(grid.xs)))
    for i, x in enumerate(grid.xs):
        for j, y in enumerate(grid.ys):
            ax.text(y * 100, x * 100, f"{table[i, j]:.0%}", ha="center", va="center", fontsize=9)
    ax.axhline(split_x * 100, color="k", linestyle="--", linewidth=1)
    left = edges(grid.ys)[0]
    ax.text(left, split_x * 100, " front\n", va="bottom", fontsize=8)
    ax.text(left, split_x * 100, " back", va="top", fontsize=8)
    ax.set_xlabel("cube y (cm)")
    ax.set_ylabel("cube x (cm), away from the base")
    ax.set_title(title or f"success over {len(grid.yaws)} rotations x {result.seeds} seeds")
    fig.colorbar(image, ax=ax, label="success")
    yaw_deg = np.degrees(grid.yaws)
    width = (np.ptp(yaw_deg) / max(len(yaw_deg) - 1, 1) or 10.0) * 0.8
    ax_yaw.bar(yaw_deg, success_by_yaw(result), width=width, color="tab:blue")
    ax_yaw.set_ylim(0, 1)
    ax_yaw.set_xlabel("cube rotation (deg)")
    ax_yaw.set_ylabel("success, over positions")
    ax_yaw.set_title("by rotation")
    return _save(fig, path)


YAW_BINS = 6
"""Rotation bins of the seeded resets' map: enough to see a bad range of rotations in 100 episodes."""


def plot_reset_outcomes(per_episode: list[dict], path: Path, split_x: float | None = None, title: str = "") -> Path:
    """Each seeded reset's object start, a dot where the policy succeeded and a cross where it failed
    (``EvalResult.per_episode`` with ``cube_start``), and success by start rotation beside it where the
    env reports one: where the failures of a random-reset evaluation cluster."""
    placed = [e for e in per_episode if "cube_start" in e]
    if not placed:
        raise ValueError("no episode reports its object's start (info['cube_start']): nothing to place")
    yaws = np.array([e["cube_start_yaw"] for e in placed if "cube_start_yaw" in e])
    with_yaw = len(yaws) == len(placed)
    fig, axes = plt.subplots(1, 2 if with_yaw else 1, figsize=(8 if with_yaw else 5, 4), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2] if with_yaw else [1]})
    ax = axes[0, 0]
    xy = np.array([e["cube_start"][:2] for e in placed]) * 100
    ok = np.array([bool(e["success"]) for e in placed])
    ax.scatter(xy[ok, 1], xy[ok, 0], s=18, color="tab:green", label=f"success ({ok.sum()})")
    ax.scatter(xy[~ok, 1], xy[~ok, 0], s=40, marker="x", color="tab:red", label=f"failure ({(~ok).sum()})")
    if split_x is not None:
        ax.axhline(split_x * 100, color="k", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], split_x * 100, " front\n back", va="center", fontsize=8)
    ax.set_xlabel("object start y (cm)")
    ax.set_ylabel("object start x (cm), away from the base")
    ax.set_title(title or f"{ok.mean():.0%} of {len(placed)} seeded resets")
    ax.legend(fontsize=8, loc="best")
    if with_yaw:
        degrees = np.degrees(yaws)
        edges = np.linspace(degrees.min(), degrees.max() + 1e-9, YAW_BINS + 1)
        which = np.clip(np.digitize(degrees, edges) - 1, 0, YAW_BINS - 1)
        counts = np.bincount(which, minlength=YAW_BINS)
        rates = np.array([ok[which == b].mean() if counts[b] else np.nan for b in range(YAW_BINS)])
        centres = (edges[:-1] + edges[1:]) / 2
        ax_yaw = axes[0, 1]
        ax_yaw.bar(centres, np.nan_to_num(rates), width=np.diff(edges) * 0.8, color="tab:blue")
        for c, r, n in zip(centres, rates, counts):
            if n:
                ax_yaw.text(c, r + 0.02, f"{n}", ha="center", fontsize=7)
        ax_yaw.set_ylim(0, 1.1)
        ax_yaw.set_xlabel("start rotation (deg)")
        ax_yaw.set_ylabel("success (episodes above each bar)")
        ax_yaw.set_title("by rotation")
    return _save(fig, path)
