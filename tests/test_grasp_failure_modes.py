"""The failure-mode table over grasp_images results counts each run's failures by mode, and skips
results written before modes were recorded."""

import json

from benchmarks.grasp_failure_modes import NEVER_CLOSED, tally
from hilserl.collect.failure_modes import DROPPED, NEVER_GRASPED


def _failure(mode, **extra):
    return {"seed": 1, "success": False, "failure": {"mode": mode, **extra}}


def test_tally_counts_modes_and_skips_unrecorded_results(tmp_path):
    run = {"seed": 0, "checkpoints": [{"env_steps": 4000, "success": 0.97, "hardest_success": 0.9,
                                        "failures": [_failure(NEVER_GRASPED, close_commands=0),
                                                     _failure(NEVER_GRASPED, close_commands=3),
                                                     _failure(DROPPED)],
                                        "hardest_failures": [_failure(DROPPED)]}]}
    old = {"seed": 1, "checkpoints": [{"env_steps": 4000, "success": 0.9, "hardest_success": 0.8,
                                       "failures": [{"seed": 5, "success": False}]}]}
    (tmp_path / "grasp_images_a.json").write_text(json.dumps({"runs": [run, old]}))
    rows, totals = tally(tmp_path.glob("*.json"))
    assert [(r["result"], r["seed"]) for r in rows] == [("grasp_images_a", 0)]
    assert rows[0]["random"][NEVER_GRASPED] == 2 and rows[0]["random"][NEVER_CLOSED] == 1
    assert rows[0]["random"][DROPPED] == 1 and rows[0]["hardest"][DROPPED] == 1
    assert totals["hardest"][NEVER_GRASPED] == 0
