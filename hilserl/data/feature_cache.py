"""The feature cache: frozen-backbone features of a few random crops of each frame, computed once.

With a frozen backbone, encoding images is the learner's main cost: a batch of 256 transitions
holds 1,024 images (2 cameras, obs and next obs). Encoding ``crops`` random crops of each frame when
it enters the buffer, and sampling one of them per batch, keeps random-crop augmentation while the
learner pays only for the spatial heads and MLPs. The next observation of one step is the
observation of the next step, so the last frames' features are remembered and not computed twice.

The cached maps are stored in float16, or in uint8 (:class:`FeatureCodec`): most of a long run's
memory is these maps, and 8 bits per value with a scale per crop and channel keep the features far
closer to themselves than one crop of a frame is to another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from hilserl.agent.augment import crop_with_offsets, random_offsets
from hilserl.agent.resnet import ResNet10
from hilserl.data.replay_buffer import FieldSpec

FeatureDtype = Literal["float16", "uint8"]
UINT8_LEVELS = 255
SCALE_BYTES = np.dtype(np.float16).itemsize


@dataclass(frozen=True)
class FeatureCodec:
    """How one feature map (C, h, w) is stored. ``float16``: as is. ``uint8``: per channel, the h*w
    values in 256 levels from 0 to the channel's maximum over the map (the backbone ends in a ReLU, so
    none is negative), followed by that maximum as the bytes of a float16: (C, h*w + 2) bytes."""

    shape: tuple[int, int, int]
    dtype: FeatureDtype = "float16"

    def stored_shape(self) -> tuple[int, ...]:
        c, h, w = self.shape
        return self.shape if self.dtype == "float16" else (c, h * w + SCALE_BYTES)

    def spec(self, crops: int) -> FieldSpec:
        """The stored frame: ``crops`` encoded maps."""
        return FieldSpec((crops, *self.stored_shape()), np.float16 if self.dtype == "float16" else np.uint8)

    def encode(self, features: torch.Tensor) -> np.ndarray:
        """(N, C, h, w) float features -> (N, *stored_shape) on the CPU."""
        if self.dtype == "float16":
            return features.half().cpu().numpy()
        flat = features.float().flatten(2)
        peak = flat.amax(dim=2, keepdim=True).clamp_min(0).half()  # the maximum, not maximum / 255: in float16's normal range
        step = peak.float().clamp_min(torch.finfo(torch.float32).tiny) / UINT8_LEVELS
        levels = (flat / step).round().clamp(0, UINT8_LEVELS)
        packed = torch.cat([levels.to(torch.uint8), peak.view(torch.uint8)], dim=2)
        return packed.cpu().numpy()

    def decode(self, stored: torch.Tensor) -> torch.Tensor:
        """(B, *stored_shape) -> (B, C, h, w): float16 as stored, uint8 to float32."""
        if self.dtype == "float16":
            return stored
        c, h, w = self.shape
        step = stored[..., h * w:].contiguous().view(torch.float16).float() / UINT8_LEVELS
        return (stored[..., :h * w] * step).view(len(stored), c, h, w)  # uint8 * float32: no float copy first


def _key(images: dict[str, np.ndarray]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(images):
        h.update(np.ascontiguousarray(images[name]).data)
    return h.digest()


class CropFeatureCache:
    def __init__(self, backbone: ResNet10, padding: int, crops: int, seed: int = 0,
                 codec: FeatureCodec | None = None):
        """``codec``: how the maps are stored (default float16, for ``backbone``'s maps of any size)."""
        self.backbone = backbone.eval()
        self.padding = padding
        self.crops = crops
        self.codec = codec
        self.generator = torch.Generator().manual_seed(seed)
        self._memo: dict[bytes, dict[str, np.ndarray]] = {}
        self.computed = 0

    @torch.no_grad()
    def __call__(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per camera, ``crops`` encoded feature maps of random crops: (crops, C, h, w) in float16 by default."""
        key = _key(images)
        if key in self._memo:
            return self._memo[key]
        names = list(images)
        device = next(self.backbone.parameters()).device
        stacked = torch.from_numpy(np.stack([images[n] for n in names])).to(device)  # (cams, H, W, 3)
        repeated = stacked.repeat_interleave(self.crops, dim=0)
        offsets = random_offsets(len(repeated), self.padding, self.generator)
        feats = self.backbone(crop_with_offsets(repeated, offsets, self.padding))
        codec = self.codec or FeatureCodec(tuple(feats.shape[1:]))
        feats = codec.encode(feats).reshape(len(names), self.crops, *codec.stored_shape())
        out = {n: feats[i] for i, n in enumerate(names)}
        self._memo = {key: out} | dict(list(self._memo.items())[:1])  # keep the last two frames
        self.computed += 1
        return out
