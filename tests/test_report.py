import json

import numpy as np
import pytest

from hilserl.cli import main
from hilserl.diagnostics.report import RunReport, rotation_from_square, running_mean, trend


def write_run(run_dir, interventions, q_start, discounted, success):
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "episodes.jsonl", "w") as f:
        for i, (r, q, d, s) in enumerate(zip(interventions, q_start, discounted, success)):
            f.write(json.dumps({"episode": i, "env_steps": 80 * (i + 1), "episode_return": float(s), "length": 80,
                                "success": bool(s), "intervention_rate": r, "q_start": q, "discounted_return": d}) + "\n")
    with open(run_dir / "metrics.jsonl", "w") as f:
        for u in range(1, 11):
            f.write(json.dumps({"update": 100 * u, "env_steps": 50 * u, "critic_loss": 1.0 / u, "actor_loss": -u,
                                "temperature_loss": 0.01, "alpha": 0.01, "demo_steps": 1000,
                                "intervention_steps": 10 * u, "policy_steps": 40 * u}) + "\n")


def test_running_mean_and_trend():
    np.testing.assert_allclose(running_mean(np.array([1, 0, 1, 1]), 2), [1, 0.5, 0.5, 1])
    slope, intercept = trend(np.array([0.9, 0.7, 0.5, 0.3]))
    assert slope == pytest.approx(-0.2) and intercept == pytest.approx(0.9)


def test_a_healthy_run_has_no_warnings_and_all_plots(tmp_path):
    n = 60
    rng = np.random.default_rng(0)
    falling = np.clip(np.linspace(0.6, 0.05, n) + rng.normal(0, 0.05, n), 0, 1)
    success = (np.arange(n) > 20).astype(float)
    write_run(tmp_path, falling, success * 0.7, success * 0.75, success)
    report = RunReport.load(tmp_path)
    written = report.write()
    assert report.warnings == []
    assert {p.name for p in written} == {"success.png", "interventions.png", "losses.png", "value.png",
                                         "buffers.png", "overview.png", "summary.txt"}
    for path in written:
        assert path.stat().st_size > (3000 if path.suffix == ".png" else 100)
    text = (tmp_path / "report" / "summary.txt").read_text()
    assert "no warnings" in text and "intervention trend: -" in text


def test_rising_interventions_and_overestimation_are_warned(tmp_path):
    n = 40
    write_run(tmp_path, np.linspace(0.1, 0.5, n), np.full(n, 0.9), np.full(n, 0.2), np.zeros(n))
    report = RunReport.load(tmp_path)
    lines = report.summary_lines()
    assert len(report.warnings) == 3
    assert any("interventions are not falling" in line for line in lines)
    assert any("no episode succeeded in 40" in line for line in lines)
    assert any("overestimates" in line and "0.70" in line for line in lines)


def test_rotation_from_square_folds_the_cube_symmetry():
    np.testing.assert_allclose(rotation_from_square(np.radians([0, 10, -10, 45, -45, 50, 90, -170])),
                               [0, 10, 10, 45, 45, 40, 0, 10], atol=1e-9)


def with_yaws(run_dir, yaws, success):
    """Rewrites a run's episodes with these start rotations and outcomes."""
    episodes = [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]
    with open(run_dir / "episodes.jsonl", "w") as f:
        for e, yaw, s in zip(episodes, yaws, success):
            f.write(json.dumps({**e, "cube_yaw": float(yaw), "success": bool(s)}) + "\n")


def test_failures_on_turned_cubes_are_broken_down_and_warned(tmp_path):
    n = 90
    yaws = np.radians(np.tile([5.0, 22.0, 40.0], n // 3))
    falling = np.linspace(0.5, 0.0, n)
    write_run(tmp_path, falling, np.full(n, 0.5), np.full(n, 0.5), np.ones(n))
    with_yaws(tmp_path, yaws, np.degrees(yaws) < 30)  # every cube turned beyond 30 degrees fails
    report = RunReport.load(tmp_path)
    lines = report.summary_lines()
    assert any("0-15 deg: 100% (n=30), 15-30 deg: 100% (n=30), 30-45 deg: 0% (n=30)" in line for line in lines)
    assert len(report.warnings) == 1 and "turned 30-45 deg succeed 100% less often" in report.warnings[0]

    with_yaws(tmp_path, yaws, np.ones(n))
    report = RunReport.load(tmp_path)
    report.summary_lines()
    assert report.warnings == []


def test_report_command_on_a_real_run(tmp_path, capsys):
    from hilserl.config import load_config
    from hilserl.training.train import train

    cfg = load_config(None, ["env.state_only=true", "train.env_steps=250", "train.learning_starts=50",
                             "train.demo_episodes=1", "train.log_every=20", "agent.hidden_dims=[16]",
                             "agent.batch_size=8"])
    train(cfg, tmp_path, progress=False, tensorboard=False)
    assert main(["report", str(tmp_path), "--out", "/proc/hilserl_report"]) == 2  # checked before the plots
    assert "the report folder /proc/hilserl_report cannot be written" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    composition = summary["buffer_composition"]
    assert f"episodes: 4, env steps: {summary['env_steps']}, learner updates: {summary['updates']}\n" in out
    assert (f"buffers (steps added): demos {composition['demo_steps']}, interventions "
            f"{composition['intervention_steps']}, policy {composition['policy_steps']}") in out  # the summary's
    assert "success by cube rotation from square, last 4 episodes" in out  # the env logs each start yaw
    assert (tmp_path / "report" / "overview.png").stat().st_size > 20_000


def test_report_of_a_folder_without_logs_is_a_message(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no episodes" in capsys.readouterr().err


def test_a_torn_last_log_line_is_left_out_and_cleaned_on_resume_a_bad_middle_line_is_named(tmp_path):
    from hilserl.training.run_log import LogDamaged, read_jsonl, truncate_logs

    log = tmp_path / "episodes.jsonl"
    log.write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n{"a": 4, "succ')  # killed mid-write
    with pytest.warns(UserWarning, match=r"episodes.jsonl: line 4 is cut off"):
        assert [r["a"] for r in read_jsonl(log)] == [1, 2, 3]
    with pytest.warns(UserWarning):
        truncate_logs(tmp_path, episodes=3, update=0)
    assert log.read_text() == '{"a": 1}\n{"a": 2}\n{"a": 3}\n'  # the next record starts a line of its own
    log.write_text('{"a": 1}\nnot json\n{"a": 3}\n')
    with pytest.raises(LogDamaged, match=r"episodes.jsonl: line 2 is not JSON"):
        read_jsonl(log)


def test_report_names_a_damaged_log(tmp_path, capsys):
    from hilserl.cli import main

    (tmp_path / "episodes.jsonl").write_text('{"a": 1}\nnot json\n{"a": 3}\n')
    assert main(["report", str(tmp_path)]) == 2
    assert "episodes.jsonl: line 2 is not JSON" in capsys.readouterr().err


def test_too_few_episodes_give_no_trend_and_a_run_that_never_succeeds_is_warned(tmp_path):
    """20 episodes: the first 20 and the last 20 are the same ones, so there is no comparison and no
    trend; flat interventions and no success are not 'no warnings'."""
    n = 20
    write_run(tmp_path, np.full(n, 0.3), np.zeros(n), np.zeros(n), np.zeros(n))
    report = RunReport.load(tmp_path)
    lines = report.summary_lines()
    assert not any(line.startswith("intervention trend") or "first 20" in line for line in lines)
    assert "success over all 20 episodes: 0%; intervention share 30% (no first/last comparison or trend under 40 " \
           "episodes)" in lines
    assert report.warnings == [report.warnings[0]] and "no episode succeeded in 20" in report.warnings[0]
