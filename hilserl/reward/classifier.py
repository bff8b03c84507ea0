"""The reward classifier: "is this a success?" from the camera images.

As in HIL-SERL, a frozen pretrained backbone (the agent's: same architecture and weights) feeds a
small trainable head per camera (spatial learned embeddings, then a projection); the cameras'
latents are concatenated and an MLP gives one logit. Saved as ``NAME.safetensors`` (the head) and
``NAME.json`` (cameras, image size, backbone weights, settings, validation figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hilserl.agent.backbone import load_backbone
from hilserl.agent.frame_features import FrameFeatures
from hilserl.agent.networks import ImageHead
from hilserl.agent.resnet import ResNet10, feature_shape
from hilserl.config import ClassifierConfig, EncoderConfig, from_dict, to_dict


class ClassifierMismatch(ValueError):
    """A classifier file made for other cameras or image sizes than the env's."""


class ClassifierHead(nn.Module):
    def __init__(self, cameras: dict[str, tuple[int, int, int]], cfg: ClassifierConfig):
        super().__init__()
        head_cfg = EncoderConfig(num_spatial_features=cfg.num_spatial_features, image_latent_dim=cfg.latent_dim,
                                 dropout=cfg.dropout)
        self.cameras = list(cameras)
        self.images = nn.ModuleDict({name: ImageHead(shape, head_cfg) for name, shape in cameras.items()})
        self.mlp = nn.Sequential(nn.Linear(cfg.latent_dim * len(cameras), cfg.hidden_dim), nn.ReLU(),
                                 nn.Linear(cfg.hidden_dim, 1))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Backbone features per camera (B, C, h, w) -> logits (B,)."""
        return self.mlp(torch.cat([self.images[c](features[c]) for c in self.cameras], dim=-1)).squeeze(-1)


@dataclass
class RewardClassifier:
    backbone: ResNet10
    head: ClassifierHead
    image_shapes: dict[str, tuple[int, int, int]]
    encoder: EncoderConfig
    config: ClassifierConfig
    report: dict
    frame_features: FrameFeatures | None = field(default=None, repr=False)
    """Set by an actor whose policy runs this same frozen backbone: one pass per frame serves both."""

    @torch.no_grad()
    def probability(self, obs: dict[str, np.ndarray]) -> float:
        """Success probability of one observation (its camera images)."""
        images = {c: obs[c][None] for c in self.head.cameras}
        return float(self._probabilities(images, self.frame_features or self.backbone)[0])

    @torch.no_grad()
    def probabilities(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """Success probabilities of a batch: per camera uint8 (B, H, W, 3)."""
        return self._probabilities(images, self.backbone)

    def _probabilities(self, images: dict[str, np.ndarray], encode: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        self.backbone.eval()
        self.head.eval()
        names = self.head.cameras
        stacked = torch.from_numpy(np.concatenate([images[c] for c in names]))
        feats = encode(stacked).split(len(images[names[0]]))
        return torch.sigmoid(self.head(dict(zip(names, feats)))).numpy()

    def check_cameras(self, env_shapes: dict[str, tuple[int, ...]], source: Path | str = "classifier") -> None:
        """Refuse an env whose cameras or image sizes (``env_shapes``, the env's layout) differ from the
        classifier's."""
        for cam, shape in self.image_shapes.items():
            if cam not in env_shapes:
                raise ClassifierMismatch(f"{source}: the classifier looks at camera {cam!r}, the env has "
                                         f"{sorted(env_shapes) or 'no cameras'}")
            if tuple(env_shapes[cam]) != tuple(shape):
                raise ClassifierMismatch(f"{source}: camera {cam!r} images are {tuple(shape)} for the classifier, "
                                         f"{tuple(env_shapes[cam])} in the env")

    def save(self, path: Path) -> Path:
        path = Path(path).with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(path))
        meta = {"cameras": {k: list(v) for k, v in self.image_shapes.items()}, "encoder": to_dict(self.encoder),
                "classifier": to_dict(self.config), "report": self.report}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        return path


def build_classifier(image_shapes: dict[str, tuple[int, int, int]], encoder: EncoderConfig,
                     cfg: ClassifierConfig, backbone: ResNet10 | None = None) -> RewardClassifier:
    sizes = {s[0] for s in image_shapes.values()}
    if len(sizes) != 1:
        raise ValueError(f"the classifier needs one image size for all cameras, got {sorted(sizes)}")
    backbone = backbone or load_backbone(replace(encoder, freeze=True))
    for p in backbone.parameters():
        p.requires_grad_(False)
    head = ClassifierHead({c: feature_shape(s[0]) for c, s in image_shapes.items()}, cfg)
    return RewardClassifier(backbone.eval(), head, dict(image_shapes), encoder, cfg, {})


def load_classifier(path: Path | str, env_shapes: dict[str, tuple[int, ...]] | None = None) -> RewardClassifier:
    """A classifier saved by ``save``; checked against the env's camera images (``env_shapes``) when given."""
    path = Path(path).with_suffix(".safetensors")
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"classifier {path} (and {meta_path.name} beside it) not found: train one with "
                                f"`hilserl train-classifier`")
    meta = json.loads(meta_path.read_text())
    shapes = {k: tuple(v) for k, v in meta["cameras"].items()}
    clf = build_classifier(shapes, from_dict(EncoderConfig, meta["encoder"]), from_dict(ClassifierConfig, meta["classifier"]))
    clf.head.load_state_dict(load_file(str(path)))
    clf.report = meta.get("report", {})
    if env_shapes is not None:
        clf.check_cameras(env_shapes, path)
    return clf
