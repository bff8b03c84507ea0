"""A benchmark's result file adds seeds from several invocations (``--add``): each run keeps the machine
and source it was made with, since a seeded run repeats on one processor only."""

from __future__ import annotations

import json

import pytest

from benchmarks import common


def test_added_runs_keep_the_machine_they_ran_on_and_another_processor_is_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    common.write_result("sweep", {"recipe": ["a=1"], "runs": [{"seed": 0, "success_rate": 0.5}]})
    assert common.earlier_result("sweep", {"recipe": ["a=1"]})["runs"][0]["machine"] == common.machine()
    assert "another processor" not in capsys.readouterr().out

    path = tmp_path / "sweep.json"
    data = json.loads(path.read_text())
    other = {**data["machine"], "cpu_model": "Another CPU", "cpu_generation": "cpu family 25 model 17 stepping 1",
             "commit": "0" * 40}
    third = {**other, "cpu_model": "A third CPU"}
    data["machine"] = other
    data["runs"].append({"seed": 1, "success_rate": 1.0, "machine": third})
    path.write_text(json.dumps(data))

    earlier = common.earlier_result("sweep", {"recipe": ["a=1"]})
    assert [r["machine"] for r in earlier["runs"]] == [other, third]
    said = capsys.readouterr().out
    assert "Another CPU, cpu family 25 model 17 stepping 1" in said and "A third CPU" in said

    common.write_result("sweep", {"recipe": ["a=1"], "runs": [*earlier["runs"], {"seed": 2, "success_rate": 0.9}]})
    written = json.loads(path.read_text())
    assert written["machine"] == common.machine()  # this invocation's; its own runs carry no other
    assert [r.get("machine", {}).get("cpu_model") for r in written["runs"]] == ["Another CPU", "A third CPU", None]


def test_an_earlier_result_of_another_recipe_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match="no earlier result"):
        common.earlier_result("sweep", {"recipe": ["a=1"]})
    common.write_result("sweep", {"recipe": ["a=1"], "runs": []})
    with pytest.raises(SystemExit, match="run without --add"):
        common.earlier_result("sweep", {"recipe": ["a=2"]})


def test_a_lever_set_on_a_learning_test_recipe_trains_last_and_keeps_apart(tmp_path, monkeypatch):
    """``learning_seeds --set``: the lever comes after the recipe (so it wins), a result of the recipe
    without it is refused for ``--add``, and the task's own result file is never overwritten."""
    from benchmarks import learning_seeds
    from hilserl.sweep import sweep

    trained = []
    monkeypatch.setattr(sweep, "train_run", lambda run: trained.append(run) or {
        "success_rate": 1.0, "by_region": {}, "training_success_last_20": 1.0, "env_steps": 1, "seconds": 0.0})
    learning_seeds.run_job((3, "reach", None, ("agent.grasp_demo_margin=0.05",)))
    assert trained[0].seed == 3
    assert list(trained[0].overrides) == [*learning_seeds.REACH_RECIPE, "agent.grasp_demo_margin=0.05"]

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    common.write_result("learning_seeds_reach", {"recipe": learning_seeds.recipe("reach"), "runs": []})
    with pytest.raises(SystemExit, match="run without --add"):
        learning_seeds.earlier_runs("reach", [0], "learning_seeds_reach", [], ["agent.grasp_demo_margin=0.05"])
    assert learning_seeds.earlier_runs("reach", [0], "learning_seeds_reach", [], [])["runs"] == []

    monkeypatch.setattr("sys.argv", ["learning_seeds", "--task", "reach", "--set", "agent.grasp_demo_margin=0.05"])
    with pytest.raises(SystemExit):
        learning_seeds.main()
    assert json.loads((tmp_path / "learning_seeds_reach.json").read_text())["recipe"] == learning_seeds.REACH_RECIPE


def test_time_left_counts_the_runs_in_flight_as_started():
    """Three seeds on three processes: the last one started with the first two, so once they end after
    86 min it is nearly done, not 86 min away. Six seeds two at a time: two more waves."""
    assert common.time_left([5163.0, 5163.0], 3, 3, 5170.0) == ", about 0 min left"
    assert common.time_left([600.0, 600.0], 6, 2, 600.0) == ", about 20 min left"
    assert common.time_left([600.0, 660.0], 2, 2, 660.0) == ""
