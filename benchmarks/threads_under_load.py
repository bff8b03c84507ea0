"""Learner updates per second idle and beside one busy process, for several torch thread counts.

Torch's threads wait for each other at every operation: when another process takes a core, one of
them is descheduled and the rest wait. This measures how much a learner (the default image agent,
feature cache, batch 256) slows with one CPU-bound process beside it, for torch's own thread count
(one per core), hilserl's default (half the cores) and one thread, in one run. Each figure is the
median over ``--repeats`` time-boxed windows; a collapsed configuration may fit only a few updates in
a window, so the window counts at least ``MIN_UPDATES``.

Usage: python -m benchmarks.threads_under_load   (run it alone: it loads the machine on purpose)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch

import hilserl  # noqa: F401
from benchmarks.common import write_result
from benchmarks.learner_speed import fill
from hilserl.config import load_config
from hilserl.threads import default_threads, torch_threads
from hilserl.training.learner import Learner

BUSY_LOOP = "while True: pass"
"""The other job: one pure-Python process that keeps one core busy."""
MIN_UPDATES = 3


def rate(learner: Learner, seconds: float) -> float:
    """Updates per second over a window of at least ``seconds`` and ``MIN_UPDATES`` updates."""
    learner.update()  # warm-up at this thread count
    start, done = time.perf_counter(), 0
    while done < MIN_UPDATES or time.perf_counter() - start < seconds:
        learner.update()
        done += 1
    return done / (time.perf_counter() - start)


def measure(learner: Learner, threads: int, busy: bool, seconds: float, repeats: int) -> float:
    other = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        with torch_threads(threads):
            return float(np.median([rate(learner, seconds) for _ in range(repeats)]))
    finally:
        if other is not None:
            other.kill()
            other.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of one timed window (default 8)")
    ap.add_argument("--repeats", type=int, default=3, help="windows per figure; the median is kept (default 3)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = {"torch_default": cores, "hilserl_default": default_threads(), "one": 1}
    cfg = load_config(None, ["train.learning_starts=1"])
    learner = Learner(cfg)
    fill(learner, 300, np.random.default_rng(0))
    figures: dict[str, dict] = {}
    measured: dict[int, dict] = {}  # a thread count shared by two names (hilserl's default on 2 cores is 1) runs once
    for name, threads in counts.items():
        if threads not in measured:
            idle = measure(learner, threads, False, args.seconds, args.repeats)
            loaded = measure(learner, threads, True, args.seconds, args.repeats)
            measured[threads] = {"threads": threads, "idle_updates_per_s": round(idle, 3),
                                 "loaded_updates_per_s": round(loaded, 3), "slowdown": round(idle / loaded, 2)}
        figures[name] = f = measured[threads]
        print(f"{name:>16} ({threads} threads): idle {f['idle_updates_per_s']:.2f} updates/s, beside a busy "
              f"process {f['loaded_updates_per_s']:.2f} updates/s: {f['slowdown']:.1f}x slower", flush=True)
    write_result("threads_under_load", {"cores": cores, "torch_threads_at_start": torch.get_num_threads(),
                                        "window_seconds": args.seconds, "repeats": args.repeats, **figures})


if __name__ == "__main__":
    main()
