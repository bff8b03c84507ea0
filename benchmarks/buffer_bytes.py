"""Bytes per stored transition: each frame stored once (ours) against each transition storing its
observation's and its next observation's frames (the layout before, kept as the baseline).

Runs ``--episodes`` episodes of the simulated grasp task with cameras (the scripted expert; in each
episode a stretch of 5 to 15 steps is marked as an intervention, as a brief correction is) routed as
in training (every step to the online buffer, the intervention stretch also to the demo buffer) into
both layouts, with the feature cache on (feature maps of the default 4 crops, stored in float16, the
default, and in uint8, ``agent.cache_dtype=uint8``) and off (uint8 images), and reports the bytes
each layout holds per transition, and what the default capacities of 200,000 online and 50,000 demo
transitions would reserve.

Usage: python -m benchmarks.buffer_bytes --episodes 6
"""

from __future__ import annotations

import argparse

import numpy as np

GIB = 1024**3


def run(episodes: int, cache_dtype: str | None) -> dict:
    """``cache_dtype``: the feature cache's storage (``agent.cache_dtype``); None: no cache, images."""
    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.agent.backbone import load_backbone
    from hilserl.agent.resnet import feature_shape
    from hilserl.collect.rollout import run_episode
    from hilserl.config import Config
    from hilserl.data.feature_cache import CropFeatureCache, FeatureCodec
    from hilserl.data.replay_buffer import ReplayBuffer
    from hilserl.data.routing import route
    from hilserl.data.transition_store import TransitionStore, frame_specs, transition_specs
    from hilserl.envs.contract import layout_of
    from hilserl.envs.factory import make_env
    from hilserl.teleop.scripted import expert_policy

    cfg = Config()
    env = make_env(cfg.env)
    layout = layout_of(env)
    images = layout.observation.image_shapes
    cameras = list(images)
    cache = codec = None
    crops = cfg.agent.cache_crops
    if cache_dtype:
        codec = FeatureCodec(feature_shape(next(iter(images.values()))[0]), cache_dtype)
        cache = CropFeatureCache(load_backbone(cfg.agent.encoder), cfg.agent.crop_padding, crops, codec=codec)
    frames = frame_specs(images, codec, crops)
    flat = transition_specs(layout.observation.state_dim, layout.action.dims)
    baseline_specs = {**flat, **{f"{p}.{c}": s for c, s in frames.items() for p in ("obs", "next_obs")}}

    def stores(capacity: int) -> tuple[TransitionStore, ReplayBuffer]:
        ours = TransitionStore(ReplayBuffer(capacity, flat, frames=frames), cameras, cache)
        return ours, ReplayBuffer(capacity, baseline_specs)

    (online, online_base), (demo, demo_base) = stores(cfg.buffer.online_capacity), stores(cfg.buffer.demo_capacity)
    rng = np.random.default_rng(0)
    expert = expert_policy(env)

    class Baseline:
        def __init__(self, buffer: ReplayBuffer):
            self.buffer = buffer

        def add_transition(self, t) -> None:
            record = {k: t.observation["state"] if k == "obs.state" else t.next_observation["state"]
                      for k in ("obs.state", "next_obs.state")}
            record.update(action=t.action, reward=np.float32(t.reward), grasp_penalty=np.float32(t.grasp_penalty),
                          terminated=np.float32(t.terminated), intervened=np.bool_(t.intervened))
            for prefix, obs in (("obs", t.observation), ("next_obs", t.next_observation)):
                encoded = cache({c: obs[c] for c in cameras}) if cache else obs
                record.update({f"{prefix}.{c}": encoded[c] for c in cameras})
            self.buffer.add(record)

    base_online, base_demo = Baseline(online_base), Baseline(demo_base)
    for episode in range(episodes):
        steps = []
        run_episode(env, expert, seed=episode, on_transition=steps.append)
        start = int(rng.integers(0, max(1, len(steps) - 15)))
        stretch = range(start, start + int(rng.integers(5, 16)))
        for i, t in enumerate(steps):
            t.intervened = i in stretch
            route(t, online, demo)
            route(t, base_online, base_demo)
    env.close()
    frame_bytes = sum(s.nbytes for s in frames.values())
    flat_bytes = sum(s.nbytes for s in online.buffer.specs.values())

    def held(store: TransitionStore) -> int:
        return len(store) * flat_bytes + store.buffer.frames_held * frame_bytes

    out = {"frames": f"{cache_dtype} features of {crops} crops" if cache_dtype else "uint8 images"}
    for name, ours, base in (("online", online, online_base), ("demo", demo, demo_base)):
        n = len(ours)
        out[name] = {"transitions": n, "frames_per_transition": ours.buffer.frames_held / n,
                     "bytes_per_transition": held(ours) / n, "baseline_bytes_per_transition": base.bytes_per_transition,
                     "ratio": held(ours) / n / base.bytes_per_transition}
    reserved = cfg.buffer.online_capacity * online.buffer.bytes_per_transition + \
        cfg.buffer.demo_capacity * demo.buffer.bytes_per_transition
    reserved_base = cfg.buffer.online_capacity * online_base.bytes_per_transition + \
        cfg.buffer.demo_capacity * demo_base.bytes_per_transition
    out["default_capacity_gib"] = reserved / GIB
    out["default_capacity_gib_baseline"] = reserved_base / GIB
    return out


def main() -> None:
    from benchmarks.common import write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=6)
    args = parser.parse_args()
    figures = {"episodes": args.episodes}
    for key, cache_dtype in (("features", "float16"), ("features_uint8", "uint8"), ("images", None)):
        result = run(args.episodes, cache_dtype)
        figures[key] = result
        for name in ("online", "demo"):
            r = result[name]
            print(f"{result['frames']}, {name} buffer: {r['transitions']} transitions, {r['frames_per_transition']:.3f} "
                  f"frames each; {r['bytes_per_transition']:,.0f} bytes per transition against "
                  f"{r['baseline_bytes_per_transition']:,} storing both frames ({r['ratio']:.1%})")
        print(f"{result['frames']}: the default capacities (200,000 online + 50,000 demo) reserve "
              f"{result['default_capacity_gib']:.1f} GiB, against {result['default_capacity_gib_baseline']:.1f} GiB")
    write_result("buffer_bytes", figures)


if __name__ == "__main__":
    main()
