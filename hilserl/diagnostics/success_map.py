"""A success heatmap over cube positions (averaged over rotations), front/back regions marked, and
success by cube rotation beside it (averaged over positions)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hilserl.training.grid_eval import GridResult  # noqa: E402


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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
