"""How far off can a grasp aim and still lift the cube? The scripted expert, told the cube is a few
millimetres from where it is (in 8 directions), on the 3 x 3 grid of positions, square (yaw 0) and
turned 45 degrees (the ends of the yaw range, one pose by the cube's symmetry).

It explains where an image policy misses: a policy that aims as well as it can see fails first on the
cube whose tolerance is smallest. ``--set env.jaw_yaw_action=true --name grasp_tolerance_yaw``: the
expert that turns the jaws to the cube's faces. Usage:
    python -m benchmarks.grasp_tolerance [--offsets-mm 5 10 15 20] [--directions 8] [--set KEY=VALUE]
Writes benchmarks/results/grasp_tolerance.json (``--name``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.config import load_config
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.teleop.scripted import expert_policy
from hilserl.training.grid_eval import Grid, evaluate_grid

YAWS = {"square (yaw 0)": 0.0, "turned 45 degrees": math.pi / 4}


def aiming_off(env: GraspCubeEnv, offset_xy: np.ndarray):
    """The expert, believing the cube is ``offset_xy`` metres from where it is."""
    offset = np.array([*offset_xy, 0.0])
    return expert_policy(env, believe=lambda s: dataclasses.replace(s, cube_pos=s.cube_pos + offset))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offsets-mm", type=float, nargs="+", default=[0, 5, 10, 15, 20],
                    help="aim errors to try, millimetres (default 0 5 10 15 20)")
    ap.add_argument("--directions", type=int, default=8, help="directions of the error around the cube (default 8)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config change (repeatable)")
    ap.add_argument("--name", default="grasp_tolerance", help="result file name (default grasp_tolerance)")
    args = ap.parse_args()
    cfg = load_config(None, ["env.state_only=true", *args.set])
    env = GraspCubeEnv(cfg.env)
    base = Grid.covering(cfg.env, 3, 3, 1)
    angles = np.linspace(0.0, 2 * math.pi, args.directions, endpoint=False)

    table: dict[str, dict[str, float]] = {}
    for label, yaw in YAWS.items():
        grid = dataclasses.replace(base, yaws=(yaw,))
        table[label] = {}
        for mm in args.offsets_mm:
            rates = [evaluate_grid(aiming_off(env, mm / 1000 * np.array([math.cos(a), math.sin(a)])),
                                   cfg.env, grid, seeds=1, progress=False, env=env).success_rate
                     for a in angles]
            table[label][f"{mm:g} mm"] = float(np.mean(rates))
            print(f"{label:>18}, aim {mm:4g} mm off: success {np.mean(rates):.0%}", flush=True)
    write_result(args.name, {
        "settings": args.set,
        "grid": {"xs": base.xs, "ys": base.ys},
        "directions": args.directions,
        "success_by_aim_error": table,
    })


if __name__ == "__main__":
    main()
