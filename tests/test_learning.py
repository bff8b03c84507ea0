"""The agent learns: state-only SAC with demos and the simulated human grasps the cube, and learns a
second task (the planar reach: no gripper, no env code shared) through ``hilserl train``.

About 4 minutes on a 2-core CPU, on one torch thread, so that the outcome is the same in the suite,
alone or beside another job. The recipe is ``benchmarks.learning_seeds``'s, which measures it over
seeds: on 8 seeds, 80% to 94% success without interventions (mean 87%; docs/experiments.md). Another
machine's floating-point kernels give another path, as another seed would. The bar sits 20 points
under the worst seed (about 5 standard deviations of the seeds under their mean), far above an
untrained policy's 0%. Graded by the policy's weight average (the default since 2026-12-05), the grasp's
seeds 0-5 score 82% to 98% and the reach's 8 seeds 76% to 96% on a 2-core AMD EPYC machine
(docs/experiments.md): both bars keep at least 22 points of margin under the worst seed. With the
demonstrator's aim cloned (``agent.actor_demo_bc``, the default since 2026-12-06), the grasp's seeds 0-5
score 90% to 98% and the reach's 8 seeds 81% to 98% on a 2-core Intel Xeon machine: 30 and 31 points over
the bars. With the margin on the demonstrator's gripper decisions added (``agent.grasp_demo_margin``, the
default since 2026-12-06), the grasp's seeds 0-5 score 94% to 100% there, and the reach, which has no
gripper, repeats its figures to the seed. With the cloned aim taken from the draw's own distribution
(the same loss, rounded otherwise; commit 579f3d2), the grasp's seeds score 94% to 100% again and the
reach's 81% to 98%.
"""

import json

import pytest

from benchmarks.learning_seeds import EVAL_EPISODES, REACH_EVAL_SEEDS, REACH_RECIPE, RECIPE
from hilserl.cli import main
from hilserl.config import load_config
from hilserl.training.train import train

SUCCESS_BAR = 0.6
REACH_SUCCESS_BAR = 0.5
"""The reach recipe over 8 seeds (``python -m benchmarks.learning_seeds --task reach``): 76% to 98%,
mean 87%, sd 8 points (docs/experiments.md). The bar sits 26 points under the worst seed, about 4.5 sd
under the mean, and far above an untrained policy's 0%."""


@pytest.mark.slow
def test_state_only_agent_learns_to_grasp(tmp_path):
    cfg = load_config(None, [*RECIPE, "seed=0"])
    result = train(cfg, tmp_path, progress=False, eval_episodes=EVAL_EPISODES, tensorboard=False)
    assert result.final_eval is not None
    rate = result.final_eval.success_rate
    assert rate >= SUCCESS_BAR, f"success without interventions {rate:.0%} after {result.env_steps} steps"


@pytest.mark.slow
def test_a_second_task_learns_end_to_end_through_hilserl_train(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--single-process", "--run-dir", str(run), "--eval-seeds", str(REACH_EVAL_SEEDS)]
    assert main(args + [a for o in [*REACH_RECIPE, "seed=0"] for a in ("--set", o)]) == 0
    out = capsys.readouterr().out
    assert "the grid evaluation and success map need the simulated grasp task" in out
    rate = json.loads((run / "summary.json").read_text())["final_eval"]["success_rate"]
    assert rate >= REACH_SUCCESS_BAR, f"reach success without interventions {rate:.0%}"
    assert main(["report", str(run)]) == 0  # the report skips, saying so, what the env does not give
    assert "skipped, the env reports no object rotation" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(run)]) == 2  # the grid places a cube: the grasp only
    assert "needs the simulated grasp task" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(run), "--episodes", "20"]) == 0  # seeded resets work on any env
    assert "success over 20 seeded resets" in capsys.readouterr().out
