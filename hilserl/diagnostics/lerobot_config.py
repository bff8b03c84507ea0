"""LeRobot's SAC training config (the ``train_config.json`` LeRobot saves for a HIL-SERL run) audited
against HIL-SERL's reference, with LeRobot's own semantics.

A LeRobot config is not translated into one of ours: several of its settings have no place in our
config (LeRobot's MLPs use SiLU, its temperature learns at the critic's rate), and a field a file
leaves out takes LeRobot's default, not ours. So each reference parameter is read the way LeRobot
0.4.4's learner reads it: from a field, from LeRobot's default where the file has none, or from what
LeRobot's code does whatever the config says. A reference parameter LeRobot has no setting for is
``unmapped``, never ``equal``; a field of the file no rule reads is listed as not mapped.
:data:`LEROBOT_DEFAULTS` is checked against LeRobot's own dump (tests/data/lerobot/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from hilserl.diagnostics.config_audit import REFERENCE, AuditRow, same

LEROBOT_VERSION = "0.4.4"
"""The release whose semantics the rules below follow."""

LEROBOT_DEFAULTS: dict[str, Any] = {
    "batch_size": 8,
    "env.fps": 30,
    "env.processor.inverse_kinematics": None,
    "env.processor.reward_classifier": None,
    "policy.discount": 0.99,
    "policy.temperature_init": 1.0,
    "policy.use_backup_entropy": True,
    "policy.num_critics": 2,
    "policy.num_subsample_critics": None,
    "policy.actor_lr": 3e-4,
    "policy.critic_lr": 3e-4,
    "policy.temperature_lr": 3e-4,
    "policy.critic_target_update_weight": 0.005,
    "policy.utd_ratio": 1,
    "policy.policy_update_freq": 1,
    "policy.target_entropy": None,
    "policy.actor_network_kwargs.hidden_dims": [256, 256],
    "policy.critic_network_kwargs.hidden_dims": [256, 256],
    "policy.online_buffer_capacity": 100_000,
    "policy.offline_buffer_capacity": 100_000,
    "policy.online_step_before_learning": 100,
    "policy.freeze_vision_encoder": True,
    "policy.image_embedding_pooling_dim": 8,
    "policy.vision_encoder_name": None,
    "policy.num_discrete_actions": None,
    "policy.grad_clip_norm": 40.0,
    "policy.policy_kwargs.std_min": 1e-5,
    "policy.policy_kwargs.std_max": 10.0,
}
"""LeRobot's values for the fields the rules read, where a file leaves them out
(``TrainRLServerPipelineConfig`` with ``SACConfig()`` and ``HILSerlRobotEnvConfig()``)."""

IGNORED_PREFIXES = (
    "policy.type", "policy.device", "policy.storage_device", "policy.input_features", "policy.output_features",
    "policy.normalization_mapping", "policy.dataset_stats", "policy.concurrency", "policy.actor_learner_config",
    "policy.use_torch_compile", "policy.repo_id", "policy.push_to_hub", "policy.online_steps",
    "policy.online_env_seed", "policy.async_prefetch", "policy.n_obs_steps", "policy.use_amp", "policy.use_peft",
    "policy.private", "policy.tags", "policy.license", "policy.pretrained_path", "policy.shared_encoder",
    "policy.policy_kwargs.use_tanh_squash", "policy.policy_kwargs.init_final",
    "policy.critic_network_kwargs.activate_final", "policy.critic_network_kwargs.final_activation",
    "policy.actor_network_kwargs.activate_final", "policy.discrete_critic_network_kwargs",
    "output_dir", "job_name", "resume", "seed", "wandb", "steps", "log_freq", "save_freq", "save_checkpoint",
    "num_workers", "eval_freq", "eval", "tolerance_s", "use_policy_training_preset", "optimizer", "scheduler",
    "peft", "use_rabc", "rabc_", "rename_map", "checkpoint_path", "dataset.repo_id", "dataset.root",
    "dataset.episodes", "dataset.revision", "dataset.use_imagenet_stats", "dataset.video_backend",
    "dataset.streaming", "env.type", "env.name", "env.task", "env.features", "env.features_map",
    "env.max_parallel_tasks", "env.disable_env_checker", "env.robot", "env.teleop", "env.processor.control_mode",
    "env.processor.observation", "env.processor.reset", "env.processor.max_gripper_pos",
    "env.processor.inverse_kinematics.urdf_path", "env.processor.inverse_kinematics.target_frame_name",
    "env.processor.inverse_kinematics.end_effector_bounds", "env.processor.reward_classifier.pretrained_path",
    "env.processor.reward_classifier.success_reward",
)
"""Fields that say where or how LeRobot runs (devices, logging, paths, hardware) rather than what it
learns: neither audited nor listed as unmapped."""


@dataclass
class LeRobotAudit:
    rows: list[AuditRow]
    unmapped: list[str] = field(default_factory=list)
    """Fields of the file that no rule reads and that say something about learning."""
    notes: list[str] = field(default_factory=list)
    """LeRobot settings with no parameter of ours to compare, said in words."""


class _Config:
    """A LeRobot config's fields, by dotted path, falling back on LeRobot's defaults; records what it read."""

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw
        self.read: set[str] = set()

    def has(self, path: str) -> bool:
        node: Any = self.raw
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def get(self, path: str) -> tuple[Any, str]:
        """The value and where it came from."""
        self.read.add(path)
        if self.has(path):
            node: Any = self.raw
            for part in path.split("."):
                node = node[part]
            return node, path
        return LEROBOT_DEFAULTS.get(path), f"{path} (LeRobot's default)"


UNMAPPED = object()
"""A rule's value when LeRobot has no setting for the parameter."""
Rule = Callable[[_Config], tuple[Any, str]]


def _field(path: str) -> Rule:
    return lambda c: c.get(path)


def _hidden_dims(c: _Config) -> tuple[Any, str]:
    actor, a_from = c.get("policy.actor_network_kwargs.hidden_dims")
    critic, c_from = c.get("policy.critic_network_kwargs.hidden_dims")
    if list(actor) == list(critic):
        return list(actor), f"{a_from}, {c_from}"
    return f"actor {list(actor)}, critic {list(critic)}", f"{a_from}, {c_from}"


def _temperature_lr(c: _Config) -> tuple[Any, str]:
    value, source = c.get("policy.critic_lr")
    c.read.add("policy.temperature_lr")
    return value, f"{source}: LeRobot's learner gives the temperature's optimiser the critic's rate " \
                  "(policy.temperature_lr is not read)"


def _utd(c: _Config) -> tuple[Any, str]:
    value, source = c.get("policy.utd_ratio")
    c.get("policy.policy_update_freq")
    return value, f"{source}: critic updates per learner step, one actor update per step on average " \
                  "(policy_update_freq batches them)"


def _demo_ratio(c: _Config) -> tuple[Any, str]:
    c.read.add("dataset.repo_id")
    given = c.has("dataset.repo_id") and c.raw["dataset"]["repo_id"] is not None
    return (0.5 if given else 0.0), "LeRobot's learner: half of each batch from the offline dataset when " \
                                    "dataset is set, none otherwise"


def _action_scale(c: _Config) -> tuple[Any, str]:
    kinematics, source = c.get("env.processor.inverse_kinematics")
    steps = kinematics.get("end_effector_step_sizes") if isinstance(kinematics, dict) else None
    if not steps:
        return UNMAPPED, "no end_effector_step_sizes in this config (the robot's own config sets them)"
    values = [steps.get(axis) for axis in ("x", "y", "z")]
    path = "env.processor.inverse_kinematics.end_effector_step_sizes"
    c.read.add(path)
    return (values[0] if len(set(values)) == 1 else steps), path


def _classifier(value: int) -> Rule:
    def rule(c: _Config) -> tuple[Any, str]:
        classifier, _ = c.get("env.processor.reward_classifier")
        if not classifier:
            return UNMAPPED, "no reward classifier in this config"
        c.read.add("env.processor.reward_classifier.success_threshold")
        return value, "LeRobot's code: its classifier step ends the episode at the first frame over " \
                      "success_threshold, with no count of frames or steps"
    return rule


def _fixed(value: Any, source: str) -> Rule:
    return lambda c: (value, f"LeRobot's code: {source}")


RULES: dict[str, Rule] = {
    "agent.discount": _field("policy.discount"),
    "agent.temperature_init": _field("policy.temperature_init"),
    "agent.backup_entropy": _field("policy.use_backup_entropy"),
    "agent.critic_ensemble_size": _field("policy.num_critics"),
    "agent.critic_subsample_size": _field("policy.num_subsample_critics"),
    "agent.hidden_dims": _hidden_dims,
    "agent.activation": _fixed("silu", "its MLPs use SiLU, whatever the config"),
    "agent.use_layer_norm": _fixed(True, "LayerNorm after every hidden layer of its MLPs"),
    "agent.actor_lr": _field("policy.actor_lr"),
    "agent.critic_lr": _field("policy.critic_lr"),
    "agent.temperature_lr": _temperature_lr,
    "agent.soft_target_update_rate": _field("policy.critic_target_update_weight"),
    "agent.target_entropy": _field("policy.target_entropy"),
    "agent.batch_size": _field("batch_size"),
    "agent.critic_actor_ratio": _utd,
    "agent.augmentation": _fixed(True, "its replay buffer shifts every sampled image by up to 4 pixels (DrQ's "
                                       "random shift; use_drq is on and the learner does not turn it off)"),
    "agent.crop_padding": _fixed(4, "the replay buffer's random shift pads by 4 pixels"),
    "agent.encoder.freeze": _field("policy.freeze_vision_encoder"),
    "agent.encoder.num_spatial_features": _field("policy.image_embedding_pooling_dim"),
    "buffer.online_capacity": _field("policy.online_buffer_capacity"),
    "buffer.demo_ratio": _demo_ratio,
    "env.control_hz": _field("env.fps"),
    "env.action_scale": _action_scale,
    "env.reward.min_steps_before_success": _classifier(0),
    "env.reward.consecutive_success_frames": _classifier(1),
    "train.demo_episodes": lambda c: (UNMAPPED, "how many episodes the dataset holds is not in the config"),
}
"""Per reference parameter (config_audit.REFERENCE), how LeRobot's learner arrives at its value."""


def is_lerobot_config(raw: dict[str, Any]) -> bool:
    policy = raw.get("policy")
    return isinstance(policy, dict) and (policy.get("type") == "sac" or "utd_ratio" in policy)


def _unread(tree: dict[str, Any], read: set[str], prefix: str = "") -> list[str]:
    """Paths of the file that no rule read: a whole section once when nothing in it was read."""
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if _ignored(path) or path in read:
            continue
        if isinstance(value, dict) and value and any(r.startswith(path + ".") for r in read):
            out += _unread(value, read, path + ".")
        else:
            out.append(path)
    return out


def _ignored(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") or (p.endswith("_") and path.startswith(p))
               for p in IGNORED_PREFIXES)


def _notes(c: _Config) -> list[str]:
    notes = []
    discrete, source = c.get("policy.num_discrete_actions")
    if discrete is None:
        notes.append(f"{source} = None: no grasp critic; the gripper is one more continuous action dimension "
                     "(HIL-SERL learns the gripper with a grasp critic over close, stay and open: "
                     "policy.num_discrete_actions = 3)")
    else:
        notes.append(f"{source} = {discrete}: a grasp critic over {discrete} gripper actions, as HIL-SERL's")
    clip, source = c.get("policy.grad_clip_norm")
    notes.append(f"{source} = {clip}: every network's gradient norm is clipped at {clip}; hilserl has no such "
                 "setting to compare")
    std_max, source = c.get("policy.policy_kwargs.std_max")
    c.get("policy.policy_kwargs.std_min")
    notes.append(f"{source} = {std_max}: the actor's largest standard deviation (hilserl: agent.std_max)")
    for path in ("policy.offline_buffer_capacity", "policy.online_step_before_learning",
                 "policy.vision_encoder_name"):
        value, source = c.get(path)
        notes.append(f"{source} = {value}")
    return notes


def audit_lerobot(raw: dict[str, Any]) -> LeRobotAudit:
    """Each reference parameter as LeRobot's learner would run it, against HIL-SERL's value."""
    c = _Config(raw)
    rows = []
    for ref in REFERENCE:
        value, source = RULES[ref.path](c)
        if value is UNMAPPED:
            rows.append(AuditRow(ref.path, ref.value, "-", "unmapped", ref.why, ref.measured, ref.at_reference, source))
        else:
            status = "equal" if same(value, ref.value) else "different"
            rows.append(AuditRow(ref.path, ref.value, value, status, ref.why, ref.measured, ref.at_reference, source))
    notes = _notes(c)
    return LeRobotAudit(rows, _unread(raw, c.read), notes)


def audit_lines(result: LeRobotAudit) -> list[str]:
    lines = [f"a LeRobot SAC config, read as LeRobot {LEROBOT_VERSION}'s learner runs it:"]
    lines += [f"  {r.path} <- {r.source}" for r in result.rows]
    lines.append("LeRobot settings with no parameter of hilserl's to compare:")
    lines += [f"  {n}" for n in result.notes]
    if result.unmapped:
        lines.append(f"not mapped (no rule reads them): {', '.join(result.unmapped)}")
    return lines
