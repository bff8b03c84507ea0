import json

from hilserl.cli import main
from hilserl.config import Config, to_dict
from hilserl.diagnostics.config_audit import REFERENCE, audit


def statuses(raw):
    return {r.path: r.status for r in audit(raw)}


def test_defaults_match_the_reference_everywhere():
    assert set(statuses(to_dict(Config())).values()) == {"equal"}


def test_each_planted_difference_is_found():
    raw = to_dict(Config())
    planted = {
        ("agent", "backup_entropy"): True,
        ("agent", "augmentation"): False,
        ("agent", "use_layer_norm"): False,
        ("agent", "temperature_init"): 1.0,
        ("agent", "discount"): 0.99,
        ("buffer", "online_capacity"): 30_000,
        ("agent", "critic_actor_ratio"): 20,
    }
    for (section, key), value in planted.items():
        raw[section][key] = value
    got = statuses(raw)
    for (section, key) in planted:
        assert got[f"{section}.{key}"] == "different", key
    assert sum(s == "different" for s in got.values()) == len(planted)


def test_keys_absent_from_the_file_are_missing():
    got = statuses({"agent": {"discount": 0.97}})
    assert got["agent.discount"] == "equal"
    assert got["agent.augmentation"] == "missing" and got["buffer.online_capacity"] == "missing"
    assert len(got) == len(REFERENCE)


def test_cli_prints_the_table_and_strict_fails_on_differences(tmp_path, capsys):
    path = tmp_path / "user.json"
    path.write_text(json.dumps({"agent": {"backup_entropy": True, "augmentation": False},
                                "buffer": {"online_capacity": 30000},
                                "env": {"reward": {"min_steps_before_success": 10}}}))
    assert main(["diagnose", "config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "agent.backup_entropy" in out and "✗ different" in out
    assert "a small online buffer forgets early successes" in out
    assert "measured: on the simulated grasp" in out and "benchmarks.log_ablation" in out  # the ablation's figure
    assert "benchmarks.grasp_images" in out  # the crops' figure, measured on images
    assert "--settings small_buffer" in out  # the log's buffer, scaled to a measured run
    assert "a step count the policy does not observe" in out and "92% instead of 88%" in out  # the success rule
    assert main(["diagnose", "config", str(path), "--strict"]) == 1


def test_a_cost_of_the_reference_value_itself_is_quoted_where_a_config_keeps_it(tmp_path, capsys):
    path = tmp_path / "log.json"  # the log's success rule: step 30, the reference
    path.write_text(json.dumps({"env": {"reward": {"min_steps_before_success": 30}}}))
    assert main(["diagnose", "config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "What the reference value itself costs, measured:" in out
    assert "- env.reward.min_steps_before_success = 30:" in out and "92% instead of 88%" in out
    assert "Why the differences matter" not in out  # nothing differs
    path.write_text(json.dumps({"env": {"reward": {"min_steps_before_success": 10}}}))
    assert main(["diagnose", "config", str(path)]) == 0
    assert "What the reference value itself costs" not in capsys.readouterr().out  # quoted once, as a difference
