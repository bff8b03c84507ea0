"""Learner updates per second at batch 256 with two 128x128 cameras: the feature cache against
per-batch encoding of every image, side by side in one run. Also bytes per stored transition.

Goal (issue 3): the cache at least 100x faster. Usage: python -m benchmarks.learner_speed
"""

from __future__ import annotations

import argparse
import time

import hilserl  # noqa: F401
import numpy as np

from benchmarks.common import write_result
from hilserl.config import load_config
from hilserl.data.transition import Transition
from hilserl.distributed.learner import Learner

LEROBOT_BYTES_PER_TRANSITION = 393_216
"""LeRobot stores two float32 128x128x3 images for obs and next obs: 4 x 98,304 bytes."""


def fill(learner: Learner, n: int, rng: np.random.Generator) -> float:
    """Add ``n`` transitions of random images (one episode's chain of frames); returns seconds."""
    def obs():
        return {"state": rng.normal(size=learner.layout.state_dim).astype(np.float32),
                **{c: rng.integers(0, 255, s, dtype=np.uint8) for c, s in learner.layout.image_shapes.items()}}

    start = time.perf_counter()
    current = obs()
    for i in range(n):
        nxt = obs()
        t = Transition(current, rng.uniform(-1, 1, 4).astype(np.float32), 0.0, nxt, False, False, i % 4 == 0)
        learner.add(t)
        current = nxt
    return time.perf_counter() - start


def updates_per_second(learner: Learner, updates: int) -> float:
    learner.update()  # warm-up
    start = time.perf_counter()
    for _ in range(updates):
        learner.update()
    return updates / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--transitions", type=int, default=300)
    ap.add_argument("--cached-updates", type=int, default=30)
    ap.add_argument("--encoded-updates", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    figures = {}
    for mode, cache, updates in (("feature_cache", True, args.cached_updates),
                                 ("per_batch_encoding", False, args.encoded_updates)):
        cfg = load_config(None, [f"agent.feature_cache={str(cache).lower()}", "train.learning_starts=1"])
        learner = Learner(cfg)
        insert_s = fill(learner, args.transitions, rng)
        ups = updates_per_second(learner, updates)
        figures[mode] = {
            "updates_per_second": round(ups, 3),
            "insert_ms_per_transition": round(1000 * insert_s / args.transitions, 2),
            "bytes_per_transition": learner.bytes_per_transition,
        }
        print(f"{mode:>20}: {ups:8.3f} updates/s (batch 256, {cfg.agent.critic_actor_ratio} critic + 1 actor step), "
              f"insert {figures[mode]['insert_ms_per_transition']} ms/transition, "
              f"{learner.bytes_per_transition / 1024:.0f} KiB/transition")
    ratio = figures["feature_cache"]["updates_per_second"] / figures["per_batch_encoding"]["updates_per_second"]
    print(f"feature cache speed-up: {ratio:.0f}x; LeRobot's float32 images: {LEROBOT_BYTES_PER_TRANSITION / 1024:.0f} KiB/transition")
    write_result("learner_speed", {**figures, "speedup": round(ratio, 1),
                                   "lerobot_bytes_per_transition": LEROBOT_BYTES_PER_TRANSITION})


if __name__ == "__main__":
    main()
