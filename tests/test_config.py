import math

import pytest

from hilserl.config import CameraConfig, Config, ConfigError, EnvConfig, from_dict, load_config, to_dict


def test_defaults_are_the_reference_values():
    cfg = Config()
    cfg.validate()
    assert cfg.env.control_hz == 10 and cfg.env.max_episode_steps == 80
    assert cfg.env.action_scale == 0.02
    assert cfg.env.ee_reset_offset == (0.03, 0.03, 0.02)
    assert cfg.env.reward.min_steps_before_success == 30
    assert cfg.env.reward.consecutive_success_frames == 10


@pytest.mark.parametrize(
    "override, field",
    [
        ("env.action_scale=-0.02", "env.action_scale"),
        ("env.ee_reset_offset=[0.2,0.03,0.02]", "env.ee_bounds"),
        ('env.cameras=[{"name":"top"}]', "env.cameras[0].name"),
        ('env.cameras=[{"name":"wrist","crop":[0,480,80,560]}]', "env.cameras[0].crop"),
        ("env.cube_region.high=[0.5,0.05,0]", "env.cube_region"),
        ("human.strategy=always", "human.strategy"),
        ("env.physics_timestep=0.003", "env.physics_timestep"),
        ("env.reward.consecutive_success_frames=0", "env.reward.consecutive_success_frames"),
    ],
)
def test_bad_values_are_refused_naming_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [override])


def test_out_of_range_message_gives_the_range():
    with pytest.raises(ConfigError, match=r"allowed \(0.0, 0.1\]"):
        load_config(None, ["env.action_scale=-1"])


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown field 'speed'"):
        load_config(None, ["env.speed=3"])


def test_roundtrip_through_json_dict(tmp_path):
    cfg = load_config(None, ['env.cameras=[{"name":"wrist","size":64,"render_size":256,"crop":[0,240,16,240]}]'])
    again = from_dict(Config, to_dict(cfg))
    assert again == cfg
    assert again.env.cameras == (CameraConfig("wrist", 64, 256, (0, 240, 16, 240)),)


def test_yaw_range_limit():
    with pytest.raises(ConfigError, match="cube_yaw_range"):
        EnvConfig(cube_yaw_range=4.0).validate()
    EnvConfig(cube_yaw_range=math.pi / 2).validate()


@pytest.mark.parametrize(
    "override, message",
    [
        # Python's spelling of a boolean was stored as the string "False", which is true: state-only
        # training with privileged state, silently.
        ("env.state_only=False", r"env.state_only = 'False': expected true or false"),
        ("env.state_only=1", r"env.state_only = 1: expected true or false"),
        ("env.action_scale=abc", r"env.action_scale = 'abc': expected a number"),
        ("agent.hidden_dims=256", r"agent.hidden_dims = 256: expected a list"),
        ("agent.hidden_dims=[256,1.5]", r"agent.hidden_dims\[1\] = 1.5: expected a whole number"),
        ("env=5", r"env = 5: expected an object of fields"),
        ('agent.activation="sigmoid"', r"agent.activation = 'sigmoid': expected one of 'tanh', 'relu'"),
        ('agent.encoder.backbone="resnet50"', r"agent.encoder.backbone = 'resnet50': expected one of 'resnet10'"),
        ("buffer.online_capacity=1.5", r"buffer.online_capacity = 1.5: expected a whole number"),
        ("seed=1.5", r"seed = 1.5: expected a whole number"),
        ("env.ee_base=[0.2,0.0]", r"env.ee_base = \[0.2, 0.0\]: expected a list of 3 values"),
        ('env.cameras=[{"name":"wrist","size":"big"}]', r"env.cameras\[0\].size = 'big': expected a whole number"),
        ("agent.std_min=10", r"agent.std_min = 10.0 must be under agent.std_max = 5.0"),
        ("train.learning_starts=20000", r"train.learning_starts = 20000 is above train.env_steps = 15000"),
    ],
)
def test_values_of_the_wrong_type_or_inconsistent_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_well_typed_values_still_pass():
    cfg = load_config(None, ["env.state_only=true", "agent.hidden_dims=[64,64]", "env.action_scale=0.03",
                             "agent.critic_subsample_size=null", "buffer.demo_ratio=1", 'env.cameras=[{"name":"front"}]'])
    assert cfg.env.state_only is True and cfg.agent.hidden_dims == (64, 64)
    assert cfg.buffer.demo_ratio == 1.0 and isinstance(cfg.buffer.demo_ratio, float)
    assert cfg.env.cameras == (CameraConfig("front"),)


def test_a_bad_value_is_refused_before_any_work(tmp_path, capsys):
    from hilserl.cli import main

    assert main(["train", "--single-process", "--run-dir", str(tmp_path / "run"), "--set", "env.state_only=False"]) == 2
    assert "env.state_only = 'False': expected true or false" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "x", "--nx", "0"], "argument --nx: 0 is out of range; allowed 1 to 100"),
    (["eval", "--checkpoint", "x", "--seeds", "0"], "argument --seeds: 0 is out of range"),
    (["report", "x", "--window", "-5"], "argument --window: -5 is out of range"),
    (["train", "--threads", "0"], "argument --threads: 0 is out of range"),
    (["train", "--eval-seeds", "two"], "argument --eval-seeds: expected a whole number, got 'two'"),
    (["learner", "--port", "70000"], "argument --port: 70000 is out of range; allowed 0 to 65535"),
    (["actor", "--learner", "h:1", "--patience", "-1"], "argument --patience: -1 is out of range"),
])
def test_numeric_options_are_refused_out_of_range(argv, message, capsys):
    from hilserl.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_loopback_addresses_and_a_tokenless_learner_beyond_them(tmp_path):
    from hilserl.distributed.learner_process import run_learner
    from hilserl.distributed.service import TokenRequired, is_loopback

    assert all(is_loopback(h) for h in ("localhost", "127.0.0.1", "127.3.2.1", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "[::]", "192.168.1.4", "example.org"))
    cfg = load_config(None, ["env.state_only=true", "train.demo_episodes=20"])
    with pytest.raises(TokenRequired, match="HILSERL_TOKEN"):  # before any demo is recorded
        run_learner(cfg, tmp_path / "open", host="0.0.0.0", port=0, progress=False, tensorboard=False, insecure=True)
    with pytest.raises(TokenRequired, match="without TLS"):
        run_learner(cfg, tmp_path / "open", host="0.0.0.0", port=0, progress=False, tensorboard=False)
    assert not (tmp_path / "open").exists()


def test_every_command_takes_config_and_set_or_the_help_names_it_as_taking_neither():
    import argparse

    from hilserl.cli import COMMON_HELP, NO_CONFIG_COMMANDS, build_parser

    def leaves(parser, prefix=""):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    yield from leaves(sub, f"{prefix}{name} ") if nested else [(f"{prefix}{name}", sub)]

    commands = dict(leaves(build_parser()))
    assert {"train", "eval", "actor", "learner", "report", "diagnose config"} <= set(commands)
    without = set()
    for name, parser in commands.items():
        options = {o for a in parser._actions for o in a.option_strings}
        if not {"--config", "--set"} <= options:
            assert not {"--config", "--set"} & options, name  # both or neither
            without.add(name)
    assert without == set(NO_CONFIG_COMMANDS)
    assert ", ".join(NO_CONFIG_COMMANDS) + " read and write files only" in " ".join(COMMON_HELP.split())


@pytest.mark.parametrize("penalty", [["env.grasp_penalty=0"], ["env.grasp_penalty_on=release"]])
def test_a_margin_that_reads_changes_from_the_penalty_needs_a_penalty_on_every_change(penalty):
    """Under another penalty the rows that changed the gripper cannot be told: refused, not ignored."""
    margin = ["agent.grasp_demo_margin=0.05", "agent.grasp_demo_margin_rows=effects"]
    with pytest.raises(ConfigError, match="agent.grasp_demo_margin_rows"):
        load_config(None, [*margin, *penalty])
    load_config(None, [margin[0], "agent.grasp_demo_margin_rows=all", *penalty])
    load_config(None, margin)
