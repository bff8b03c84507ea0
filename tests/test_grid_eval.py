import numpy as np

from hilserl.config import EnvConfig
from hilserl.teleop.scripted import expert_policy
from hilserl.training.grid_eval import Grid, evaluate_grid


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
    assert set(result.by_region()) == {"front", "back"}


def test_eval_command_on_a_trained_checkpoint(tmp_path, capsys):
    from hilserl.cli import main
    from hilserl.config import load_config
    from hilserl.training.train import train

    cfg = load_config(None, ["env.state_only=true", "train.env_steps=100", "train.learning_starts=50",
                             "train.demo_episodes=1", "agent.hidden_dims=[16]", "agent.batch_size=8"])
    train(cfg, tmp_path, progress=False, tensorboard=False)
    out = tmp_path / "map.png"
    code = main(["eval", "--checkpoint", str(tmp_path / "checkpoints" / "policy.safetensors"),
                 "--nx", "2", "--ny", "2", "--nyaw", "1", "--seeds", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "success over the grid" in text and "front" in text and "back" in text
    assert out.exists() and out.stat().st_size > 5000
    # An output folder that cannot be written is refused before the evaluation, not after it
    # (/proc: a folder even root cannot write).
    code = main(["eval", "--checkpoint", str(tmp_path / "checkpoints" / "policy.safetensors"),
                 "--out", "/proc/hilserl_eval/map.png"])
    captured = capsys.readouterr()
    assert code == 2 and "the output folder /proc/hilserl_eval cannot be written" in captured.err
    assert "grid evaluation" not in captured.err  # no episode was run


def test_eval_of_a_missing_checkpoint_is_a_message_not_a_traceback(tmp_path, capsys):
    from hilserl.cli import main

    assert main(["eval", "--checkpoint", str(tmp_path / "checkpoints" / "policy.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err
