"""The learner: buffers fed by actors, SAC updates on 50/50 batches, parameters for the actors."""

from __future__ import annotations

import copy
import time

import numpy as np

from hilserl.agent.backbone import load_backbone
from hilserl.agent.resnet import feature_shape
from hilserl.agent.sac import SACAgent
from hilserl.config import Config
from hilserl.data.feature_cache import CropFeatureCache, FeatureCodec
from hilserl.data.replay_buffer import DEMONSTRATED, ReplayBuffer, sample_mixed, to_batch
from hilserl.data.routing import route
from hilserl.data.transition import Transition
from hilserl.data.transition_store import TransitionStore, frame_specs, transition_specs
from hilserl.envs.contract import TaskLayout
from hilserl.envs.factory import task_layout
from hilserl.training.checkpoint import load_buffers

PACE_PROBE_UPDATES = 3
"""Updates timed at start to estimate how long the run will take."""


def build_agent(cfg: Config, layout: TaskLayout, device: str | None = None) -> SACAgent:
    """The agent for an env of ``layout``: its state, its cameras (through the backbone), its actions;
    on ``device`` (default: ``agent.device``; actors pass "cpu")."""
    images = layout.observation.image_shapes
    backbone = load_backbone(cfg.agent.encoder) if images else None
    sizes = {shape[:2] for shape in images.values()}
    if len(sizes) > 1 or any(h != w for h, w in sizes):
        raise ValueError(f"the agent needs square camera images of one size, got {sorted(sizes)}")
    cameras = {name: feature_shape(shape[0]) for name, shape in images.items()}
    return SACAgent(cfg.agent, layout.observation.state_dim, cameras, action=layout.action, backbone=backbone,
                    seed=cfg.seed, device=device)


class Learner:
    def __init__(self, cfg: Config, agent: SACAgent | None = None, layout: TaskLayout | None = None):
        """``layout``: the env's (read from an instance of ``cfg.env`` when not given)."""
        self.cfg = cfg
        self.task = layout or task_layout(cfg.env)
        self.layout = self.task.observation
        self.agent = agent or build_agent(cfg, self.task)
        cameras = list(self.layout.image_shapes)
        augmenting = cfg.agent.augmentation
        crops = cfg.agent.cache_crops if augmenting else 1
        demo_crops = (cfg.agent.demo_cache_crops or cfg.agent.cache_crops) if augmenting else 1
        self.cache = self.demo_cache = None
        self.codec: FeatureCodec | None = None
        if cameras and cfg.agent.feature_cache:
            assert self.agent.backbone is not None
            padding = cfg.agent.crop_padding if augmenting else 0
            self.codec = FeatureCodec(feature_shape(next(iter(self.layout.image_shapes.values()))[0]),
                                      cfg.agent.cache_dtype)
            self.cache = CropFeatureCache(self.agent.backbone, padding, crops, seed=cfg.seed, codec=self.codec)
            self.demo_cache = self.cache if demo_crops == crops else \
                CropFeatureCache(self.agent.backbone, padding, demo_crops, seed=cfg.seed + 1, codec=self.codec)
        specs = transition_specs(self.layout.state_dim, self.task.action.dims)
        crop_fields = tuple(cameras) if self.codec else ()

        def store(capacity: int, seed: int, crops: int, cache: CropFeatureCache | None) -> TransitionStore:
            frames = frame_specs(self.layout.image_shapes, self.codec, crops)
            return TransitionStore(ReplayBuffer(capacity, specs, crop_fields, seed, frames), cameras, cache)

        self.online = store(cfg.buffer.online_capacity, cfg.seed, crops, self.cache)
        self.demo = store(cfg.buffer.demo_capacity, cfg.seed + 1, demo_crops, self.demo_cache)
        self.cameras = cameras
        self.online_added_by_kind = {"policy": 0, "intervention": 0}
        self.demo_loaded = 0
        self.intake_seconds: float | None = None
        """Measured seconds to take in one transition (reading it and, with the feature cache, encoding
        its frames), from the demos' loading; None until then."""
        self.unfinished = {"policy": 0, "intervention": 0}
        """Steps of each kind the episode under way has added: a checkpoint leaves them out, since a
        resumed actor runs that episode again from its start, and writes each buffer as it was at the
        episode's first step (its mark), old rows the episode overwrote put back (single process; the
        gRPC learner keeps unfinished episodes out of its buffers until their end)."""
        self.episode_under_way = False
        """Set at an episode's first step, with the buffers' marks; cleared at its end."""

    # -------------------------------------------------------------------------------- data
    def add_demo(self, t: Transition) -> None:
        """An offline demonstration step: demo buffer only."""
        self.demo.add_transition(t)
        self.demo_loaded += 1

    def add(self, t: Transition) -> None:
        """An online step from an actor, routed as the paper says."""
        if not self.episode_under_way:  # its first step: the buffers as the episode begins
            self.online.buffer.mark()
            self.demo.buffer.mark()
            self.episode_under_way = True
        route(t, self.online, self.demo)
        kind = "intervention" if t.intervened else "policy"
        self.online_added_by_kind[kind] += 1
        self.unfinished[kind] += 1

    def episode_ended(self) -> None:
        """The episode whose steps came last is whole: checkpoints keep it from now on."""
        self.unfinished = dict.fromkeys(self.unfinished, 0)
        self.episode_under_way = False

    def unfinished_rows(self) -> dict[str, int]:
        """Per buffer, the newest rows that belong to the episode under way (for ``write_checkpoint``):
        every step went to the online buffer, the interventions also to the demo buffer. Counted by the
        buffers since their mark, so that a stop that fell between the two buffers' rows of a step
        still writes each as the episode began."""
        return {name: buf.added_since_mark if self.episode_under_way else 0 for name, buf in self.buffers().items()}

    @property
    def ready(self) -> bool:
        return len(self.online) >= self.cfg.train.learning_starts

    # ------------------------------------------------------------------------------ update
    def update(self) -> dict[str, float]:
        a = self.cfg.agent
        batches = [
            self._batch(sample_mixed(self.online.buffer, self.demo.buffer, a.batch_size, self.cfg.buffer.demo_ratio))
            for _ in range(a.critic_actor_ratio)
        ]
        info = self.agent.update(batches)
        info["online_buffer"] = len(self.online)
        info["demo_buffer"] = len(self.demo)
        return info

    def _batch(self, record: dict[str, np.ndarray]) -> dict:
        """Sampled rows as the agent's batch, cached feature maps decoded to what the backbone gave (on
        the learner's device: the stored bytes are what travels)."""
        batch = to_batch(record, self.cameras)
        if self.codec is not None and self.codec.dtype != "float16":
            for obs in (batch["obs"], batch["next_obs"]):
                for cam in self.cameras:
                    obs[cam] = self.codec.decode(obs[cam].to(self.agent.device))
        return batch

    def time_updates(self, updates: int = PACE_PROBE_UPDATES) -> float | None:
        """Seconds per update on this machine, timed on a copy of the agent with batches of demos
        (after one warm-up update): the run's own agent, buffers and random streams are untouched.
        None without demos; the pace is then known once learning starts."""
        if len(self.demo) == 0:
            return None
        agent, rng, a = copy.deepcopy(self.agent), np.random.default_rng(0), self.cfg.agent

        def batches() -> list[dict]:
            return [self._batch({**self.demo.buffer.gather(rng.integers(0, len(self.demo), a.batch_size)),
                                 DEMONSTRATED: np.ones(a.batch_size, np.float32)})
                    for _ in range(a.critic_actor_ratio)]

        agent.update(batches())
        start = time.perf_counter()
        for _ in range(updates):
            agent.update(batches())
        return (time.perf_counter() - start) / updates

    def buffer_composition(self) -> dict[str, int]:
        return {"demo_steps": self.demo_loaded, **{f"{k}_steps": v for k, v in self.online_added_by_kind.items()}}

    # --------------------------------------------------------------------------- checkpoint
    OPTIMIZERS = ("critic_opt", "actor_opt", "temperature_opt", "grasp_opt")

    def buffers(self) -> dict[str, ReplayBuffer]:
        return {"online": self.online.buffer, "demo": self.demo.buffer}

    def state_dict(self) -> dict:
        """What the learner needs to continue exactly, but the buffers' rows (``buffers()``, saved
        apart by the checkpoint): networks (targets and temperature included), optimisers, update
        count, the buffers' random states."""
        agent = self.agent
        state = {
            "agent": agent.state_dict(),
            "layout": self.task.to_dict(),
            "optimizers": {name: getattr(agent, name).state_dict() for name in self.OPTIMIZERS
                           if getattr(agent, name) is not None},
            "updates": agent.updates,
            "agent_rngs": agent.rng_state(),
            "buffer_rngs": {name: buf.rng.bit_generator.state for name, buf in self.buffers().items()},
            "online_added_by_kind": {k: v - self.unfinished[k] for k, v in self.online_added_by_kind.items()},
            "demo_loaded": self.demo_loaded,
        }
        if self.cache is not None:
            state["cache_rng"] = self.cache.generator.get_state()
        if self.demo_cache is not None and self.demo_cache is not self.cache:
            state["demo_cache_rng"] = self.demo_cache.generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        agent = self.agent
        agent.load_state_dict(state["agent"])
        for name in self.OPTIMIZERS:
            if getattr(agent, name) is not None:
                getattr(agent, name).load_state_dict(state["optimizers"][name])
        agent.updates = int(state["updates"])
        if "agent_rngs" in state:  # checkpoints before the agent's streams were saved lack them
            agent.set_rng_state(state["agent_rngs"])
        if "_folder" in state:  # a checkpoint read from disk: its buffers' rows lie beside it
            load_buffers(state["_folder"], self.buffers())
        for name, buf in self.buffers().items():
            buf.rng.bit_generator.state = state["buffer_rngs"][name]
        self.online_added_by_kind = dict(state["online_added_by_kind"])
        self.demo_loaded = int(state["demo_loaded"])
        if self.cache is not None and "cache_rng" in state:
            self.cache.generator.set_state(state["cache_rng"])
        if self.demo_cache is not None and "demo_cache_rng" in state:
            self.demo_cache.generator.set_state(state["demo_cache_rng"])

    @property
    def bytes_per_transition(self) -> int:
        """Bytes of an online row (a step held once); a demo row: ``demo_bytes_per_transition``."""
        return self.online.buffer.bytes_per_transition

    @property
    def demo_bytes_per_transition(self) -> int:
        return self.demo.buffer.bytes_per_transition
