"""Learner updates per second at batch 256 with two 128x128 cameras: the feature cache against
per-batch encoding of every image, side by side in one run. Also bytes per stored transition.

Goal (issue 3): the cache at least 100x faster. Usage: python -m benchmarks.learner_speed

Each mode's update is also counted in FLOPs (``torch.utils.flop_counter``): the ratio of the two
counts is the most the cache can gain where both paths run at the same FLOP/s.

``--devices`` times the cached update on every device present instead (``agent.device``: the CPU,
and CUDA or Apple's MPS when torch sees them) and writes ``results/learner_devices.json``.

``--uint8`` adds the feature cache stored in uint8 (``agent.cache_dtype=uint8``): its bytes per
transition and what decoding the maps costs each update, against float16's in the same run.

``--average`` adds cached updates without the policy's weight average (``agent.policy_average_rate=0``):
what keeping the average costs each update, against the default's in the same run.

``--bf16`` adds an experiment: cached updates under bfloat16 autocast (matmul inputs in bf16, weights
and optimiser in fp32). It is not an agent setting: lower precision has not been shown to learn here.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.config import load_config
from hilserl.data.transition import Transition
from hilserl.training.learner import Learner

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


def updates_per_second(learner: Learner, updates: int, bf16: bool = False) -> float:
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with precision:
        learner.update()  # warm-up
        start = time.perf_counter()
        for _ in range(updates):
            learner.update()
    return updates / (time.perf_counter() - start)


def update_gflop(learner: Learner) -> float:
    """Floating-point operations of one learner update, in GFLOP."""
    with FlopCounterMode(display=False) as counter:
        learner.update()
    return counter.get_total_flops() / 1e9


def devices_present() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def per_device(transitions: int, updates: int) -> None:
    """Cached updates per second on each device present, in one run."""
    figures = {}
    for device in devices_present():
        cfg = load_config(None, ["train.learning_starts=1", f"agent.device={device}"])
        learner = Learner(cfg)
        fill(learner, transitions, np.random.default_rng(0))
        ups = updates_per_second(learner, updates)
        name = torch.cuda.get_device_name() if device == "cuda" else device
        figures[device] = {"updates_per_second": round(ups, 3), "device_name": name}
        print(f"{device:>5} ({name}): {ups:8.3f} updates/s (feature cache, batch 256)")
    missing = [d for d in ("cuda", "mps") if d not in figures]
    if missing:
        print(f"not present here: {', '.join(missing)}")
    write_result("learner_devices", {**figures, "not_present": missing})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--transitions", type=int, default=300)
    ap.add_argument("--cached-updates", type=int, default=30)
    ap.add_argument("--encoded-updates", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="also time cached updates under bfloat16 autocast")
    ap.add_argument("--uint8", action="store_true", help="also time cached updates with the maps stored in uint8")
    ap.add_argument("--average", action="store_true", help="also time cached updates without the policy average")
    ap.add_argument("--devices", action="store_true", help="time the cached update on every device present")
    args = ap.parse_args()
    if args.devices:
        per_device(args.transitions, args.cached_updates)
        return
    rng = np.random.default_rng(0)
    figures = {}
    modes = [("feature_cache", args.cached_updates, False, []),
             ("per_batch_encoding", args.encoded_updates, False, ["agent.feature_cache=false"])]
    if args.bf16:
        modes.append(("feature_cache_bf16_autocast", args.cached_updates, True, []))
    if args.uint8:
        modes.append(("feature_cache_uint8", args.cached_updates, False, ["agent.cache_dtype=uint8"]))
    if args.average:
        modes.append(("feature_cache_no_average", args.cached_updates, False, ["agent.policy_average_rate=0"]))
    for mode, updates, bf16, overrides in modes:
        cfg = load_config(None, ["train.learning_starts=1", "agent.device=cpu", *overrides])
        learner = Learner(cfg)
        insert_s = fill(learner, args.transitions, rng)
        ups = updates_per_second(learner, updates, bf16)
        gflop = update_gflop(learner)
        figures[mode] = {
            "updates_per_second": round(ups, 3),
            "gflop_per_update": round(gflop, 2),
            "gflop_per_second": round(gflop * ups, 1),
            "insert_ms_per_transition": round(1000 * insert_s / args.transitions, 2),
            "bytes_per_transition": learner.bytes_per_transition,
        }
        print(f"{mode:>20}: {ups:8.3f} updates/s (batch 256, {cfg.agent.critic_actor_ratio} critic + 1 actor step), "
              f"{gflop:.1f} GFLOP/update at {gflop * ups:.0f} GFLOP/s, "
              f"insert {figures[mode]['insert_ms_per_transition']} ms/transition, "
              f"{learner.bytes_per_transition / 1024:.0f} KiB/transition")
    encoded = figures["per_batch_encoding"]["updates_per_second"]
    ratio = figures["feature_cache"]["updates_per_second"] / encoded
    bound = figures["per_batch_encoding"]["gflop_per_update"] / figures["feature_cache"]["gflop_per_update"]
    print(f"feature cache speed-up: {ratio:.0f}x, of at most {bound:.0f}x at equal FLOP/s; "
          f"LeRobot's float32 images: {LEROBOT_BYTES_PER_TRANSITION / 1024:.0f} KiB/transition")
    extra = {}
    if args.bf16:
        extra["speedup_bf16_autocast"] = round(figures["feature_cache_bf16_autocast"]["updates_per_second"] / encoded, 1)
        print(f"with bf16 autocast (experiment, not a setting): {extra['speedup_bf16_autocast']:.0f}x")
    if args.uint8:
        u8, f16 = figures["feature_cache_uint8"], figures["feature_cache"]
        extra["uint8_speed_ratio"] = round(u8["updates_per_second"] / f16["updates_per_second"], 3)
        extra["uint8_bytes_ratio"] = round(u8["bytes_per_transition"] / f16["bytes_per_transition"], 3)
        print(f"uint8 feature maps: {extra['uint8_speed_ratio']:.2f}x float16's updates/s at "
              f"{extra['uint8_bytes_ratio']:.2f}x its bytes per transition")
    if args.average:
        extra["average_speed_ratio"] = round(figures["feature_cache"]["updates_per_second"]
                                             / figures["feature_cache_no_average"]["updates_per_second"], 3)
        print(f"with the policy average: {extra['average_speed_ratio']:.3f}x the updates/s without it")
    write_result("learner_speed", {**figures, "speedup": round(ratio, 1), "flop_ratio": round(bound, 1), **extra,
                                   "lerobot_bytes_per_transition": LEROBOT_BYTES_PER_TRANSITION})


if __name__ == "__main__":
    main()
