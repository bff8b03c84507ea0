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
