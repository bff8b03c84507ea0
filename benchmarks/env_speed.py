"""Env steps per second with both cameras rendering, and the scripted expert's success rate.

Goal (issue 2): at least 5x real time (50 steps/s at 10 Hz) on a 2-core CPU; expert >= 98% over
200 seeded resets. Usage: python benchmarks/env_speed.py [--steps 1000] [--episodes 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.collect.rollout import run_episode
from hilserl.config import EnvConfig
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.teleop.scripted import expert_policy


def steps_per_second(cfg: EnvConfig, steps: int) -> float:
    env = GraspCubeEnv(cfg)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        if term or trunc:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=200)
    args = ap.parse_args()

    cams = steps_per_second(EnvConfig(), args.steps)
    state = steps_per_second(EnvConfig(state_only=True), args.steps)
    real_time = EnvConfig().control_hz
    print(f"env steps/s, two 128x128 cameras: {cams:.0f} ({cams / real_time:.1f}x real time)")
    print(f"env steps/s, state only:          {state:.0f} ({state / real_time:.1f}x real time)")

    env = GraspCubeEnv(EnvConfig(state_only=True))
    policy = expert_policy(env)
    results = [run_episode(env, policy, seed=10_000 + s) for s in range(args.episodes)]
    rate = float(np.mean([r.success for r in results]))
    by_region = {
        region: float(np.mean([r.success for r in results if r.region == region]))
        for region in ("back", "front")
    }
    print(f"scripted expert success over {args.episodes} seeded resets: {rate:.1%} {by_region}")
    write_result("env_speed", {
        "steps_per_second_two_cameras": round(cams, 1),
        "real_time_factor_two_cameras": round(cams / real_time, 2),
        "steps_per_second_state_only": round(state, 1),
        "expert_success_rate": rate,
        "expert_success_by_region": by_region,
        "expert_episodes": args.episodes,
    })


if __name__ == "__main__":
    main()
