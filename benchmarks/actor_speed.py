"""Time per actor step with the reward classifier: each frame encoded once (the policy reuses the
classifier's features) against twice (each runs the backbone), side by side in one run.

An actor step is what the robot computer does every control period: the env's step with both
cameras rendering, the classifier's probability for the new frame, the simulated human, and the
policy's action. The classifier's head is untrained: its cost, not its verdict, matters here.
    python -m benchmarks.actor_speed [--episodes 6]
Writes benchmarks/results/actor_speed.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.config import ClassifierConfig, load_config
from hilserl.envs.factory import task_layout
from hilserl.reward.classifier import build_classifier
from hilserl.training.actor import Actor
from hilserl.training.learner import build_agent


def classifier_actor(folder: Path, share: bool) -> Actor:
    cfg = load_config()
    layout = task_layout(cfg.env)
    path = build_classifier(layout.observation.image_shapes, cfg.agent.encoder, ClassifierConfig()).save(folder / "clf")
    cfg = load_config(None, ["env.reward.source=classifier", f"env.reward.classifier={json.dumps(str(path))}"])
    actor = Actor(cfg, build_agent(cfg, layout))
    if not share:
        actor.agent.frame_features = actor.env.classifier.frame_features = None
    return actor


def ms_per_step(actor: Actor) -> float:
    start = time.perf_counter()
    stats = actor.run_episode(lambda t: None)
    return 1000 * (time.perf_counter() - start) / stats.length


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=6, help="episodes per mode, the modes alternating")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        actors = {"shared": classifier_actor(Path(tmp), True), "separate": classifier_actor(Path(tmp), False)}
        ms_per_step(actors["shared"]), ms_per_step(actors["separate"])  # warm-up
        times: dict[str, list[float]] = {mode: [] for mode in actors}
        for _ in range(args.episodes):  # alternating, so that drift in the machine's speed hits both
            for mode, actor in actors.items():
                times[mode].append(ms_per_step(actor))
    shared, separate = (float(np.median(times[m])) for m in ("shared", "separate"))
    control_ms = 1000 / load_config().env.control_hz
    print(f"actor step, classifier reward, frames encoded once:  {shared:.1f} ms (median of {args.episodes} episodes)")
    print(f"actor step, classifier reward, frames encoded twice: {separate:.1f} ms")
    print(f"saved per step: {separate - shared:.1f} ms of a {control_ms:.0f} ms control period; "
          f"{separate / shared:.2f}x faster")
    write_result("actor_speed", {
        "ms_per_step_shared_frames": round(shared, 2),
        "ms_per_step_separate_frames": round(separate, 2),
        "speedup": round(separate / shared, 3),
        "control_period_ms": control_ms,
        "episodes_per_mode": args.episodes,
    })


if __name__ == "__main__":
    main()
