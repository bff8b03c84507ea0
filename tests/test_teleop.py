import numpy as np
import pytest

from hilserl.collect.rollout import run_episode
from hilserl.config import ConfigError, EnvConfig, HumanConfig
from hilserl.envs.actions import GRIPPER_INDEX
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY, gripper_class
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.envs.grasp_expert import ScriptedExpert
from hilserl.teleop.devices import GamepadState, GamepadTeleop, KeyboardTeleop, ScriptedGamepad, ScriptedKeys
from hilserl.teleop.interface import resolve
from hilserl.teleop.simulated_human import SimulatedHuman, watch_probability

AWAY = np.array([-1.0, -1.0, 1.0, 0.0], dtype=np.float32)
"""A policy that flees from the cube: up, back and to the side."""


def make_human(env, **kw):
    cfg = HumanConfig(**kw)
    expert = ScriptedExpert.for_task(env.config)
    return SimulatedHuman(cfg, expert, env.true_state, np.random.default_rng(0), control_hz=env.config.control_hz)


def intervention_flags(env, human, policy_action=AWAY, seed=0, episode=0):
    flags = []
    run_episode(env, lambda o: policy_action, human=human, seed=seed, episode_index=episode,
                on_transition=lambda t: flags.append(t.intervened))
    return np.array(flags)


def runs(flags):
    """Lengths of consecutive intervention runs."""
    lengths, n = [], 0
    for f in flags:
        if f:
            n += 1
        elif n:
            lengths.append(n)
            n = 0
    return lengths + ([n] if n else [])


def test_brief_explores_first_then_makes_short_corrections(state_env):
    human = make_human(state_env, strategy="brief", explore_seconds=(2.0, 3.0), correction_seconds=0.4,
                       cooldown_seconds=0.5)
    flags = intervention_flags(state_env, human)
    first = int(np.argmax(flags))
    assert flags.any() and 20 <= first <= 30  # the first 20-30 steps belong to the policy
    lengths = runs(flags)
    assert len(lengths) >= 3 and max(lengths) == 4  # several corrections, each 4 steps
    assert flags.mean() < 0.5  # the policy still acts most of the time


def test_the_human_keeps_its_timings_in_seconds_at_another_control_rate():
    """At 50 Hz the same config explores 100-150 steps and corrects for 20: the same 2-3 s and 0.4 s
    as 20-30 and 4 steps at 10 Hz, so that a correction still moves the arm as far."""
    env = GraspCubeEnv(EnvConfig(state_only=True, control_hz=50.0, action_scale=0.004))
    try:
        human = make_human(env, strategy="brief")
        assert (human.explore_range, human.correction_steps, human.cooldown_steps, human.stall_steps) == \
            ((100, 150), 20, 25, 50)
        flags = intervention_flags(env, human)
        first = int(np.argmax(flags))
        assert flags.any() and 100 <= first <= 150
        assert max(runs(flags)) == 20
    finally:
        env.close()


def test_older_runs_timings_in_steps_are_read_as_seconds_at_their_rate():
    from hilserl.config import Config, from_dict

    old = {"env": {"control_hz": 20.0}, "human": {"explore_steps": [20, 30], "correction_steps": 4, "cooldown_steps": 5}}
    human = from_dict(Config, old).human
    assert human.explore_seconds == (1.0, 1.5) and human.correction_seconds == 0.2 and human.cooldown_seconds == 0.25
    assert from_dict(Config, {"human": {"correction_steps": 4}}).human.correction_seconds == 0.4  # the default 10 Hz


def test_brief_leaves_a_policy_alone_while_it_approaches(state_env):
    human = make_human(state_env, strategy="brief", explore_seconds=(0, 0))
    state_env.reset(seed=0)
    expert = ScriptedExpert.for_task(state_env.config)
    flags = []
    run_episode(state_env, lambda o: expert.act(state_env.true_state()), human=human, seed=0,
                on_transition=lambda t: flags.append(t.intervened))
    assert not any(flags)


def test_takeover_keeps_control_to_the_end_and_succeeds(state_env):
    human = make_human(state_env, strategy="takeover", explore_seconds=(2.0, 2.0))
    flags = []
    result = run_episode(state_env, lambda o: AWAY, human=human, seed=1,
                         on_transition=lambda t: flags.append(t.intervened))
    assert not any(flags[:20]) and all(flags[20:])
    assert result.success  # long interventions that finish the task: the anti-pattern


def test_none_never_intervenes(state_env):
    human = make_human(state_env, strategy="none")
    assert not intervention_flags(state_env, human).any()


def test_schedule_lowers_the_watch_probability():
    cfg = HumanConfig(prob_start=1.0, prob_end=0.2, decay_episodes=100)
    probs = [watch_probability(cfg, e) for e in (0, 50, 100, 500)]
    assert probs == pytest.approx([1.0, 0.6, 0.2, 0.2])


def test_schedule_is_applied_per_episode(state_env):
    human = make_human(state_env, strategy="brief", prob_start=1.0, prob_end=0.0, decay_episodes=100)
    watched_early = np.mean([(human.reset(e), human.watching)[1] for e in range(0, 20)])
    watched_late = np.mean([(human.reset(e), human.watching)[1] for e in range(100, 200)])
    assert watched_early > 0.7 and watched_late == 0.0


def test_bad_strategy_is_refused(state_env):
    with pytest.raises(ConfigError, match="human.strategy"):
        make_human(state_env, strategy="sometimes")


def test_resolve_routes_the_flag():
    a = np.zeros(4, np.float32)
    action, flag = resolve(a, KeyboardTeleop(ScriptedKeys()).step(a))
    assert flag is False and action is a


def test_keyboard_toggle_and_mapping():
    frames = [
        (set(), set()),
        ({"space"}, {"space"}),  # toggle on
        ({"up", "w"}, set()),
        ({"left", "c"}, set()),
        ({"o"}, set()),
        ({"space"}, {"space"}),  # toggle off
    ]
    kb = KeyboardTeleop(ScriptedKeys(list(frames)))
    zero = np.zeros(4, np.float32)
    out = [kb.step(zero) for _ in frames]
    assert not out[0].active and out[1].active and not out[5].active
    np.testing.assert_array_equal(out[2].action[:3], [1, 0, 1])
    assert gripper_class(out[2].action[GRIPPER_INDEX]) == GRIPPER_STAY
    np.testing.assert_array_equal(out[3].action[:3], [0, 1, 0])
    assert gripper_class(out[3].action[GRIPPER_INDEX]) == GRIPPER_CLOSE
    assert gripper_class(out[4].action[GRIPPER_INDEX]) == GRIPPER_OPEN


def test_gamepad_mapping_with_deadzone():
    pad = GamepadTeleop(ScriptedGamepad([
        GamepadState(left_x=0.5, left_y=-1.0, right_y=0.05, intervene=True, close=True),
        GamepadState(left_x=1.0, intervene=False),
    ]))
    zero = np.zeros(4, np.float32)
    first, second = pad.step(zero), pad.step(zero)
    np.testing.assert_allclose(first.action[:3], [1.0, -0.5, 0.0])
    assert gripper_class(first.action[GRIPPER_INDEX]) == GRIPPER_CLOSE
    assert not second.active


def test_teleop_device_can_complete_an_episode_in_the_sim():
    """A synthetic key stream drives the real env: intervention flags reach the transitions."""
    env = GraspCubeEnv(EnvConfig(state_only=True))
    frames = [({"space"}, {"space"})] + [({"w"}, set())] * 5
    kb = KeyboardTeleop(ScriptedKeys(frames))
    flags, zs = [], []
    run_episode(env, lambda o: np.zeros(4, np.float32), human=kb, seed=0,
                on_transition=lambda t: (flags.append(t.intervened), zs.append(t.next_observation["state"][14])))
    assert all(flags)  # toggled on at the first step and never off
    assert zs[5] > zs[0] + 0.02  # five steps of "up" raised the gripper


def test_keyboard_and_gamepad_turn_the_jaws_where_the_action_has_a_yaw():
    """With ``env.jaw_yaw_action`` the devices give 5 values, the yaw before the gripper command: 'a'
    and 'd' (the right stick's horizontal) turn the jaws, and a key stream turns the real env's jaws."""
    kb = KeyboardTeleop(ScriptedKeys([({"space", "a", "c"}, {"space"}), ({"d", "up"}, set())]), yaw=True)
    zero = np.zeros(5, np.float32)
    first, second = kb.step(zero), kb.step(zero)
    np.testing.assert_array_equal(first.action[:4], [0, 0, 0, 1])
    np.testing.assert_array_equal(second.action[:4], [1, 0, 0, -1])
    assert gripper_class(first.action[-1]) == GRIPPER_CLOSE and gripper_class(second.action[-1]) == GRIPPER_STAY
    pad = GamepadTeleop(ScriptedGamepad([GamepadState(right_x=-0.8, left_x=0.05, intervene=True, open=True)]),
                        yaw=True)
    out = pad.step(zero)
    np.testing.assert_allclose(out.action[:4], [0.0, 0.0, 0.0, 0.8])
    assert gripper_class(out.action[-1]) == GRIPPER_OPEN

    env = GraspCubeEnv(EnvConfig(state_only=True, jaw_yaw_action=True))
    frames = [({"space", "a"}, {"space"})] + [({"a"}, set())] * 3
    run_episode(env, lambda o: zero, human=KeyboardTeleop(ScriptedKeys(frames), yaw=True), seed=0)
    assert env.true_state().jaw_yaw > 0.6  # four steps of 'a' at 0.2 rad a step
    env.close()


def test_keyboard_and_gamepad_are_refused_on_an_action_they_do_not_drive():
    """They drive [dx, dy, dz, (dyaw,) gripper]: on an env whose action is laid out otherwise (the planar
    reach's 2 values) their values would land on the wrong axes, so the device is refused at start."""
    from hilserl.envs.planar_reach import PlanarReachEnv
    from hilserl.teleop.select import TeleopUnavailable, make_intervention

    env = PlanarReachEnv()
    for kind in ("keyboard", "gamepad"):
        with pytest.raises(TeleopUnavailable, match="this env's action has 2"):
            make_intervention(kind, env, EnvConfig(kind="hilserl/PlanarReach-v0"))
    env.close()
