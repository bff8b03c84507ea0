"""The live view (rerun) read back from what it recorded, and the failure videos decoded, on the
simulated grasp (two cameras, a gripper) and the planar reach (one camera, no gripper)."""

import json
import re
import threading

import numpy as np
import pytest
import rerun.dataframe as rrd

from hilserl.cli import main
from hilserl.collect.episode_video import CONTACT_SHEET, FAILURES, GAP, INDEX, LINE_HEIGHT, SCALE, read_index
from hilserl.collect.live_view import LiveView, ViewTarget
from hilserl.collect.rollout import Step
from hilserl.data.video import read_video
from hilserl.training.run_log import read_jsonl

TINY = ["train.learning_starts=40", "agent.hidden_dims=[16]", "agent.batch_size=8", "agent.cache_crops=1",
        "agent.encoder.image_latent_dim=16", "train.demo_episodes=1"]


def _sets(items):
    return [a for o in items for a in ("--set", o)]


def _table(path):
    return rrd.load_recording(path).view(index="env_step", contents="/**").select().read_all()


def _values(table, column):
    """The non-empty cells of a column, in env-step order, each as its list of values."""
    return [v for v in table.column(column).to_pylist() if v is not None]


@pytest.fixture(scope="module")
def grasp_run(tmp_path_factory):
    """A short single-process run on the simulated grasp from both cameras, recorded."""
    run = tmp_path_factory.mktemp("grasp")
    record = run / "view.rrd"
    assert main(["train", "--single-process", "--run-dir", str(run), "--eval-seeds", "0", "--record", str(record),
                 *_sets([*TINY, "train.env_steps=60", "env.episode_seconds=3"])]) == 0
    return run, record


def test_a_recorded_run_holds_every_step_as_the_policy_saw_and_did_it(grasp_run):
    run, record = grasp_run
    table = _table(record)
    episodes = read_jsonl(run / "episodes.jsonl")
    steps = sum(e["length"] for e in episodes)
    for camera in ("front", "wrist"):
        frames = _values(table, f"/cameras/{camera}:Image:buffer")
        formats = _values(table, f"/cameras/{camera}:Image:format")
        assert len(frames) == steps  # one frame per step
        assert {(f[0]["width"], f[0]["height"]) for f in formats} == {(128, 128)}
        assert {len(f[0]) for f in frames} == {128 * 128 * 3}
    assert table.column("env_step").to_pylist() == list(range(1, steps + 1))
    assert {len(a) for a in _values(table, "/action/arm:Scalars:scalars")} == {3}
    assert {g[0] for g in _values(table, "/action/gripper:Scalars:scalars")} <= {-1.0, 0.0, 1.0}
    assert len(_values(table, "/critic/value:Scalars:scalars")) == steps
    human = sum(v[0] for v in _values(table, "/control/intervention:Scalars:scalars"))
    assert human == sum(e["intervention_steps"] for e in episodes)
    rewards = sum(v[0] for v in _values(table, "/reward:Scalars:scalars"))
    assert rewards == pytest.approx(sum(e["episode_return"] for e in episodes))
    assert [v[0] for v in _values(table, "/episode/length:Scalars:scalars")] == [e["length"] for e in episodes]
    assert [bool(v[0]) for v in _values(table, "/episode/success:Scalars:scalars")] == [e["success"] for e in episodes]
    assert [v[0] for v in _values(table, "/view/dropped_steps:Scalars:scalars")][-1] == 0  # not in real time


def test_eval_films_every_failure_by_its_cell_and_the_report_points_at_it(grasp_run, capsys):
    run, _ = grasp_run
    assert main(["eval", "--checkpoint", str(run), "--nx", "1", "--ny", "1", "--nyaw", "2", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    rate = json.loads((run / "success_map.json").read_text())["success_rate"]
    index = read_index(run / FAILURES)
    assert len(index) == round((1 - rate) * 2)
    for entry in index:
        assert entry["label"].startswith("x=") and "seed" in entry["label"]  # the success map's cell
        frames = read_video(run / FAILURES / entry["video"])
        assert len(frames) == entry["length"]
        # both cameras enlarged side by side, over the lines: step, arm, gripper, critic value
        assert frames.shape[1:] == (128 * SCALE + 4 * LINE_HEIGHT + GAP, 2 * 128 * SCALE + GAP, 3)
        assert f"{entry['label']}: {run / FAILURES / entry['video']}" in out
    if index:
        assert (run / FAILURES / CONTACT_SHEET).exists()
        assert main(["report", str(run)]) == 0
        assert f"failure videos of the last evaluation: {len(index)}" in capsys.readouterr().out


def test_the_reach_one_camera_no_gripper_films_its_failures(tmp_path, capsys):
    assert main(["train", "--single-process", "--run-dir", str(tmp_path), "--eval-seeds", "0",
                 *_sets([*TINY, "env.kind=hilserl/PlanarReachImages-v0", "train.env_steps=50"])]) == 0
    assert main(["eval", "--checkpoint", str(tmp_path), "--episodes", "3", "--record"]) == 0
    out = capsys.readouterr().out
    index = json.loads((tmp_path / FAILURES / INDEX).read_text()) if (tmp_path / FAILURES / INDEX).exists() else []
    assert f"success over 3 seeded resets: {(3 - len(index)) / 3:.0%}" in out
    for entry in index:
        frames = read_video(tmp_path / FAILURES / entry["video"])
        assert len(frames) == entry["length"]
        assert frames.shape[1:] == (128 * SCALE + 3 * LINE_HEIGHT + GAP, 128 * SCALE, 3)  # no gripper line
    recording = next((tmp_path / "recordings").glob("eval-*.rrd"))
    table = _table(recording)
    mean_length = float(re.search(r"mean length ([\d.]+) steps", out).group(1))
    assert len(_values(table, "/cameras/top:Image:buffer")) == round(3 * mean_length)  # a frame per step
    assert "/action/gripper:Scalars:scalars" not in table.column_names


def _step(i, prob):
    obs = {"state": np.zeros(2, np.float32), "front": np.full((32, 32, 3), i, np.uint8)}
    return Step(i, obs, np.array([0.1, -0.2, 0.3, 1.0], np.float32), i % 2 == 1, 0.0,
                {"classifier_prob": prob, "success_streak": i})


def test_the_classifiers_probability_threshold_and_streak_are_logged(tmp_path):
    view = LiveView(ViewTarget("record", tmp_path / "c.rrd"), gripper_index=3, threshold=0.7, human="person",
                    say=lambda _: None)
    for i, prob in enumerate([0.1, 0.8, 0.9]):
        view.step(0, i + 1, _step(i, prob), value=0.5 + i)
    view.episode_end(0, 3, 3, True, 1)
    view.close()
    table = _table(tmp_path / "c.rrd")
    assert [v[0] for v in _values(table, "/classifier/probability:Scalars:scalars")] == pytest.approx([0.1, 0.8, 0.9])
    assert {v[0] for v in _values(table, "/classifier/threshold:Scalars:scalars")} == {0.7}
    assert [v[0] for v in _values(table, "/classifier/consecutive_frames:Scalars:scalars")] == [0, 1, 2]
    assert [v[0] for v in _values(table, "/critic/value:Scalars:scalars")] == [0.5, 1.5, 2.5]
    assert [v[0] for v in _values(table, "/control/intervention:Scalars:scalars")] == [0, 1, 0]
    who = _values(table, "/control/who:TextLog:text")
    assert [w[0] for w in who] == ["policy in control from step 0", "person in control from step 1",
                                   "policy in control from step 2"]


def test_a_stalled_viewer_costs_steps_in_real_time_never_the_loop(tmp_path):
    view = LiveView(ViewTarget("record", tmp_path / "s.rrd"), gripper_index=3, realtime=True, queue_steps=2,
                    say=lambda _: None)
    entered, release = threading.Event(), threading.Event()
    log_step = view._log_step

    def stalled(*args):  # the viewer stops taking data for a while
        entered.set()
        release.wait(30)
        log_step(*args)

    view._log_step = stalled
    view.step(0, 1, _step(0, 0.1))
    assert entered.wait(30)  # the logging thread holds step 1
    for i in range(1, 10):
        view.step(0, i + 1, _step(i, 0.1))  # returns at once: 2 wait in the queue, the rest are dropped
    assert view.dropped == 7
    release.set()
    view.close()
    assert view.logged == 3
    assert table_steps(tmp_path / "s.rrd") == [1, 2, 3]


def table_steps(path):
    return [s for s, f in zip(_table(path).column("env_step").to_pylist(),
                              _table(path).column("/cameras/front:Image:buffer").to_pylist()) if f is not None]


def test_a_view_that_fails_stops_logging_and_the_run_goes_on(tmp_path):
    said = []
    view = LiveView(ViewTarget("record", tmp_path / "f.rrd"), gripper_index=3, say=said.append)
    bad = Step(0, {"front": np.zeros((8, 8, 3), np.uint8)}, np.array([np.nan], np.float32), False, 0.0, {})
    view.step(0, 1, bad)  # an action shorter than the gripper's index: logging it raises
    for i in range(1, 100):  # more than the queue holds: a dead view must not block the loop
        view.step(0, i + 1, _step(i, 0.1))
    view.close()
    assert isinstance(view.error, IndexError) and "stopped logging" in said[-1]
