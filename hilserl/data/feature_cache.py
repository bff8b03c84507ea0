"""The feature cache: frozen-backbone features of a few random crops of each frame, computed once.

With a frozen backbone, encoding images is the learner's main cost: a batch of 256 transitions
holds 1,024 images (2 cameras, obs and next obs). Encoding ``crops`` random crops of each frame when
it enters the buffer, and sampling one of them per batch, keeps random-crop augmentation while the
learner pays only for the spatial heads and MLPs. The next observation of one step is the
observation of the next step, so the last frames' features are remembered and not computed twice.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from hilserl.agent.augment import crop_with_offsets, random_offsets
from hilserl.agent.resnet import ResNet10


def _key(images: dict[str, np.ndarray]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(images):
        h.update(np.ascontiguousarray(images[name]).data)
    return h.digest()


class CropFeatureCache:
    def __init__(self, backbone: ResNet10, padding: int, crops: int, seed: int = 0):
        self.backbone = backbone.eval()
        self.padding = padding
        self.crops = crops
        self.generator = torch.Generator().manual_seed(seed)
        self._memo: dict[bytes, dict[str, np.ndarray]] = {}
        self.computed = 0

    @torch.no_grad()
    def __call__(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per camera, an array (crops, C, h, w) of float16 features of random crops."""
        key = _key(images)
        if key in self._memo:
            return self._memo[key]
        names = list(images)
        device = next(self.backbone.parameters()).device
        stacked = torch.from_numpy(np.stack([images[n] for n in names])).to(device)  # (cams, H, W, 3)
        repeated = stacked.repeat_interleave(self.crops, dim=0)
        offsets = random_offsets(len(repeated), self.padding, self.generator)
        feats = self.backbone(crop_with_offsets(repeated, offsets, self.padding)).half().cpu().numpy()
        feats = feats.reshape(len(names), self.crops, *feats.shape[1:])
        out = {n: feats[i] for i, n in enumerate(names)}
        self._memo = {key: out} | dict(list(self._memo.items())[:1])  # keep the last two frames
        self.computed += 1
        return out
