"""Why a failed pick episode failed, from the grasp env's own per-step truth, as ``hilserl eval`` and
the benchmarks record it."""

import numpy as np
import pytest

from hilserl.collect.failure_modes import (
    DROPPED,
    HELD_TOO_LATE,
    JAWS_OPENED,
    JAWS_SHUT,
    NEVER_GRASPED,
    NEVER_LIFTED,
    PUSHED_DISTANCE,
    failure_mode,
    first_close_line,
    modes_line,
)
from hilserl.collect.rollout import run_episode
from hilserl.envs.actions import GRIPPER_INDEX
from hilserl.teleop.scripted import expert_policy
from hilserl.training.evaluate import EVAL_SEED_OFFSET, episode_record, evaluate

CUBE = {"cube_xy": (0.2, 0.0), "cube_yaw": 0.0}


def test_the_modes_and_the_steps_that_place_them():
    g, lifted, neither = (True, False), (True, True), (False, False)
    assert failure_mode([]) is None  # an env without the keys
    assert failure_mode([neither] * 5) == {"mode": NEVER_GRASPED}
    assert failure_mode([neither, g, g, neither]) == {"mode": NEVER_LIFTED, "first_grasp_step": 2}
    assert failure_mode([neither, g, lifted, lifted, lifted, neither, lifted, neither]) == {
        "mode": DROPPED, "first_grasp_step": 2, "longest_hold_steps": 3, "dropped_at_step": 8}
    assert failure_mode([neither, g, lifted, lifted]) == {
        "mode": HELD_TOO_LATE, "first_grasp_step": 2, "longest_hold_steps": 2}
    dropped = [neither, g, lifted, lifted, neither]
    assert failure_mode(dropped, jaws_shut=[False, True, True, True, True])["jaws"] == JAWS_SHUT
    assert failure_mode(dropped, jaws_shut=[False, True, True, False, False])["jaws"] == JAWS_OPENED
    assert "jaws" not in failure_mode(dropped)  # an env without a discrete gripper


def test_the_grasp_env_reports_a_policy_that_lets_go_and_one_that_never_closes(state_env):
    expert = expert_policy(state_env)

    def lets_go_after(step_limit):
        steps = []

        def policy(obs):
            action = expert(obs)
            steps.append(None)
            if len(steps) > step_limit:
                action = np.array(action, np.float32)
                action[GRIPPER_INDEX] = 1.0  # open
            return action
        return policy

    dropped = run_episode(state_env, lets_go_after(24), seed=0, options=CUBE)
    assert not dropped.success  # the success rule needs the cube held until step 30
    record = episode_record(0, dropped)["failure"]
    assert record["mode"] == DROPPED and record["dropped_at_step"] <= 27 and record["longest_hold_steps"] >= 3
    assert record["jaws"] == JAWS_OPENED

    idle = run_episode(state_env, lambda obs: np.zeros(state_env.action_space.shape, np.float32), seed=0,
                       options=CUBE)
    start = state_env.unwrapped.true_state().distance  # the arm stood still: as far as at the reset
    record = episode_record(0, idle)["failure"]
    assert record["mode"] == NEVER_GRASPED and record["close_commands"] == 0
    assert record["closest_distance"] == pytest.approx(start, abs=2e-3) and start > 0.02
    assert "failure" not in episode_record(0, run_episode(state_env, expert_policy(state_env), seed=0, options=CUBE))

    line = modes_line([episode_record(0, dropped), episode_record(1, idle)])
    assert line.startswith(f"why the 2 failures failed: 1 never grasped (1 never commanded a close, within "
                           f"{start * 1000:.0f} mm of the object at the closest, median), 1 lifted, then dropped (at step ")
    assert line.endswith(", median; 0 with the jaws shut, 1 opened)")


def test_a_drop_with_the_jaws_shut_is_told_from_one_that_opened_them(state_env):
    """Lowering a lifted cube with the jaws kept shut loses the lift as opening them does; the record
    says which, so a grasp that does not hold is not read as a grasp decision that let go."""
    expert = expert_policy(state_env)
    steps = []

    def lowers_after_24(obs):
        action = np.array(expert(obs), np.float32)
        steps.append(None)
        if len(steps) > 24:
            action[:] = 0.0
            action[2] = -1.0  # down
            action[GRIPPER_INDEX] = -1.0  # close
        return action

    lowered = run_episode(state_env, lowers_after_24, seed=0, options=CUBE).failure()
    assert lowered["mode"] == DROPPED and lowered["dropped_at_step"] > 25 and lowered["jaws"] == JAWS_SHUT
    assert modes_line([{"failure": lowered}]).endswith(", median; 1 with the jaws shut, 0 opened)")


def test_a_policy_that_reaches_the_cube_and_never_closes_is_told_from_one_that_closes_on_nothing(state_env):
    """The grasp decision's failure (at the cube, jaws open) and the aim's (closing beside it) differ
    in what the record says: close commands and the closest approach."""
    expert = expert_policy(state_env)

    def never_closes(obs):
        action = np.array(expert(obs), np.float32)
        if action[GRIPPER_INDEX] < -0.5:
            action[GRIPPER_INDEX] = 0.0  # stay open where the expert closes
        return action

    def closes_from_the_start(obs):
        action = np.zeros(state_env.action_space.shape, np.float32)
        action[2] = 1.0  # up, away from the cube
        action[GRIPPER_INDEX] = -1.0
        return action

    stalled = run_episode(state_env, never_closes, seed=0, options=CUBE).failure()
    assert stalled["mode"] == NEVER_GRASPED and stalled["close_commands"] == 0
    assert stalled["closest_distance"] < 0.01  # the expert's aim took it to the cube
    blind = run_episode(state_env, closes_from_the_start, seed=0, options=CUBE).failure()
    assert blind["mode"] == NEVER_GRASPED and blind["close_commands"] == 80 and blind["closest_distance"] > 0.02
    line = modes_line([{"failure": stalled}, {"failure": blind}])
    assert "2 never grasped (1 never commanded a close, within " in line


def test_an_approach_that_pushes_the_cube_away_is_told_from_one_that_stops_short(state_env):
    """A policy that reaches the cube with its jaws open and sweeps on (the arm's approach to fix) moves
    the cube its whole way; one that stands still moves nothing; the line counts the first."""
    expert = expert_policy(state_env)
    swept = []

    def sweeps_through(obs):
        action = np.array(expert(obs), np.float32)
        action[GRIPPER_INDEX] = 0.0  # never close
        if swept or state_env.unwrapped.true_state().distance < 0.01:
            swept.append(None)
            action[:] = 0.0
            action[1] = 1.0  # sideways, through where the cube stands
        return action

    pushed = run_episode(state_env, sweeps_through, seed=0, options=CUBE).failure()
    assert pushed["mode"] == NEVER_GRASPED and pushed["close_commands"] == 0
    assert pushed["object_moved"] > 2 * PUSHED_DISTANCE
    idle = run_episode(state_env, lambda obs: np.zeros(state_env.action_space.shape, np.float32), seed=0,
                       options=CUBE).failure()
    assert idle["object_moved"] < 1e-3
    line = modes_line([{"failure": pushed}, {"failure": idle}])
    assert line.endswith(f"; 1 pushed the object 2 cm or more, {pushed['object_moved'] * 1000:.0f} mm median)")
    assert "pushed" not in modes_line([{"failure": idle}])  # said only of cubes that were pushed


def test_where_the_first_close_was_commanded_tells_an_early_grasp_from_one_at_the_cube(state_env):
    """The expert closes at the cube; a policy closing at once decides where the reset left it, and
    the line says both, successes against failures."""
    def closes_at_once(obs):
        action = np.zeros(state_env.action_space.shape, np.float32)
        action[GRIPPER_INDEX] = -1.0
        return action

    state_env.reset(seed=0, options=CUBE)
    start = state_env.unwrapped.true_state().distance
    early = episode_record(0, run_episode(state_env, closes_at_once, seed=0, options=CUBE))
    assert early["first_close_step"] == 1 and early["first_close_distance"] == pytest.approx(start, abs=1e-4)
    expert = episode_record(1, run_episode(state_env, expert_policy(state_env), seed=0, options=CUBE))
    assert expert["success"] and expert["first_close_step"] > 1 and expert["first_close_distance"] < 0.01
    idle = episode_record(2, run_episode(state_env, lambda obs: np.zeros(state_env.action_space.shape, np.float32),
                                         seed=0, options=CUBE))
    assert "first_close_step" not in idle and "first_close_distance" not in idle

    line = first_close_line([early, expert, idle])
    assert line == (f"the first close command, median: {expert['first_close_distance'] * 1000:.0f} mm from the "
                    f"object, step {expert['first_close_step']} in 1 success; {start * 1000:.0f} mm from the "
                    f"object, step 1 in 1 failure (1 failure never commanded one)")
    assert first_close_line([idle]) is None
    assert first_close_line([expert, expert, early, idle, idle]).endswith("in 2 successes; "
        f"{start * 1000:.0f} mm from the object, step 1 in 1 failure (2 failures never commanded one)")


def test_evaluate_grades_a_given_policy_on_the_same_seeded_resets(state_env):
    """A probe of a policy's decisions (``benchmarks.grasp_close_bonus``) is graded on the resets the
    agent's own policy is: the expert succeeds on them, the expert that never closes fails every one."""
    expert = expert_policy(state_env)

    def never_closes(obs):
        action = np.array(expert(obs), np.float32)
        if action[GRIPPER_INDEX] < -0.5:
            action[GRIPPER_INDEX] = 0.0
        return action

    cfg = state_env.config
    assert evaluate(None, cfg, 3, seed=0, env=state_env, policy=expert).success_rate == 1.0
    stalled = evaluate(None, cfg, 3, seed=0, env=state_env, policy=never_closes)
    assert stalled.success_rate == 0.0
    assert [e["seed"] for e in stalled.per_episode] == [EVAL_SEED_OFFSET + i for i in range(3)]
    assert {e["failure"]["mode"] for e in stalled.failures} == {NEVER_GRASPED}
