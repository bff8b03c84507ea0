import math

import pytest

from hilserl.config import CameraConfig, Config, ConfigError, EnvConfig, load_config, to_dict, from_dict


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
