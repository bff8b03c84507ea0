"""Finds and loads the image backbone's weights named by ``agent.encoder.weights``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hilserl.agent.resnet import ResNet10, load_from_source
from hilserl.config import EncoderConfig

DEFAULT_WEIGHTS = "resnet10_sim.safetensors"
"""Shipped in ``hilserl/assets``: produced by ``hilserl pretrain-encoder`` (provenance in the .json
beside it). Shipping it, rather than building it on first use, saves every new machine the
pre-training run (the README says how long it takes)."""


def default_weights_path() -> Path:
    return Path(str(files("hilserl") / "assets" / DEFAULT_WEIGHTS))


def load_backbone(cfg: EncoderConfig) -> ResNet10:
    """The backbone ``cfg`` names; a frozen one is fused for inference (``ResNet10.fuse_for_inference``)."""
    model = _load(cfg)
    return model.fuse_for_inference() if cfg.freeze else model


def _load(cfg: EncoderConfig) -> ResNet10:
    model = ResNet10()
    if cfg.weights == "random":
        return model
    if cfg.weights == "default":
        path = default_weights_path()
        if not path.exists():
            raise FileNotFoundError(
                f"the default encoder weights {path} are missing; build them with "
                f"`hilserl pretrain-encoder --out {path}` or set agent.encoder.weights"
            )
        load_from_source(model, str(path))
        return model
    load_from_source(model, cfg.weights)
    return model
