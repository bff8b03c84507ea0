"""How the grasp-from-images runs failed, over every result file ``benchmarks.grasp_images`` wrote:
for each run (setting and seed), its failures on the random and the hardest resets by mode
(``hilserl.collect.failure_modes``), the total over all runs, and success by the cube's start yaw
(each graded reset's yaw drawn again from its seed, as the grading drew it).

A lever that lifts the mean by a few points can hide a mode that decides the worst seeds; this table
shows which mode to work on. Results written before each failure's mode was recorded are skipped. Usage:
    python -m benchmarks.grasp_failure_modes [--pattern 'grasp_images*.json']
Writes benchmarks/results/grasp_failure_modes.json.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter

import numpy as np

from benchmarks.common import RESULTS, write_result
from hilserl.collect.failure_modes import MODES, NEVER_GRASPED, PUSHED_DISTANCE
from hilserl.config import EnvConfig
from hilserl.envs.grasp_env import GraspCubeEnv
from hilserl.training.evaluate import EVAL_SEED_OFFSET
from hilserl.training.grid_eval import hardest_resets

RESETS = {"random": "failures", "hardest": "hardest_failures"}
NEVER_CLOSED = "never grasped, jaws never commanded shut"
PUSHED = "never grasped, object pushed away"
"""Counted only in results that record how far the object moved (``object_moved``); None before."""
YAW_EDGES = (0.0, 0.2, 0.4, 0.6, math.pi / 4)
"""Bins of the cube's start yaw, absolute, in radians: 0 is square to the jaws, pi/4 the worst."""
YAW_MATCH = 0.05
"""Radians within which a failure's recorded start yaw and its seed's drawn again agree (the cube
settles after it is placed)."""


def modes_of(failures: list[dict]) -> dict[str, int]:
    counts = Counter(f["failure"]["mode"] for f in failures)
    out = {mode: counts.get(mode, 0) for mode in MODES}
    out[NEVER_CLOSED] = sum(1 for f in failures if f["failure"]["mode"] == NEVER_GRASPED
                            and not f["failure"].get("close_commands"))
    never = [f["failure"] for f in failures if f["failure"]["mode"] == NEVER_GRASPED]
    out[PUSHED] = (sum(1 for f in never if f["object_moved"] >= PUSHED_DISTANCE)
                   if never and all("object_moved" in f for f in never) else None)
    return out


def recorded_runs(paths, field: str):
    """(path, result, run, its last checkpoint) for each run whose failures were recorded, every one
    with ``field``; results written before that was recorded are skipped."""
    for path in sorted(paths):
        result = json.loads(path.read_text())
        for run in result.get("runs", []):
            last = run["checkpoints"][-1]
            recorded = [f for key in RESETS.values() for f in last.get(key, [])]
            if RESETS["random"] in last and all(field in f for f in recorded):
                yield path, result, run, last


def tally(paths) -> tuple[list[dict], dict[str, Counter]]:
    """One row per run whose failures all have their mode recorded, and the totals by kind of reset."""
    rows, totals = [], {kind: Counter() for kind in RESETS}
    for path, _, run, last in recorded_runs(paths, "failure"):
        row = {"result": path.stem, "seed": run["seed"], "env_steps": last["env_steps"],
               "success": last["success"], "hardest_success": last["hardest_success"]}
        for kind, key in RESETS.items():
            row[kind] = modes_of(last.get(key, []))
            totals[kind].update({mode: n for mode, n in row[kind].items() if n is not None})
        rows.append(row)
    return rows, totals


class ResetYaws:
    """The cube's start yaw of each graded reset, by kind and reset seed: random resets drawn again by
    the env from their seed, the hardest ones from :func:`hardest_resets`, as the grading drew them."""

    def __init__(self, env: EnvConfig = EnvConfig(state_only=True)):
        self.config = env
        self._env: GraspCubeEnv | None = None
        self._random: dict[int, float] = {}

    def of(self, kind: str, train_seed: int, resets: int) -> dict[int, float]:
        seeds = [EVAL_SEED_OFFSET + train_seed + i for i in range(resets)]
        if kind == "hardest":
            options = hardest_resets(self.config, resets, seed=EVAL_SEED_OFFSET + train_seed)
            return {s: o["cube_yaw"] for s, o in zip(seeds, options)}
        if self._env is None:
            self._env = GraspCubeEnv(self.config)
        for s in seeds:
            if s not in self._random:
                self._random[s] = self._env.reset(seed=s)[1]["cube_start_yaw"]
        return {s: self._random[s] for s in seeds}


def by_yaw(paths, yaws: ResetYaws) -> tuple[int, dict[str, list[dict]]]:
    """Success by the cube's absolute start yaw (bins ``YAW_EDGES``), by kind of reset, over every run
    that recorded its failures' start yaws; returns the number of runs and the table. A failure whose
    recorded yaw disagrees with its seed's is refused: the resets would not be the ones graded."""
    counts = {kind: np.zeros((2, len(YAW_EDGES) - 1), int) for kind in RESETS}
    runs = 0
    for path, result, run, last in recorded_runs(paths, "cube_start_yaw"):
        runs += 1
        for kind, key in RESETS.items():
            drawn = yaws.of(kind, run["seed"], result["resets"])
            failed = set()
            for f in last.get(key, []):
                if abs(drawn[f["seed"]] - f["cube_start_yaw"]) > YAW_MATCH:
                    raise ValueError(f"{path.name} seed {run['seed']}: reset {f['seed']} started at yaw "
                                     f"{f['cube_start_yaw']:.3f}, its seed draws {drawn[f['seed']]:.3f}")
                failed.add(f["seed"])
            for s, yaw in drawn.items():
                b = min(int(np.searchsorted(YAW_EDGES, abs(yaw), side="right")) - 1, len(YAW_EDGES) - 2)
                counts[kind][0, b] += 1
                counts[kind][1, b] += s in failed
    return runs, {kind: [{"yaw_from": YAW_EDGES[b], "yaw_to": YAW_EDGES[b + 1], "resets": int(c[0, b]),
                    "success": float(1.0 - c[1, b] / c[0, b]) if c[0, b] else None}
                   for b in range(len(YAW_EDGES) - 1)] for kind, c in counts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pattern", default="grasp_images*.json", help="result files to read (default grasp_images*.json)")
    args = ap.parse_args()
    rows, totals = tally(RESULTS.glob(args.pattern))
    if not rows:
        raise SystemExit(f"no result with recorded failures matches {RESULTS / args.pattern}")
    short = {NEVER_GRASPED: "never", MODES[1]: "unlifted", MODES[2]: "dropped", MODES[3]: "late",
             NEVER_CLOSED: "no close", PUSHED: "pushed"}
    print(f"{'result':<34}{'seed':>5}{'success':>9}  failures by mode, random | hardest ({', '.join(short.values())})")
    for r in rows:
        cells = " | ".join(" ".join("  -" if r[k][m] is None else f"{r[k][m]:>3}" for m in short) for k in RESETS)
        print(f"{r['result']:<34}{r['seed']:>5}{r['success']:>6.0%}/{r['hardest_success']:.0%}  {cells}")
    for kind in RESETS:
        all_failures = sum(totals[kind][m] for m in MODES)
        recording = sum(1 for r in rows if r[kind][PUSHED] is not None)
        print(f"{kind} resets, {len(rows)} runs: {all_failures} failures, " + ", ".join(
            f"{m} {totals[kind][m]} ({totals[kind][m] / max(all_failures, 1):.0%})" for m in short if m != PUSHED)
            + f"; {PUSHED} {totals[kind][PUSHED]} in the {recording} runs that record it")
    yaw_runs, yaw_table = by_yaw(RESULTS.glob(args.pattern), ResetYaws())
    print(f"success by the cube's start yaw (|rad|), over {yaw_runs} runs:")
    for kind, cells in yaw_table.items():
        print(f"  {kind:<8}" + "  ".join(f"{c['yaw_from']:.1f}-{c['yaw_to']:.2f}: {c['success']:.1%} of {c['resets']}"
                                         for c in cells))
    write_result("grasp_failure_modes", {"runs": rows, "totals": {k: dict(v) for k, v in totals.items()},
                                         "by_yaw": {"runs": yaw_runs, **yaw_table}})


if __name__ == "__main__":
    main()
