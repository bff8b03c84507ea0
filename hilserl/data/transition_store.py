"""A replay buffer fed with :class:`Transition` objects, in the layout the agent samples: each camera frame
stored once (consecutive steps share it), encoded by the feature cache when there is one."""

from __future__ import annotations

import numpy as np

from hilserl.data.feature_cache import CropFeatureCache, FeatureCodec
from hilserl.data.replay_buffer import FieldSpec, ReplayBuffer
from hilserl.data.transition import Transition


def transition_specs(state_dim: int, action_dims: int) -> dict[str, FieldSpec]:
    """The per-transition fields (frames apart: ``frame_specs``)."""
    return {
        "obs.state": FieldSpec((state_dim,), np.float32),
        "next_obs.state": FieldSpec((state_dim,), np.float32),
        "action": FieldSpec((action_dims,), np.float32),
        "reward": FieldSpec((), np.float32),
        "grasp_penalty": FieldSpec((), np.float32),
        "terminated": FieldSpec((), np.float32),
        "intervened": FieldSpec((), np.bool_),
    }


def frame_specs(image_shapes: dict[str, tuple[int, int, int]], codec: FeatureCodec | None,
                crops: int) -> dict[str, FieldSpec]:
    """Per camera, one stored frame: the uint8 image, or with the feature cache ``crops`` feature maps
    of random crops of it, stored as ``codec`` says."""
    if codec is None:
        return {cam: FieldSpec(shape, np.uint8) for cam, shape in image_shapes.items()}
    return {cam: codec.spec(crops) for cam in image_shapes}


class TransitionStore:
    """Checks a transition's shapes against the env's, encodes images if caching, and stores it; a
    transition whose observation shows the frames of the previous one's next observation shares them."""

    def __init__(self, buffer: ReplayBuffer, cameras: list[str], cache: CropFeatureCache | None):
        self.buffer = buffer
        self.cameras = cameras
        self.cache = cache
        self._last_next: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.buffer)

    def _frames(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [c for c in ["state", *self.cameras] if c not in obs]
        if missing:
            raise KeyError(f"observation lacks {missing}; this run uses state and cameras {self.cameras}")
        images = {c: obs[c] for c in self.cameras}
        return self.cache(images) if self.cache is not None and images else images

    def add_transition(self, t: Transition) -> None:
        record = {
            "obs.state": t.observation["state"],
            "next_obs.state": t.next_observation["state"],
            "action": t.action,
            "reward": np.float32(t.reward),
            "grasp_penalty": np.float32(t.grasp_penalty),
            "terminated": np.float32(t.terminated),
            "intervened": np.bool_(t.intervened),
        }
        if not self.cameras:
            self.buffer.add(record)
            return
        last = self._last_next
        continues = last is not None and all(np.array_equal(last[c], t.observation[c]) for c in self.cameras)
        self.buffer.add(record, self._frames(t.observation), self._frames(t.next_observation), continues)
        self._last_next = {c: t.next_observation[c] for c in self.cameras}
