"""How far a graded figure depends on the one snapshot graded: a run's last checkpoints graded one by one
and as one policy whose weights are their uniform average.

``benchmarks.grasp_images`` grades a run's last checkpoint. When the policy swings between updates, that
figure is a draw: this grades each of the given checkpoints and the policy made of their weights'
mean (encoder heads, actor, grasp critic; the frozen backbone is the same in all), over the same
seeded resets and hardest resets as ``benchmarks.grasp_images``. Checkpoints of one run only.

Usage: python -m benchmarks.policy_average --name NAME RUN/checkpoints/ckpt_A RUN/checkpoints/ckpt_B ...
       python -m benchmarks.policy_average --name NAME --grade-set agent.eval_actions=sample CKPT ...
       python -m benchmarks.policy_average --name NAME --average-only CKPT ...   (the snapshots graded already)
Writes results/<name>.json (the machine, each checkpoint's figures, the average's).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import write_result


def averaged(states: list[dict]) -> dict:
    """The mean of several policy state dicts, key by key; tensors that are not floating point (none
    today) are taken from the first, and must agree."""
    import torch

    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = (sum(s[key].double() for s in states) / len(states)).to(first.dtype)
        else:
            if any(not torch.equal(s[key], first) for s in states[1:]):
                raise ValueError(f"{key} differs between the checkpoints and cannot be averaged")
            out[key] = first
    return out


def grade(agent, cfg, resets: int) -> dict:
    from hilserl.diagnostics.grading import hardest_resets
    from hilserl.training.evaluate import EVAL_SEED_OFFSET, evaluate

    start = time.perf_counter()
    random = evaluate(agent, cfg.env, resets, seed=cfg.seed)
    hardest = evaluate(agent, cfg.env, resets, seed=cfg.seed,
                       options=hardest_resets(cfg.env, resets, seed=EVAL_SEED_OFFSET + cfg.seed))
    return {"success": random.success_rate, "by_region": random.by_region,
            "hardest_success": hardest.success_rate, "hardest_by_region": hardest.by_region,
            "acting": random.acting, "grade_seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders of one run (ckpt_*)")
    parser.add_argument("--resets", type=int, default=100, help="seeded resets, and as many hardest")
    parser.add_argument("--grade-set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the grading (agent.eval_actions=sample)")
    parser.add_argument("--average-only", action="store_true",
                        help="grade the average alone (the snapshots graded already, by benchmarks.grasp_images)")
    parser.add_argument("--name", required=True, help="result file name (results/NAME.json)")
    args = parser.parse_args()

    import torch

    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.training.checkpoint import run_folder_of
    from hilserl.training.trained_agent import ConfigChanges, load_agent

    runs = {run_folder_of(path).resolve() for path in args.checkpoints}
    if len(runs) != 1:
        raise SystemExit(f"checkpoints of several runs ({', '.join(map(str, sorted(runs)))}): give one run's")
    torch.set_num_threads(1)
    changes = ConfigChanges(overrides=args.grade_set)
    loaded = [load_agent(path, changes) for path in args.checkpoints]
    snapshots = []
    for path, (cfg, agent) in zip(args.checkpoints, loaded):
        if args.average_only:
            snapshots.append({"checkpoint": path.name, "updates": agent.updates})
            continue
        figures = {"checkpoint": path.name, "updates": agent.updates, **grade(agent, cfg, args.resets)}
        print(f"{path.name}: {figures['success']:.0%} / {figures['hardest_success']:.0%}", flush=True)
        snapshots.append(figures)
    cfg, agent = loaded[-1]
    agent.load_policy_state_dict(averaged([a.trained_policy_state_dict() for _, a in loaded]))
    average = grade(agent, cfg, args.resets)
    print(f"average of {len(loaded)}: {average['success']:.0%} / {average['hardest_success']:.0%}", flush=True)
    write_result(args.name, {"seed": cfg.seed, "resets": args.resets, "grade_set": args.grade_set,
                             "checkpoints": snapshots, "average": average})


if __name__ == "__main__":
    main()
