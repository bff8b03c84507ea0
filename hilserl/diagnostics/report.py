"""``hilserl report RUN_DIR``: the plots and the summary that tell how a run went.

Reads a run's ``episodes.jsonl`` and ``metrics.jsonl`` and writes, under ``RUN_DIR/report/``:
success and return as running averages (the paper's figures use 20 episodes), the share of
intervention steps with a trend line, losses and alpha, the critic's value of the first state
against the discounted return actually obtained (overestimation), the buffers' composition, an
overview with all of them, and ``summary.txt`` with the warnings. The summary also breaks recent
success down by the cube's rotation: training resets rarely turn the cube as far as the evaluation
grid does, so a policy that fails on turned cubes looks better in training than on the grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hilserl.collect.episode_video import FAILURES, failure_listing  # noqa: E402
from hilserl.training.run_log import EPISODES, METRICS, read_jsonl  # noqa: E402

RUNNING_WINDOW = 20
"""Episodes per running average (HIL-SERL's figures)."""
TREND_PER = 100
"""Intervention trends are reported per this many episodes."""
OVERESTIMATION_MARGIN = 0.2
"""Mean Q(start) above the mean discounted return by more than this (in return units) is flagged."""
SUMMARY_FILES = ("summary.json", "learner_summary.json")
"""Where a finished run's totals are: the report takes its counts from there, as ``train`` does."""
ROTATION_EPISODES = 100
"""Recent episodes broken down by the cube's rotation."""
ROTATION_BINS = 3
"""Bins of the cube's rotation away from square, 0 to 45 degrees (a cube looks the same every 90)."""
ROTATION_GAP_LIMIT = 0.15
"""Success on the most turned cubes this far below the least turned is flagged."""
MIN_EPISODES_PER_BIN = 10
"""A bin with fewer episodes is shown but not compared."""
LOSS_KEYS = ("critic_loss", "actor_loss", "temperature_loss", "alpha", "grasp_critic_loss")
BUFFER_KEYS = (("demo_steps", "demos"), ("intervention_steps", "interventions"), ("policy_steps", "policy"))


def running_mean(values: np.ndarray, window: int = RUNNING_WINDOW) -> np.ndarray:
    """Mean over the last ``window`` values at each index (fewer at the start)."""
    values = np.asarray(values, float)
    if values.size == 0:
        return values
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def rotation_from_square(yaw: np.ndarray) -> np.ndarray:
    """Degrees between the cube's edges and the gripper's axes, in [0, 45]: the cube's symmetry folds
    every yaw onto this range, and 45 is the hardest grasp (the jaws meet its corners)."""
    quarter = np.pi / 2
    return np.degrees(np.abs((np.asarray(yaw, float) + quarter / 2) % quarter - quarter / 2))


def trend(values: np.ndarray) -> tuple[float, float]:
    """Least-squares line over the episode index: (slope per episode, intercept)."""
    x = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(x, np.asarray(values, float), 1)
    return float(slope), float(intercept)


@dataclass
class RunReport:
    run_dir: Path
    episodes: list[dict]
    metrics: list[dict]
    window: int = RUNNING_WINDOW
    warnings: list[str] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    """The finished run's summary (updates, buffer composition), when it has one."""

    @classmethod
    def load(cls, run_dir: Path, window: int = RUNNING_WINDOW) -> "RunReport":
        run_dir = Path(run_dir)
        episodes = read_jsonl(run_dir / EPISODES)
        if not episodes:
            raise FileNotFoundError(f"no episodes in {run_dir / EPISODES}: is {run_dir} a run folder of `hilserl train`?")
        totals = next((json.loads((run_dir / f).read_text()) for f in SUMMARY_FILES if (run_dir / f).exists()), {})
        return cls(run_dir, episodes, read_jsonl(run_dir / METRICS), window, totals=totals)

    def column(self, key: str, source: str = "episodes") -> np.ndarray:
        rows = self.episodes if source == "episodes" else self.metrics
        return np.array([float(r[key]) for r in rows if key in r])

    # --------------------------------------------------------------------------- summary
    def summary_lines(self) -> list[str]:
        self.warnings = []
        w = self.window
        success, interv = self.column("success"), self.column("intervention_rate")
        last = self.episodes[-1]
        updates = self.totals.get("updates", self.metrics[-1]["update"] if self.metrics else None)
        lines = [f"run: {self.run_dir}",
                 f"episodes: {len(self.episodes)}, env steps: {last['env_steps']}"
                 + (f", learner updates: {updates}" if updates is not None else "")]
        if len(success) >= 2 * w:  # first and last ``w`` are different episodes
            lines.append(f"success, first {w} episodes: {success[:w].mean():.0%}; last {w}: {success[-w:].mean():.0%}")
            lines.append(f"intervention share, first {w} episodes: {interv[:w].mean():.0%}; last {w}: "
                         f"{interv[-w:].mean():.0%}")
            slope, _ = trend(interv)
            lines.append(f"intervention trend: {slope * TREND_PER:+.1%} per {TREND_PER} episodes")
            if slope >= 0 and interv.mean() > 0:
                self.warnings.append(
                    "interventions are not falling: the policy is not taking over from the human (check the "
                    "reward, the demos, and that intervention steps reach both buffers)")
        else:
            lines.append(f"success over all {len(success)} episodes: {success.mean():.0%}; intervention share "
                         f"{interv.mean():.0%} (no first/last comparison or trend under {2 * w} episodes)")
        if len(success) >= w and not success.any():
            self.warnings.append(f"no episode succeeded in {len(success)}: the policy has learned nothing yet (check "
                                 "the reward, the demos and the human's help: `hilserl check-env`, the demos' success)")
        lines.append(f"return, last {w} episodes: {self.column('episode_return')[-w:].mean():.3f}")
        q, ret = self.column("q_start"), self.column("discounted_return")
        if len(q) and len(ret):
            gap = float(q[-w:].mean() - ret[-w:].mean())
            lines.append(f"value, last {w} episodes: Q(start) {q[-w:].mean():.3f} against discounted return "
                         f"{ret[-w:].mean():.3f} (gap {gap:+.3f})")
            if gap > OVERESTIMATION_MARGIN:
                self.warnings.append(
                    f"the critic overestimates: Q(start) exceeds the return obtained by {gap:.2f} (long "
                    "takeovers and high critic-to-actor ratios feed this; see the paper's note on interventions)")
        lines += self.rotation_lines()
        if self.metrics:
            m = self.metrics[-1]
            lines.append("last losses: " + ", ".join(f"{k} {m[k]:.4g}" for k in LOSS_KEYS if k in m))
        composition = self.totals.get("buffer_composition") or (self.metrics[-1] if self.metrics else {})
        if composition:
            lines.append("buffers (steps added): " + ", ".join(f"{label} {int(composition[k])}"
                                                              for k, label in BUFFER_KEYS if k in composition))
        lines += self.failure_lines()
        lines += [f"WARNING: {w_}" for w_ in self.warnings] or ["no warnings"]
        return lines

    def failure_lines(self) -> list[str]:
        """The last evaluation's failure videos (``hilserl eval``, the closing evaluation), by episode."""
        return failure_listing(self.run_dir / FAILURES, "failure videos of the last evaluation")

    def rotation_lines(self) -> list[str]:
        """Recent success by the cube's rotation from square; warns when turned cubes fail more."""
        recent = [e for e in self.episodes[-ROTATION_EPISODES:] if e.get("cube_yaw") is not None]
        if not recent:
            return ["success by rotation: skipped, the env reports no object rotation (info['cube_start_yaw'])"] \
                if self.episodes else []
        degrees = rotation_from_square(np.array([e["cube_yaw"] for e in recent]))
        success = np.array([float(e["success"]) for e in recent])
        edges = np.linspace(0.0, 45.0, ROTATION_BINS + 1)
        index = np.clip(np.digitize(degrees, edges[1:-1]), 0, ROTATION_BINS - 1)
        bins = [(f"{edges[b]:.0f}-{edges[b + 1]:.0f} deg", success[index == b]) for b in range(ROTATION_BINS)]
        parts = [f"{label}: {s.mean():.0%} (n={len(s)})" if len(s) else f"{label}: none" for label, s in bins]
        lines = [f"success by cube rotation from square, last {len(recent)} episodes: " + ", ".join(parts)]
        (_, square), (turned_label, turned) = bins[0], bins[-1]
        if min(len(square), len(turned)) >= MIN_EPISODES_PER_BIN:
            gap = square.mean() - turned.mean()
            if gap > ROTATION_GAP_LIMIT:
                self.warnings.append(
                    f"cubes turned {turned_label} succeed {gap:.0%} less often than square ones: the "
                    "evaluation grid (hilserl eval) puts two thirds of its cells at the ends of the yaw "
                    "range and will read below training success")
        return lines

    # ----------------------------------------------------------------------------- panels
    def plot_success(self, ax: plt.Axes) -> None:
        ep = np.arange(len(self.episodes))
        ax.plot(ep, running_mean(self.column("success"), self.window), color="tab:green", label="success")
        ax.plot(ep, running_mean(self.column("episode_return"), self.window), color="tab:blue",
                linestyle="--", label="return")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("episode")
        ax.set_title(f"success and return (running mean of {self.window})")
        ax.legend(loc="upper left", fontsize=8)

    def plot_interventions(self, ax: plt.Axes) -> None:
        rate = self.column("intervention_rate")
        ep = np.arange(len(rate))
        ax.scatter(ep, rate, s=6, color="tab:orange", alpha=0.4, label="per episode")
        ax.plot(ep, running_mean(rate, self.window), color="tab:orange", label=f"running mean of {self.window}")
        if len(rate) >= 2 * self.window:  # as in the summary: no trend from too few episodes
            slope, intercept = trend(rate)
            ax.plot(ep, intercept + slope * ep, color="k", linestyle=":",
                    label=f"trend {slope * TREND_PER:+.1%} / {TREND_PER} ep")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("episode")
        ax.set_title("share of intervention steps")
        ax.legend(loc="upper right", fontsize=8)

    def _no_metrics(self, ax: plt.Axes) -> bool:
        if not self.metrics:
            ax.text(0.5, 0.5, "no learner updates logged", ha="center", transform=ax.transAxes)
        return not self.metrics

    def plot_losses(self, ax: plt.Axes) -> None:
        if self._no_metrics(ax):
            return
        updates = self.column("update", "metrics")
        for key in ("critic_loss", "actor_loss", "temperature_loss"):
            ax.plot(updates, self.column(key, "metrics"), label=key.replace("_loss", ""))
        ax.set_xlabel("learner update")
        ax.set_title("losses and alpha")
        ax.legend(loc="upper left", fontsize=8)
        alpha_ax = ax.twinx()
        alpha_ax.plot(updates, self.column("alpha", "metrics"), color="tab:purple", linestyle="--", label="alpha")
        alpha_ax.set_ylabel("alpha", color="tab:purple")

    def plot_value(self, ax: plt.Axes) -> None:
        ep = np.arange(len(self.episodes))
        ax.plot(ep, running_mean(self.column("q_start"), self.window), color="tab:red", label="Q(start), predicted")
        ax.plot(ep, running_mean(self.column("discounted_return"), self.window), color="tab:blue",
                label="discounted return, obtained")
        ax.set_xlabel("episode")
        ax.set_title("value overestimation (running means)")
        ax.legend(loc="upper left", fontsize=8)

    def plot_buffers(self, ax: plt.Axes) -> None:
        if self._no_metrics(ax):
            return
        steps = self.column("env_steps", "metrics")
        layers = [self.column(k, "metrics") for k, _ in BUFFER_KEYS]
        ax.stackplot(steps, *layers, labels=[label for _, label in BUFFER_KEYS],
                     colors=["tab:gray", "tab:orange", "tab:green"], alpha=0.8)
        ax.set_xlabel("env step")
        ax.set_ylabel("transitions added")
        ax.set_title("buffer composition")
        ax.legend(loc="upper left", fontsize=8)

    def panels(self) -> dict[str, Callable[[plt.Axes], None]]:
        return {"success": self.plot_success, "interventions": self.plot_interventions,
                "losses": self.plot_losses, "value": self.plot_value, "buffers": self.plot_buffers}

    # ------------------------------------------------------------------------------ write
    def write(self, out_dir: Path | None = None) -> list[Path]:
        out_dir = Path(out_dir or self.run_dir / "report")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, draw in self.panels().items():
            fig, ax = plt.subplots(figsize=(6, 3.6))
            draw(ax)
            fig.tight_layout()
            written.append(_save(fig, out_dir / f"{name}.png"))
        lines = self.summary_lines()
        fig, axes = plt.subplots(2, 3, figsize=(17, 8.5))
        for ax, draw in zip(axes.flat, self.panels().values()):
            draw(ax)
        text_ax = axes.flat[-1]
        text_ax.axis("off")
        text_ax.text(0.0, 1.0, "\n".join(_wrap(line) for line in lines[1:]), va="top", family="monospace", fontsize=9)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "overview.png"))
        summary = out_dir / "summary.txt"
        summary.write_text("\n".join(lines) + "\n")
        written.append(summary)
        return written


def _wrap(line: str, width: int = 52) -> str:
    words, rows, row = line.split(), [], ""
    for word in words:
        if row and len(row) + 1 + len(word) > width:
            rows.append(row)
            row = "  " + word
        else:
            row = f"{row} {word}" if row else word
    rows.append(row)
    return "\n".join(rows)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
