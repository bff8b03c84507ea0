"""The env contract: layouts read from envs, the grasp penalty from gripper commands, the checker,
the agent sized from a layout, and the parts that need optional hooks refusing envs without them."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from hilserl.cli import main
from hilserl.config import AgentConfig, EnvConfig
from hilserl.envs.check import check_env
from hilserl.envs.contract import (
    ActionLayout,
    ContractViolation,
    GripperPenalty,
    ObservationLayout,
    TaskLayout,
    grasp_penalties,
    layout_of,
)
from hilserl.envs.factory import UnknownEnv, make_env, require_sim, task_layout

REACH = "hilserl/PlanarReach-v0"


class ToyEnv(gym.Env):
    """A minimal env for the checker: its spaces and steps are set per test."""

    metadata = {"render_fps": 5}

    def __init__(self, obs_space=None, action_space=None, gripper=False, bad_step=None):
        self.observation_space = obs_space or gym.spaces.Dict(
            {"state": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
             "cam": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)})
        self.action_space = action_space or gym.spaces.Box(-1.0, 1.0, (3 if gripper else 2,), np.float32)
        self.metadata = {**self.metadata, "discrete_gripper": gripper}
        self.bad_step = bad_step
        self.t = 0

    def _obs(self):
        return {"state": np.full(3, self.t, np.float32), "cam": np.zeros((8, 8, 3), np.uint8)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {"is_success": False}

    def step(self, action):
        self.t += 1
        obs, reward, info = self._obs(), 0.0, {"is_success": False}
        if self.bad_step == "nan reward":
            reward = float("nan")
        if self.bad_step == "no success":
            info = {}
        if self.bad_step == "image float":
            obs["cam"] = np.zeros((8, 8, 3), np.float32)
        return obs, reward, False, self.t >= 10, info


def test_layout_is_read_from_spaces_and_metadata():
    assert layout_of(ToyEnv()) == TaskLayout(ObservationLayout(3, {"cam": (8, 8, 3)}), ActionLayout(2, False))
    assert layout_of(ToyEnv(gripper=True)).action == ActionLayout(2, True)
    layout = task_layout(EnvConfig(state_only=True))
    assert layout.observation.image_shapes == {} and layout.action == ActionLayout(3, True)
    assert TaskLayout.from_dict(layout.to_dict()) == layout


@pytest.mark.parametrize("env, message", [
    (ToyEnv(obs_space=gym.spaces.Box(-1, 1, (3,), np.float32)), "must be a gymnasium.spaces.Dict"),
    (ToyEnv(obs_space=gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)})),
     r"no 'state' \(its keys: 'cam' Box\(0, 255, \(8, 8, 3\), uint8\)\).*1-D float32 Box"),
    (ToyEnv(obs_space=gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,), np.int64)})), "'state'.*float32 Box"),
    (ToyEnv(obs_space=gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,), np.float32), "pixels": gym.spaces.Dict(
        {"front": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)})})), r"'pixels'\] is a Dict \('front'\).*own key"),
    (ToyEnv(obs_space=gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,), np.float32),
                                       "cam": gym.spaces.Box(0, 1, (8, 8, 3), np.float32)})), "uint8 camera image"),
    (ToyEnv(action_space=gym.spaces.Box(-2.0, 2.0, (2,), np.float32)), r"span \[-1, 1\]"),
    (ToyEnv(action_space=gym.spaces.Discrete(3)), "1-D float32 Box"),
    (ToyEnv(action_space=gym.spaces.Box(-1.0, 1.0, (1,), np.float32), gripper=True), "at least one continuous"),
])
def test_layout_refuses_envs_that_break_the_contract(env, message):
    with pytest.raises(ContractViolation, match=message):
        layout_of(env)


def test_grasp_penalty_follows_the_gripper_commands():
    env = GripperPenalty(ToyEnv(gripper=True), -0.02)
    env.reset(seed=0)
    # close (open -> closed): penalised; stay; close again: free; open: penalised; open again: free
    commands = [-1.0, 0.0, -0.7, 0.9, 1.0, -1.0]
    got = [env.step(np.array([0.0, 0.0, c], np.float32))[4]["grasp_penalty"] for c in commands]
    assert got == [-0.02, 0.0, 0.0, -0.02, 0.0, -0.02]
    actions = np.array([[0.0, 0.0, c] for c in commands], np.float32)
    assert grasp_penalties(actions, 2, -0.02).tolist() == pytest.approx(got)  # recorded data, same rule
    env.reset(seed=0)  # the gripper starts open again
    assert env.step(np.array([0.0, 0.0, 1.0], np.float32))[4]["grasp_penalty"] == 0.0


def test_release_rule_leaves_the_grasp_free_and_charges_the_release():
    env = GripperPenalty(ToyEnv(gripper=True), -0.02, "release")
    env.reset(seed=0)
    # close: free; stay; open (undoing the close): penalised; open again: free; close: free; open: penalised
    commands = [-1.0, 0.0, 0.9, 1.0, -1.0, 1.0]
    got = [env.step(np.array([0.0, 0.0, c], np.float32))[4]["grasp_penalty"] for c in commands]
    assert got == [0.0, 0.0, -0.02, 0.0, 0.0, -0.02]
    actions = np.array([[0.0, 0.0, c] for c in commands], np.float32)
    assert grasp_penalties(actions, 2, -0.02, "release").tolist() == pytest.approx(got)
    with pytest.raises(ValueError, match="grasp penalty rule"):
        GripperPenalty(ToyEnv(gripper=True), -0.02, "closing")


def test_the_sim_with_its_gripper_gets_the_penalty_and_the_reach_does_not():
    sim = make_env(EnvConfig(state_only=True, grasp_penalty=-0.05))
    sim.reset(seed=0)
    assert sim.step(np.array([0, 0, 0, -1.0], np.float32))[4]["grasp_penalty"] == -0.05
    reach = make_env(EnvConfig(kind=REACH))
    reach.reset(seed=0)
    assert "grasp_penalty" not in reach.step(np.zeros(2, np.float32))[4]


def test_checker_passes_our_envs_and_names_what_a_broken_one_breaks():
    for env in (make_env(EnvConfig(state_only=True)), make_env(EnvConfig(kind=REACH)), ToyEnv()):
        result = check_env(env, steps=60)
        assert result.ok, result.problems
    reach = check_env(make_env(EnvConfig(kind=REACH)), steps=60)
    assert any("info['region'] absent" in n for n in reach.notes)
    assert any("hook scripted_expert offered" in n for n in reach.notes)
    for bad, message in [("nan reward", "the reward is nan"), ("no success", "info lacks 'is_success'"),
                         ("image float", "'cam' is float32")]:
        result = check_env(ToyEnv(bad_step=bad), steps=20)
        assert not result.ok and message in result.problems[0], result.problems
    assert not check_env(ToyEnv(obs_space=gym.spaces.Box(-1, 1, (3,), np.float32))).ok


def test_check_env_command_exit_status(capsys):
    assert main(["check-env", REACH, "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "action: 2 continuous dims; no discrete gripper: the grasp critic is off" in out
    assert "the env keeps the contract" in out
    assert main(["check-env", "CartPole-v1"]) == 1  # a Box observation, a discrete action
    assert "must be a gymnasium.spaces.Dict" in capsys.readouterr().out
    assert main(["check-env", "NoSuchEnv-v0"]) == 2
    assert "hilserl/PlanarReach-v0" in capsys.readouterr().err  # the message lists hilserl's envs


def test_unknown_kind_and_sim_only_tools_say_why():
    with pytest.raises(UnknownEnv, match="NoSuchEnv-v0"):
        make_env(EnvConfig(kind="NoSuchEnv-v0"))
    with pytest.raises(UnknownEnv, match="the grid evaluation needs the simulated grasp task"):
        require_sim(EnvConfig(kind=REACH), "the grid evaluation")


def test_agent_without_a_gripper_has_no_grasp_critic_and_acts_in_the_envs_dims():
    from hilserl.agent.sac import SACAgent

    agent = SACAgent(AgentConfig(hidden_dims=(16,), batch_size=4), 10, {}, action=ActionLayout(2, False), seed=0)
    assert agent.grasp_critic is None and agent.target_entropy == -1.0
    action = agent.act({"state": np.zeros(10, np.float32)})
    assert action.shape == (2,) and np.all(np.abs(action) <= 1.0)
    n = 4
    batch = {"obs": {"state": torch.zeros(n, 10)}, "next_obs": {"state": torch.zeros(n, 10)},
             "action": torch.zeros(n, 2), "reward": torch.ones(n), "grasp_penalty": torch.zeros(n),
             "terminated": torch.zeros(n)}
    info = agent.update([batch])
    assert "grasp_critic_loss" not in info and "critic_loss" in info
    assert not any(k.startswith("grasp_critic.") for k in agent.policy_state_dict())


def test_simulated_human_needs_the_hooks_and_says_how_to_do_without(tmp_path):
    from hilserl.config import Config
    from hilserl.teleop.scripted import MissingHook
    from hilserl.training.actor import Actor
    from hilserl.training.learner import build_agent

    gym.register(id="hilserl-test/Toy-v0", entry_point=ToyEnv)
    try:
        cfg = Config(env=EnvConfig(kind="hilserl-test/Toy-v0"))
        layout = task_layout(cfg.env)
        agent = build_agent(cfg, TaskLayout(ObservationLayout(3, {}), layout.action))
        with pytest.raises(MissingHook, match="human.strategy=none"):
            Actor(cfg, agent)
    finally:
        gym.registry.pop("hilserl-test/Toy-v0")


def test_import_hilserl_registers_its_envs():
    import subprocess
    import sys

    code = "import gymnasium, hilserl; print(sorted(k for k in gymnasium.registry if k.startswith('hilserl/')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("['hilserl/GraspCube-v0', 'hilserl/PandaPickCube-v0', 'hilserl/PandaPickCubeImages-v0', "
                           "'hilserl/PlanarReach-v0', 'hilserl/PlanarReachImages-v0']")


def test_settings_an_env_does_not_use_are_refused_and_the_run_records_what_the_env_does(tmp_path, capsys):
    """On an env that sets its own rate, length and success, env.* settings of the simulated grasp are
    refused naming the field (they used to change nothing in silence), the curriculum is refused
    without the env's reset option, config.json records the env's own figures, and the config audit
    marks what does not apply n/a, never equal."""
    import json

    from hilserl.cli import main
    from hilserl.config import ConfigError, load_config
    from hilserl.diagnostics.config_audit import audit
    from hilserl.envs.declared import declare

    kind = f"env.kind={json.dumps(REACH)}"
    for setting in ("env.episode_seconds=3", "env.control_hz=20", "env.state_only=true",
                    "env.reward.min_steps_before_success=5"):
        with pytest.raises(ConfigError, match=rf"{setting.split('=')[0]} = .*does not apply to env.kind"):
            declare(load_config(None, [kind, setting]))
    with pytest.raises(ConfigError, match="does not take the reset option 'reset_scale'"):
        declare(load_config(None, [kind, "train.curriculum.enabled=true"]))
    assert main(["check-env", REACH, "--set", "env.control_hz=20", "--steps", "10"]) == 2
    assert "env.control_hz = 20.0" in capsys.readouterr().err

    run = ["train", "--single-process", "--run-dir", str(tmp_path), "--threads", "1", "--eval-seeds", "0",
           "--set", kind, "--set", "train.env_steps=40", "--set", "train.learning_starts=20", "--set",
           "agent.hidden_dims=[16]", "--set", "agent.batch_size=8", "--set", "train.demo_episodes=1"]
    assert main(run) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["declared_env"] == {"kind": REACH, "control_hz": 10.0, "episode_steps": 40, "cameras": [],
                                     "gripper": False, "reset_options": []}
    assert saved["env"]["episode_seconds"] == 4.0  # the env's 40 steps at 10 Hz, not the grasp's 8 s
    rows = {r.path: r.status for r in audit(saved)}
    assert {rows[p] for p in ("env.control_hz", "env.action_scale", "env.reward.min_steps_before_success",
                              "env.reward.consecutive_success_frames")} == {"n/a"}
    assert rows["agent.discount"] == "equal"
    sim = {r.path: r.status for r in audit({"env": {"control_hz": 10.0}})}
    assert sim["env.control_hz"] == "equal"  # on the simulated grasp it applies


def test_check_env_tries_the_reset_options_an_env_declares(state_env):
    from hilserl.envs.check import check_env

    result = check_env(state_env, steps=5)
    assert "reset option 'reset_scale' declared and taken" in result.notes


def test_a_demo_folder_of_another_env_records_its_rate_and_none_of_the_grasps_settings(tmp_path):
    import json

    from hilserl.collect.demos import record_demos
    from hilserl.config import load_config
    from hilserl.envs.declared import declare

    cfg = declare(load_config(None, [f"env.kind={json.dumps(REACH)}"]))
    record_demos(cfg.env, 1, tmp_path, seed=0)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["fps"] == cfg.env.control_hz == 10
    assert not {"ee_base", "cube_region", "cameras", "robot", "state_only"} & set(meta["env"])
    assert meta["env"]["kind"] == REACH and "min_steps_before_success" not in meta["env"]["reward"]


@pytest.mark.parametrize("kind", ["sim", REACH])
def test_observe_elapsed_ends_the_state_with_the_share_of_the_episode_gone(kind):
    cfg = EnvConfig(kind=kind, state_only=True, observe_elapsed=True)
    plain = make_env(EnvConfig(kind=kind, state_only=True))
    env = make_env(cfg)
    limit = env.unwrapped.max_episode_steps
    assert layout_of(env).observation.state_dim == layout_of(plain).observation.state_dim + 1
    assert task_layout(cfg) == layout_of(env)
    assert check_env(env).problems == []
    obs, _ = env.reset(seed=3)
    plain_obs, _ = plain.reset(seed=3)
    np.testing.assert_array_equal(obs["state"][:-1], plain_obs["state"])
    shares, truncated, terminated = [obs["state"][-1]], False, False
    while not (terminated or truncated):
        obs, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        shares.append(obs["state"][-1])
        assert env.observation_space.contains(obs)
    np.testing.assert_allclose(shares, np.arange(len(shares)) / limit, atol=1e-6)
    assert truncated and shares[-1] == pytest.approx(1.0)
    assert env.reset()[0]["state"][-1] == 0.0


def test_observe_elapsed_refuses_an_env_that_declares_no_episode_length():
    from hilserl.envs.elapsed import ObserveElapsed

    with pytest.raises(ContractViolation, match="max_episode_steps"):
        ObserveElapsed(ToyEnv())
    declared = ToyEnv()
    declared.max_episode_steps = 10
    assert ObserveElapsed(declared).limit == 10


def test_an_envs_declared_facts_take_its_episode_length_from_the_hook_without_a_registration():
    from hilserl.envs.declared import declared_by

    unregistered = ToyEnv()
    assert unregistered.spec is None and declared_by(unregistered).episode_steps == 0
    unregistered.max_episode_steps = 25
    assert declared_by(unregistered).episode_steps == 25


def test_a_jaw_yaw_action_is_refused_on_the_real_arm():
    """The real SO-101 keeps [dx, dy, dz, gripper] (its teleop devices and safety limits know no yaw):
    ``env.jaw_yaw_action`` there is refused, naming the field, not ignored."""
    from hilserl.config import ConfigError, load_config
    from hilserl.envs.declared import declare

    declare(load_config(None, ["env.jaw_yaw_action=true"]))
    with pytest.raises(ConfigError, match=r"env.jaw_yaw_action = .*does not apply to env.kind"):
        declare(load_config(None, ["env.kind=so101", "env.jaw_yaw_action=true"]))
