"""hilserl diagnose config on LeRobot's SAC configs, as LeRobot 0.4.4 saves them (tests/data/lerobot/,
dumped by scripts/lerobot_fixtures.py in the LeRobot side environment)."""

import json
from pathlib import Path

import pytest

from hilserl.cli import main
from hilserl.diagnostics.config_audit import REFERENCE
from hilserl.diagnostics.lerobot_config import LEROBOT_DEFAULTS, RULES, audit_lerobot

FIXTURES = Path(__file__).parent / "data" / "lerobot"


def _load(name):
    return json.loads((FIXTURES / name).read_text())


def _value(tree, path):
    for part in path.split("."):
        tree = tree[part]
    return tree


def _rows(raw):
    return {r.path: r for r in audit_lerobot(raw).rows}


def test_the_defaults_the_audit_assumes_are_lerobots_own():
    dump = _load("sac_config_default.json")
    for path, value in LEROBOT_DEFAULTS.items():
        got = _value(dump, path)
        assert (list(got) if isinstance(got, (list, tuple)) else got) == value, path


def test_every_reference_parameter_has_a_rule():
    assert set(RULES) == {ref.path for ref in REFERENCE}


def test_lerobots_untouched_default_is_audited_with_lerobots_semantics(capsys):
    rows = _rows(_load("sac_config_default.json"))
    expected = {"agent.discount": (0.99, "different"), "agent.temperature_init": (1.0, "different"),
                "agent.backup_entropy": (True, "different"), "agent.activation": ("silu", "different"),
                "agent.batch_size": (8, "different"), "agent.critic_actor_ratio": (1, "different"),
                "env.control_hz": (30, "different"), "buffer.online_capacity": (100_000, "different"),
                "agent.augmentation": (True, "equal"), "agent.crop_padding": (4, "equal"),
                "agent.use_layer_norm": (True, "equal"), "buffer.demo_ratio": (0.5, "equal")}
    for path, (value, status) in expected.items():
        assert (rows[path].value, rows[path].status) == (value, status), path
    for path in ("env.action_scale", "env.reward.consecutive_success_frames", "train.demo_episodes"):
        assert rows[path].status == "unmapped", path
    assert not [r for r in rows.values() if r.status == "equal" and r.value == "-"]
    assert main(["diagnose", "config", str(FIXTURES / "sac_config_default.json"), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "policy.num_discrete_actions = None: no grasp critic" in out
    assert "policy.grad_clip_norm = 40.0" in out and "4 unmapped" in out


def test_the_guides_config_is_audited_with_its_classifier_and_steps():
    rows = _rows(_load("sac_config_guide.json"))
    assert (rows["agent.temperature_init"].value, rows["agent.temperature_init"].status) == (0.01, "equal")
    assert (rows["env.control_hz"].status, rows["env.action_scale"].value) == ("equal", 0.02)
    assert (rows["env.reward.consecutive_success_frames"].value, rows["env.reward.min_steps_before_success"].value) \
        == (1, 0)
    assert rows["env.reward.consecutive_success_frames"].status == "different"
    unmapped = audit_lerobot(_load("sac_config_guide.json")).unmapped
    assert "dataset.image_transforms" in unmapped and "policy.latent_dim" in unmapped
    assert not any(u.startswith(("policy.discount", "env.fps", "policy.utd_ratio")) for u in unmapped)


def test_the_temperature_learns_at_the_critics_rate_whatever_temperature_lr_says():
    raw = _load("sac_config_default.json")
    raw["policy"].update(temperature_lr=1e-3, critic_lr=3e-4)
    row = _rows(raw)["agent.temperature_lr"]
    assert (row.value, row.status) == (3e-4, "equal") and "temperature_lr is not read" in row.source


def test_actor_and_critic_sizes_are_both_read():
    raw = _load("sac_config_default.json")
    raw["policy"]["critic_network_kwargs"]["hidden_dims"] = [512, 512]
    row = _rows(raw)["agent.hidden_dims"]
    assert row.value == "actor [256, 256], critic [512, 512]" and row.status == "different"


@pytest.mark.parametrize("fields, path, value, source", [
    ({"discount": 0.97}, "agent.discount", 0.97, "policy.discount"),
    ({}, "agent.discount", 0.99, "policy.discount (LeRobot's default)"),
    ({"utd_ratio": 20}, "agent.critic_actor_ratio", 20, "policy.utd_ratio"),
])
def test_a_partial_config_takes_lerobots_defaults_and_says_so(fields, path, value, source):
    row = _rows({"policy": {"type": "sac", **fields}})[path]
    assert row.value == value and row.source.startswith(source)


def test_the_training_logs_settings_are_flagged(tmp_path, capsys):
    """The seed log's LeRobot config: UTD 20, a 30,000-transition buffer, the entropy in the target."""
    config = {"batch_size": 256, "dataset": {"repo_id": "user/so101_demos"}, "env": {"fps": 10},
              "policy": {"type": "sac", "discount": 0.99, "temperature_init": 1.0, "utd_ratio": 20,
                         "use_backup_entropy": True, "online_buffer_capacity": 30000}}
    path = tmp_path / "train_config.json"
    path.write_text(json.dumps(config))
    assert main(["diagnose", "config", str(path), "--strict"]) == 1
    out = capsys.readouterr().out
    for line in ("agent.critic_actor_ratio", "agent.backup_entropy", "buffer.online_capacity"):
        row = next(r for r in out.splitlines() if r.startswith(line))
        assert row.endswith("different"), row
    assert "measured: on the simulated grasp" in out
