import dataclasses

import numpy as np
import pytest

from hilserl.diagnostics.local_optimum import (
    REGION_GAP_LIMIT,
    TRACKING_GAIN_LIMIT,
    analyse,
    grasp_point,
    tracking_gain,
)
from hilserl.teleop.scripted import expert_policy
from hilserl.training.grid_eval import Grid, evaluate_grid

GRID = Grid(xs=(0.17, 0.25), ys=(-0.03, 0.03), yaws=(0.0,))
"""Two cells in front of the split (x > 0.21), two behind."""


def blind_policy(env, cube_xy=(0.25, -0.03)):
    """The expert, told the cube is always at ``cube_xy``: the user's "same grasp motion regardless
    of cube position". It succeeds only in the cell where the cube really is there."""
    return expert_policy(
        env, believe=lambda s: dataclasses.replace(s, cube_pos=np.array([*cube_xy, s.cube_pos[2]])))


def test_flags_fire_on_a_policy_that_ignores_the_cube(state_env):
    result = evaluate_grid(blind_policy(state_env), state_env.config, GRID, seeds=2, progress=False, env=state_env)
    report = analyse(result, state_env.config.front_back_split_x)
    assert report.by_region == {"back": 0.0, "front": 0.5}
    assert report.region_gap > REGION_GAP_LIMIT
    assert abs(report.tracking_gain) < 0.1 < TRACKING_GAIN_LIMIT
    assert len(report.flags) == 2 and report.flagged
    assert any("LOCAL OPTIMUM" in line for line in report.lines())


def test_flags_stay_quiet_on_the_scripted_expert(state_env):
    result = evaluate_grid(expert_policy(state_env), state_env.config, GRID, seeds=2, progress=False, env=state_env)
    report = analyse(result, state_env.config.front_back_split_x)
    assert report.region_gap == 0.0
    assert report.tracking_gain > 0.9
    assert not report.flags


def test_tracking_gain_is_the_slope_of_the_grasp_point_on_the_cube():
    cube = np.array([[0.16, -0.05], [0.26, 0.05], [0.21, 0.0], [0.16, 0.05]])
    assert tracking_gain(cube, cube * 0.5 + 0.01) == pytest.approx((0.5, 0.5))
    assert tracking_gain(cube, np.tile([0.2, 0.0], (4, 1))) == (0.0, 0.0)
    # A cube that never moves along y says nothing about y.
    assert tracking_gain(cube * [1, 0], cube)[1] == 0.0


def test_grasp_point_is_where_the_gripper_first_goes_lowest():
    path = [np.array([0.2, 0.0, 0.05]), np.array([0.22, 0.01, 0.01]), np.array([0.25, 0.03, 0.008]),
            np.array([0.1, 0.1, 0.05])]
    np.testing.assert_allclose(grasp_point(path), [0.22, 0.01])
