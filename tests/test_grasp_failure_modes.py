"""The failure-mode table over grasp_images results counts each run's failures by mode, and skips
results written before modes were recorded."""

import json

from benchmarks.grasp_failure_modes import NEVER_CLOSED, PUSHED, tally
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
    assert rows[0]["random"][PUSHED] is None  # not recorded then: unknown, not zero


def test_tally_counts_pushed_cubes_where_recorded(tmp_path):
    failures = [_failure(NEVER_GRASPED, close_commands=0, object_moved=0.05),
                _failure(NEVER_GRASPED, close_commands=2, object_moved=0.004), _failure(DROPPED)]
    run = {"seed": 3, "checkpoints": [{"env_steps": 4000, "success": 0.97, "hardest_success": 0.9,
                                        "failures": failures, "hardest_failures": []}]}
    (tmp_path / "grasp_images_b.json").write_text(json.dumps({"runs": [run]}))
    rows, totals = tally(tmp_path.glob("*.json"))
    assert rows[0]["random"][PUSHED] == 1 and totals["random"][PUSHED] == 1
    assert rows[0]["hardest"][PUSHED] is None  # no failure there to say


def test_success_by_yaw_counts_every_graded_reset_and_refuses_other_resets(tmp_path):
    """Each run's graded resets are drawn again from their seeds: all of them are counted in their yaw
    bin, the failures taken out; a failure whose yaw is not its seed's means other resets, and is refused."""
    import pytest

    from benchmarks.grasp_failure_modes import YAW_EDGES, ResetYaws, by_yaw

    yaws = ResetYaws()
    random, hardest = yaws.of("random", 0, 6), yaws.of("hardest", 0, 6)
    worst = max(random, key=lambda s: abs(random[s]))
    failure = {"seed": worst, "success": False, "cube_start_yaw": random[worst], "failure": {"mode": DROPPED}}
    run = {"seed": 0, "checkpoints": [{"failures": [failure], "hardest_failures": []}]}
    (tmp_path / "grasp_images_a.json").write_text(json.dumps({"resets": 6, "runs": [run]}))
    runs, table = by_yaw(tmp_path.glob("*.json"), yaws)
    assert runs == 1
    assert sum(c["resets"] for c in table["random"]) == 6 and sum(c["resets"] for c in table["hardest"]) == 6
    failed_bin = [c for c in table["random"] if c["yaw_from"] <= abs(random[worst]) <= c["yaw_to"]][0]
    assert failed_bin["success"] < 1.0
    assert all(c["success"] in (1.0, None) for c in table["random"] if c is not failed_bin)
    assert len(table["random"]) == len(YAW_EDGES) - 1 and set(hardest) == set(random)

    failure["cube_start_yaw"] = random[worst] + 0.3
    (tmp_path / "grasp_images_a.json").write_text(json.dumps({"resets": 6, "runs": [run]}))
    with pytest.raises(ValueError, match="its seed draws"):
        by_yaw(tmp_path.glob("*.json"), yaws)
