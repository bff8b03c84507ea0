"""A trained agent and its config, from a run folder, a checkpoint or an exported policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from hilserl.agent.sac import SACAgent
from hilserl.config import Config, from_dict, load_config, to_dict
from hilserl.envs.contract import TaskLayout
from hilserl.envs.factory import task_layout
from hilserl.training.checkpoint import (
    POLICY_FILE,
    STATE_FILE,
    CheckpointDamaged,
    check_resume,
    checkpoint_dir,
    damage,
    read_checkpoint,
    usable_checkpoint,
)
from hilserl.training.learner import build_agent


@dataclass(frozen=True)
class ConfigChanges:
    """What a command changes of a trained run's own config: a file's fields, then ``--set`` overrides."""

    file: Path | None = None
    overrides: list[str] = field(default_factory=list)

    def apply(self, cfg: Config, use: str) -> Config:
        """``cfg`` changed; refused (ResumeRefused) where the change cannot apply to its checkpoint."""
        if self.file is None and not self.overrides:
            return cfg
        changed = load_config(self.file, self.overrides, base=cfg)
        check_resume(to_dict(cfg), changed, use)
        return changed


def load_agent(path: Path, changes: ConfigChanges | None = None) -> tuple[Config, SACAgent]:
    """The config and the trained agent from a run folder (its latest checkpoint), a checkpoint folder
    (``checkpoints/ckpt_*``), or an exported policy (``policy.safetensors`` with its ``policy.json``);
    ``changes``: what to change of the run's config (not its env, not the networks' shapes)."""
    changes = changes or ConfigChanges()
    path = Path(path)
    state = None
    if path.is_dir() and not (path / STATE_FILE).exists():
        found = usable_checkpoint(path, only=(STATE_FILE,))  # acting needs no buffer file
        path, state = found if found is not None else (checkpoint_dir(path) / POLICY_FILE, None)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder, a checkpoints/ckpt_* folder or a "
                                f"checkpoints/{POLICY_FILE}")
    if path.suffix == ".safetensors":
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise FileNotFoundError(f"{meta} not found: an exported policy needs its config beside it")
        cfg = changes.apply(from_dict(Config, json.loads(meta.read_text())), "an evaluation")
        with safe_open(str(path), "pt") as f:
            stored = (f.metadata() or {}).get("layout")
        layout = TaskLayout.from_dict(json.loads(stored)) if stored else task_layout(cfg.env)
        agent = build_agent(cfg, layout, device="cpu")
        agent.load_policy_state_dict(load_file(str(path)))
        return cfg, agent
    if state is None:
        if path.is_dir() and (problem := damage(path, only=(STATE_FILE,))):
            raise CheckpointDamaged(problem)
        state = read_checkpoint(path) if path.is_dir() else torch.load(path, weights_only=True, map_location="cpu")
    if "config" not in state:
        raise ValueError(f"{path} is not a hilserl checkpoint (no config inside)")
    cfg = changes.apply(from_dict(Config, state["config"]), "an evaluation")
    layout = TaskLayout.from_dict(state["layout"]) if "layout" in state else task_layout(cfg.env)
    agent = build_agent(cfg, layout, device="cpu")  # evaluation and acting: one frame at a time
    agent.load_state_dict(state["agent"])
    agent.updates = int(state.get("updates", 0))
    return cfg, agent
