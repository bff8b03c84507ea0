"""A replay buffer fed with :class:`Transition` objects, in the layout the agent samples."""

from __future__ import annotations

import numpy as np

from hilserl.data.feature_cache import CropFeatureCache
from hilserl.data.replay_buffer import FieldSpec, ReplayBuffer
from hilserl.data.transition import Transition


def transition_specs(
    state_dim: int,
    image_shapes: dict[str, tuple[int, int, int]],
    action_dims: int,
    feature_shape: tuple[int, int, int] | None,
    crops: int,
) -> dict[str, FieldSpec]:
    specs = {
        "obs.state": FieldSpec((state_dim,), np.float32),
        "next_obs.state": FieldSpec((state_dim,), np.float32),
        "action": FieldSpec((action_dims,), np.float32),
        "reward": FieldSpec((), np.float32),
        "grasp_penalty": FieldSpec((), np.float32),
        "terminated": FieldSpec((), np.float32),
        "intervened": FieldSpec((), np.bool_),
    }
    for cam, shape in image_shapes.items():
        for prefix in ("obs", "next_obs"):
            if feature_shape is None:
                specs[f"{prefix}.{cam}"] = FieldSpec(shape, np.uint8)
            else:
                specs[f"{prefix}.{cam}"] = FieldSpec((crops, *feature_shape), np.float16)
    return specs


class TransitionStore:
    """Checks a transition's shapes against the env's, encodes images if caching, and stores it."""

    def __init__(self, buffer: ReplayBuffer, cameras: list[str], cache: CropFeatureCache | None):
        self.buffer = buffer
        self.cameras = cameras
        self.cache = cache

    def __len__(self) -> int:
        return len(self.buffer)

    def _obs_fields(self, prefix: str, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [c for c in ["state", *self.cameras] if c not in obs]
        if missing:
            raise KeyError(f"observation lacks {missing}; this run uses state and cameras {self.cameras}")
        fields = {f"{prefix}.state": obs["state"]}
        images = {c: obs[c] for c in self.cameras}
        if self.cache is not None and images:
            images = self.cache(images)
        fields.update({f"{prefix}.{c}": v for c, v in images.items()})
        return fields

    def add_transition(self, t: Transition) -> None:
        record = {
            **self._obs_fields("obs", t.observation),
            **self._obs_fields("next_obs", t.next_observation),
            "action": t.action,
            "reward": np.float32(t.reward),
            "grasp_penalty": np.float32(t.grasp_penalty),
            "terminated": np.float32(t.terminated),
            "intervened": np.bool_(t.intervened),
        }
        self.buffer.add(record)
