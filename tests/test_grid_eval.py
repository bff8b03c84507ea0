import json

import numpy as np

from hilserl.collect.failure_modes import MODES
from hilserl.config import EnvConfig
from hilserl.teleop.scripted import expert_policy
from hilserl.training.grid_eval import Grid, evaluate_grid, hardest_resets


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


def test_hardest_resets_put_the_cube_on_the_border_and_the_gripper_at_a_corner(state_env):
    cfg = state_env.config
    lo, hi = np.array(cfg.cube_region.low[:2]), np.array(cfg.cube_region.high[:2])
    resets = hardest_resets(cfg, 200, seed=3)
    assert resets == hardest_resets(cfg, 200, seed=3) and resets != hardest_resets(cfg, 200, seed=4)
    xy = np.array([r["cube_xy"] for r in resets])
    assert np.all((xy >= lo - 1e-12) & (xy <= hi + 1e-12))
    to_edge = np.minimum(np.abs(xy - lo), np.abs(xy - hi)).min(axis=1)
    np.testing.assert_allclose(to_edge, 0.0, atol=1e-12)  # every cube on the border...
    sides = {"x low": np.isclose(xy[:, 0], lo[0]), "x high": np.isclose(xy[:, 0], hi[0]),
             "y low": np.isclose(xy[:, 1], lo[1]), "y high": np.isclose(xy[:, 1], hi[1])}
    assert all(on.sum() > 20 for on in sides.values())  # ...along all four sides
    offsets = np.abs(np.array([r["ee_offset"] for r in resets]))
    np.testing.assert_allclose(offsets, np.broadcast_to(cfg.ee_reset_offset, offsets.shape))
    assert len({tuple(np.sign(r["ee_offset"])) for r in resets}) == 8  # all eight corners
    yaws = np.array([r["cube_yaw"] for r in resets])
    assert np.all(np.abs(yaws) <= cfg.cube_yaw_range) and yaws.std() > cfg.cube_yaw_range / 3
    # The env starts where they say: the cube on the border, the fingertip at the corner.
    for options in resets[:3]:
        state_env.reset(seed=0, options=options)
        truth = state_env.true_state()
        np.testing.assert_allclose(truth.cube_pos[:2], options["cube_xy"], atol=0.003)
        np.testing.assert_allclose(state_env.unwrapped._target, np.array(cfg.ee_base) + options["ee_offset"])


def test_eval_command_on_a_trained_checkpoint(tmp_path, capsys):
    from hilserl.cli import main
    from hilserl.config import load_config
    from hilserl.training.checkpoint import latest_checkpoint
    from hilserl.training.evaluate import EVAL_SEED_OFFSET
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
    summary = json.loads(out.with_suffix(".json").read_text())  # why each failed cell failed
    assert len(summary["failures"]) == round((1 - summary["success_rate"]) * 4) > 0
    assert all(f["failure"]["mode"] in MODES and len(f["cell"]) == 3 for f in summary["failures"])
    assert f"why the {len(summary['failures'])} failures failed: " in text
    # Seeded resets at the edge of the range; asked for without --episodes, a message.
    policy = str(tmp_path / "checkpoints" / "policy.safetensors")
    assert main(["eval", "--checkpoint", policy, "--episodes", "3", "--hardest"]) == 0
    text = capsys.readouterr().out
    assert "hardest resets: success over 3 seeded resets" in text
    # Each episode's outcome and start, in the run folder (named by what was graded), and their map.
    outcomes = json.loads((tmp_path / "hardest_resets_policy.json").read_text())
    assert f"each episode's outcome: {tmp_path / 'hardest_resets_policy.json'}" in text
    assert [e["seed"] for e in outcomes["per_episode"]] == [EVAL_SEED_OFFSET + cfg.seed + i for i in range(3)]
    assert outcomes["success_rate"] == np.mean([e["success"] for e in outcomes["per_episode"]])
    drawn = hardest_resets(cfg.env, 3, seed=EVAL_SEED_OFFSET + cfg.seed)
    np.testing.assert_allclose([e["cube_start"][:2] for e in outcomes["per_episode"]],
                               [d["cube_xy"] for d in drawn], atol=0.003)  # where the cube really started
    np.testing.assert_allclose([e["cube_start_yaw"] for e in outcomes["per_episode"]],
                               [d["cube_yaw"] for d in drawn], atol=0.01)
    assert (tmp_path / "hardest_resets_policy.png").stat().st_size > 5000
    failed = [e for e in outcomes["per_episode"] if not e["success"]]  # 100 env steps: some fail
    assert failed and all(e["failure"]["mode"] in MODES for e in failed)
    assert f"why the {len(failed)} failures failed: " in text
    # A checkpoint folder is graded into its run folder, not into the checkpoint.
    ckpt = latest_checkpoint(tmp_path)
    assert main(["eval", "--checkpoint", str(ckpt), "--episodes", "2"]) == 0
    assert len(json.loads((tmp_path / f"resets_{ckpt.name}.json").read_text())["per_episode"]) == 2
    assert not list(ckpt.glob("resets*")) and not (ckpt / "failures").exists()
    assert main(["eval", "--checkpoint", policy, "--hardest"]) == 2
    assert "--hardest draws the resets of --episodes N" in capsys.readouterr().err
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


def test_eval_takes_config_and_set_over_the_runs_own_and_seed_moves_its_episodes(tmp_path, capsys, monkeypatch):
    """``--set seed=1`` moves the grid's episode seeds off those the run's closing evaluation used;
    another env is refused; on an env the grid cannot place, eval points at --episodes."""
    import json

    from hilserl.cli import main
    from hilserl.config import load_config
    from hilserl.training.train import train

    small = ["env.state_only=true", "train.env_steps=40", "train.learning_starts=20", "agent.hidden_dims=[16]",
             "agent.batch_size=8", "env.episode_seconds=4", "train.demo_episodes=1"]
    train(load_config(None, small), tmp_path, progress=False, tensorboard=False)
    import hilserl.training.grid_eval as grid_eval

    seen = []
    real = grid_eval.run_episode
    monkeypatch.setattr(grid_eval, "run_episode", lambda env, policy, seed, **kw: (seen.append(seed),
                                                                                   real(env, policy, seed=seed, **kw))[1])
    for seed in (0, 1):
        assert main(["eval", "--checkpoint", str(tmp_path), "--nx", "1", "--ny", "1", "--nyaw", "1", "--seeds", "3",
                     "--out", str(tmp_path / f"map{seed}.png"), "--set", f"seed={seed}"]) == 0
    assert seen == [0, 1, 2, 3, 4, 5]
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path), "--set", "env.kind=\"hilserl/PlanarReach-v0\""]) == 2
    assert "another env" in capsys.readouterr().err

    reach = tmp_path / "reach"
    train(load_config(None, ["env.kind=\"hilserl/PlanarReach-v0\"", *small[1:-2], "train.demo_episodes=1"]), reach,
          progress=False, tensorboard=False)
    assert main(["eval", "--checkpoint", str(reach)]) == 2
    err = capsys.readouterr().err
    assert f"hilserl eval --checkpoint {reach} --episodes 50" in err and "env.kind=sim" not in err
    assert json.loads((reach / "config.json").read_text())["env"]["kind"] == "hilserl/PlanarReach-v0"


def test_eval_drawing_arm_actions_repeats_itself_and_says_how_it_acted(tmp_path, capsys):
    """``--set agent.eval_actions=sample`` (HIL-SERL's evaluation): the arm's actions drawn from the
    actor with a stream seeded per evaluation, so the same episodes twice and other ones than the
    mean's; the lines and the outcome file say how the policy acted, and the file is named so that
    the mean's grading of the same checkpoint is kept beside it."""
    from hilserl.cli import main
    from hilserl.config import load_config
    from hilserl.training.train import train

    small = ["env.state_only=true", "train.env_steps=40", "train.learning_starts=20", "agent.hidden_dims=[16]",
             "agent.batch_size=8", "env.episode_seconds=4", "train.demo_episodes=1"]
    train(load_config(None, small), tmp_path, progress=False, tensorboard=False)
    outcomes, lines = {}, {}
    for name, extra in (("mean", []), ("sample", ["--set", "agent.eval_actions=sample"]),
                        ("sample again", ["--set", "agent.eval_actions=sample"])):
        assert main(["eval", "--checkpoint", str(tmp_path), "--episodes", "3", *extra]) == 0
        lines[name] = capsys.readouterr().out
        outcomes[name] = json.loads((tmp_path / ("resets.json" if name == "mean" else "resets_sampled.json"))
                                    .read_text())
    assert json.loads((tmp_path / "resets.json").read_text()) == outcomes["mean"]  # not overwritten
    assert "(the actor's mean action, no interventions)" in lines["mean"]
    assert "(arm actions drawn from the actor, no interventions)" in lines["sample"]
    assert outcomes["sample"]["acting"] == "arm actions drawn from the actor"
    assert outcomes["sample"] == outcomes["sample again"]
    assert outcomes["sample"]["per_episode"] != outcomes["mean"]["per_episode"]
    # The live weights instead of the policy average (the trained policy): said, and kept apart too.
    assert main(["eval", "--checkpoint", str(tmp_path), "--episodes", "3", "--set", "agent.policy_average_rate=0"]) == 0
    assert "(the actor's mean action, live weights, no interventions)" in capsys.readouterr().out
    assert json.loads((tmp_path / "resets_live.json").read_text())["acting"] == "the actor's mean action, live weights"
    assert json.loads((tmp_path / "resets.json").read_text()) == outcomes["mean"]
    # The grid's success map too, by default in the run folder, each way under its own name.
    grid = ["--nx", "1", "--ny", "1", "--nyaw", "1", "--seeds", "1"]
    assert main(["eval", "--checkpoint", str(tmp_path), *grid, "--set", "agent.eval_actions=sample"]) == 0
    assert f"wrote {tmp_path / 'success_map_sampled.png'}" in capsys.readouterr().out
    assert not (tmp_path / "success_map.png").exists()
    assert main(["eval", "--checkpoint", str(tmp_path), *grid]) == 0
    maps = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("success_map", "success_map_sampled")}
    assert maps["success_map"]["acting"] == "the actor's mean action"
    assert maps["success_map_sampled"]["acting"] == "arm actions drawn from the actor"
