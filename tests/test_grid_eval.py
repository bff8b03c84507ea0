import numpy as np

from hilserl.config import EnvConfig
from hilserl.diagnostics.grid_eval import Grid, evaluate_grid
from hilserl.teleop.expert import expert_policy


def test_grid_covers_the_configured_ranges():
    cfg = EnvConfig()
    grid = Grid.covering(cfg, 4, 3, 5)
    assert len(grid.cells()) == 60
    assert min(grid.xs) == cfg.cube_region.low[0] and max(grid.xs) == cfg.cube_region.high[0]
    assert min(grid.ys) == cfg.cube_region.low[1] and max(grid.ys) == cfg.cube_region.high[1]
    assert min(grid.yaws) == -cfg.cube_yaw_range and max(grid.yaws) == cfg.cube_yaw_range


def test_grid_places_the_cube_and_scores_the_expert(state_env):
    grid = Grid.covering(state_env.config, 2, 2, 1)
    result = evaluate_grid(expert_policy(state_env), state_env.config, grid, seeds=1, progress=False, env=state_env)
    assert result.success_rate == 1.0
    for (x, y, _), runs in result.episodes.items():
        np.testing.assert_allclose(runs[0].cube_start[:2], [x, y], atol=0.003)
    assert set(result.by_region(state_env.config.front_back_split_x)) == {"front", "back"}
