"""The actor's step time with the live view (rerun, recording to a file) against without, side by side
in one run, on the simulated grasp with both cameras and the simulated human.

A step here is all the control loop does between two actions: the policy (with the critic's value
when the view is on), the env's step with both cameras rendering, the human, the transition and the
view's enqueue. The view logs from its own thread; in real time it drops steps rather than wait, so
the figure that matters is the loop's step time against the 100 ms period at 10 Hz, and the steps
dropped.
    python -m benchmarks.live_view_speed [--episodes 6]
Writes benchmarks/results/live_view_speed.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.collect.live_view import ViewTarget
from hilserl.config import load_config
from hilserl.envs.factory import task_layout
from hilserl.training.actor import Actor
from hilserl.training.learner import build_agent


def step_times(actor: Actor) -> list[float]:
    """Milliseconds between consecutive actions over one episode."""
    marks: list[float] = []
    actor.before_act = lambda: marks.append(time.perf_counter())
    actor.run_episode(lambda t: None)
    return list(1000 * np.diff(marks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=6, help="episodes per mode, the modes alternating")
    args = ap.parse_args()
    cfg = load_config(None, ["threads=1"])
    layout = task_layout(cfg.env)
    with tempfile.TemporaryDirectory() as tmp:
        actors = {"without": Actor(cfg, build_agent(cfg, layout)), "with": Actor(cfg, build_agent(cfg, layout))}
        view = actors["with"].open_view(ViewTarget("record", Path(tmp) / "view.rrd"), realtime=True,
                                        say=lambda _: None)
        for actor in actors.values():
            step_times(actor)  # warm-up
        times: dict[str, list[float]] = {mode: [] for mode in actors}
        for _ in range(args.episodes):  # alternating, so that drift in the machine's speed hits both
            for mode, actor in actors.items():
                times[mode] += step_times(actor)
        view.close()
        dropped, logged = view.dropped, view.logged
    period = 1000 / cfg.env.control_hz
    figures = {}
    for mode, t in times.items():
        arr = np.array(t)
        figures[mode] = {"median_ms": round(float(np.median(arr)), 2), "p99_ms": round(float(np.percentile(arr, 99)), 2),
                         "over_period": int((arr > period).sum()), "steps": len(arr)}
        print(f"actor step {mode} the live view: median {figures[mode]['median_ms']:.1f} ms, p99 "
              f"{figures[mode]['p99_ms']:.1f} ms, {figures[mode]['over_period']} of {len(arr)} over the "
              f"{period:.0f} ms period")
    ratio = figures["with"]["median_ms"] / figures["without"]["median_ms"]
    print(f"with / without: {ratio:.2f}x; the view logged {logged} steps and dropped {dropped}")
    write_result("live_view_speed", {**figures, "median_ratio": round(ratio, 3), "control_period_ms": period,
                                     "view_logged_steps": logged, "view_dropped_steps": dropped,
                                     "episodes_per_mode": args.episodes})


if __name__ == "__main__":
    main()
