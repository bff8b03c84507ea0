"""LeRobot's SAC training config (the JSON LeRobot writes for a HIL-SERL run) in hilserl's terms, so that
``hilserl diagnose config`` audits it against HIL-SERL's reference like one of ours.

LeRobot keeps the algorithm's fields under ``policy`` (``type: "sac"``), the batch size at the top
level and the control rate under ``env``. Each field below maps onto one of ours; fields with no
counterpart are named, not guessed. LeRobot's SAC has no random-crop augmentation: a config that
does not switch on image transforms (``dataset.image_transforms.enable``) is audited as
``agent.augmentation = false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEROBOT_TO_OURS = {
    "policy.discount": "agent.discount",
    "policy.temperature_init": "agent.temperature_init",
    "policy.use_backup_entropy": "agent.backup_entropy",
    "policy.num_critics": "agent.critic_ensemble_size",
    "policy.num_subsample_critics": "agent.critic_subsample_size",
    "policy.actor_lr": "agent.actor_lr",
    "policy.critic_lr": "agent.critic_lr",
    "policy.temperature_lr": "agent.temperature_lr",
    "policy.critic_target_update_weight": "agent.soft_target_update_rate",
    "policy.utd_ratio": "agent.critic_actor_ratio",
    "policy.target_entropy": "agent.target_entropy",
    "policy.actor_network_kwargs.hidden_dims": "agent.hidden_dims",
    "policy.online_buffer_capacity": "buffer.online_capacity",
    "policy.offline_buffer_capacity": "buffer.demo_capacity",
    "policy.online_step_before_learning": "train.learning_starts",
    "policy.freeze_vision_encoder": "agent.encoder.freeze",
    "policy.image_embedding_pooling_dim": "agent.encoder.num_spatial_features",
    "policy.vision_encoder_name": "agent.encoder.weights",
    "policy.policy_kwargs.std_min": "agent.std_min",
    "policy.policy_kwargs.std_max": "agent.std_max",
    "batch_size": "agent.batch_size",
    "env.fps": "env.control_hz",
    "dataset.image_transforms.enable": "agent.augmentation",
}
"""LeRobot's field (dotted, in its train config) -> ours. ``utd_ratio`` is LeRobot's count of critic
updates per learner step, HIL-SERL's critic-to-actor ratio."""
IGNORED = {"policy.type", "policy.device", "policy.storage_device", "policy.input_features", "policy.output_features",
           "policy.normalization_mapping", "policy.dataset_stats", "policy.concurrency", "policy.actor_learner_config",
           "policy.use_torch_compile", "policy.repo_id", "policy.push_to_hub", "policy.online_steps",
           "policy.online_env_seed",
           "policy.async_prefetch", "policy.policy_update_freq", "policy.camera_number", "output_dir", "job_name",
           "resume", "seed", "wandb", "steps", "log_freq", "save_freq", "save_checkpoint", "num_workers",
           "policy.critic_network_kwargs.hidden_dims"}
"""Fields that say where or how LeRobot runs rather than what it learns, or that another mapped field
already covers (the critic's hidden sizes: ours share one ``hidden_dims``): not reported as unmapped."""


@dataclass
class Translation:
    """A LeRobot config in our terms: ``config`` (a partial config of ours), what came from where, and
    LeRobot's fields that have no counterpart here."""

    config: dict[str, Any] = field(default_factory=dict)
    mapped: list[tuple[str, str]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_lerobot_config(raw: dict[str, Any]) -> bool:
    policy = raw.get("policy")
    return isinstance(policy, dict) and (policy.get("type") == "sac" or "utd_ratio" in policy)


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in IGNORED:
            out.update(_leaves(value, path + "."))
        else:
            out[path] = value
    return out


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def translate(raw: dict[str, Any]) -> Translation:
    result = Translation()
    for path, value in sorted(_leaves(raw).items()):
        if path in LEROBOT_TO_OURS:
            ours = LEROBOT_TO_OURS[path]
            if ours == "env.control_hz" and isinstance(value, int):
                value = float(value)
            _set(result.config, ours, list(value) if isinstance(value, tuple) else value)
            result.mapped.append((path, ours))
        elif path not in IGNORED and not any(path.startswith(p + ".") for p in IGNORED):
            result.unmapped.append(path)
    if "dataset.image_transforms.enable" not in dict(result.mapped):
        _set(result.config, "agent.augmentation", False)
        result.notes.append("agent.augmentation = false: LeRobot's SAC applies no random-crop augmentation and the "
                            "config switches on no image transforms")
    return result


def translation_lines(t: Translation) -> list[str]:
    lines = ["a LeRobot SAC config, read in hilserl's terms:"]
    lines += [f"  {a} -> {b}" for a, b in t.mapped]
    lines += [f"  {n}" for n in t.notes]
    if t.unmapped:
        lines.append(f"  not mapped (no counterpart in hilserl): {', '.join(t.unmapped)}")
    return lines
