"""Does the grasp penalty decide the cubes a policy never grasps? A trained checkpoint graded again
on its benchmark's resets with its grasp critic's value of "close", while the jaws are open, raised
by a bonus: with the bonus equal to the penalty, the decision prices the close as free.

No weight changes: only the argmax of a trained grasp critic. If the cubes never grasped become
successes at bonus = |penalty|, the penalty on closing is what holds the jaws open; if not, the
critic's values are wrong by more than the penalty. Usage:
    python -m benchmarks.grasp_close_bonus --checkpoint runs/utd3/seed_1/checkpoints/ckpt_00011727 \
        [--bonus 0 0.02] [--episodes 100] [--hardest]
Writes benchmarks/results/grasp_close_bonus.json.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import write_result
from hilserl.collect.failure_modes import NEVER_GRASPED
from hilserl.envs.contract import GRIPPER_CLOSE, GripperPenalty, gripper_value
from hilserl.envs.factory import make_env
from hilserl.training.evaluate import EVAL_SEED_OFFSET, evaluate
from hilserl.training.grid_eval import hardest_resets
from hilserl.training.trained_agent import load_agent


def penalty_wrapper(env) -> GripperPenalty:
    """The env's :class:`GripperPenalty`, which follows the gripper's state from the commands."""
    while not isinstance(env, GripperPenalty):
        if not hasattr(env, "env"):
            raise SystemExit("this env has no discrete gripper: there is no grasp decision to probe")
        env = env.env
    return env


def with_close_bonus(agent, tracker: GripperPenalty, bonus: float):
    """The deterministic policy, its grasp critic's "close" raised by ``bonus`` while the jaws are open."""
    @torch.no_grad()
    def policy(obs):
        latent = agent.latent(obs)
        action = np.empty(agent.action.dims, dtype=np.float32)
        action[:agent.action.arm_dims] = agent.actor.mode(latent)[0].cpu().numpy()
        q = agent.grasp_critic(latent)[0].clone()
        if not tracker.closed:
            q[GRIPPER_CLOSE] += bonus
        action[agent.action.gripper_index] = gripper_value(int(q.argmax()))
        return action
    return policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint folder of a run with a gripper")
    ap.add_argument("--bonus", type=float, nargs="+", default=[0.0, 0.02],
                    help="values added to the grasp critic's 'close' while open (default 0 0.02)")
    ap.add_argument("--episodes", type=int, default=100, help="seeded resets, the benchmark's (default 100)")
    ap.add_argument("--hardest", action="store_true", help="the hardest resets instead of random ones")
    args = ap.parse_args()
    cfg, agent = load_agent(args.checkpoint)
    options = hardest_resets(cfg.env, args.episodes, seed=EVAL_SEED_OFFSET + cfg.seed) if args.hardest else None
    env = make_env(cfg.env)
    tracker = penalty_wrapper(env)
    rows = []
    for bonus in args.bonus:
        result = evaluate(agent, cfg.env, args.episodes, seed=cfg.seed, env=env, progress=True, options=options,
                          policy=with_close_bonus(agent, tracker, bonus))
        modes = Counter(f["failure"]["mode"] for f in result.failures if "failure" in f)
        rows.append({"bonus": bonus, "success": result.success_rate, "failures_by_mode": dict(modes)})
        print(f"bonus {bonus:g}: {result.success_rate:.0%}, {modes.get(NEVER_GRASPED, 0)} never grasped, "
              f"failures {dict(modes)}", flush=True)
    env.close()
    write_result("grasp_close_bonus", {"checkpoint": str(args.checkpoint), "grasp_penalty": cfg.env.grasp_penalty,
                                       "resets": "hardest" if args.hardest else "random",
                                       "episodes": args.episodes, "rows": rows})


if __name__ == "__main__":
    main()
