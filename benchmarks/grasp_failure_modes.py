"""How the grasp-from-images runs failed, over every result file ``benchmarks.grasp_images`` wrote:
for each run (setting and seed), its failures on the random and the hardest resets by mode
(``hilserl.collect.failure_modes``), and the total over all runs.

A lever that lifts the mean by a few points can hide a mode that decides the worst seeds; this table
shows which mode to work on. Results written before each failure's mode was recorded are skipped. Usage:
    python -m benchmarks.grasp_failure_modes [--pattern 'grasp_images*.json']
Writes benchmarks/results/grasp_failure_modes.json.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from benchmarks.common import RESULTS, write_result
from hilserl.collect.failure_modes import MODES, NEVER_GRASPED

RESETS = {"random": "failures", "hardest": "hardest_failures"}
NEVER_CLOSED = "never grasped, jaws never commanded shut"


def modes_of(failures: list[dict]) -> dict[str, int]:
    counts = Counter(f["failure"]["mode"] for f in failures)
    out = {mode: counts.get(mode, 0) for mode in MODES}
    out[NEVER_CLOSED] = sum(1 for f in failures if f["failure"]["mode"] == NEVER_GRASPED
                            and not f["failure"].get("close_commands"))
    return out


def tally(paths) -> tuple[list[dict], dict[str, Counter]]:
    """One row per run whose failures all have their mode recorded, and the totals by kind of reset."""
    rows, totals = [], {kind: Counter() for kind in RESETS}
    for path in sorted(paths):
        for run in json.loads(path.read_text()).get("runs", []):
            last = run["checkpoints"][-1]
            recorded = [f for key in RESETS.values() for f in last.get(key, [])]
            if RESETS["random"] not in last or not all("failure" in f for f in recorded):
                continue  # written before each failure's mode was recorded
            row = {"result": path.stem, "seed": run["seed"], "env_steps": last["env_steps"],
                   "success": last["success"], "hardest_success": last["hardest_success"]}
            for kind, key in RESETS.items():
                row[kind] = modes_of(last.get(key, []))
                totals[kind].update(row[kind])
            rows.append(row)
    return rows, totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pattern", default="grasp_images*.json", help="result files to read (default grasp_images*.json)")
    args = ap.parse_args()
    rows, totals = tally(RESULTS.glob(args.pattern))
    if not rows:
        raise SystemExit(f"no result with recorded failures matches {RESULTS / args.pattern}")
    short = {NEVER_GRASPED: "never", MODES[1]: "unlifted", MODES[2]: "dropped", MODES[3]: "late", NEVER_CLOSED: "no close"}
    print(f"{'result':<34}{'seed':>5}{'success':>9}  failures by mode, random | hardest ({', '.join(short.values())})")
    for r in rows:
        cells = " | ".join(" ".join(f"{r[k][m]:>3}" for m in short) for k in RESETS)
        print(f"{r['result']:<34}{r['seed']:>5}{r['success']:>6.0%}/{r['hardest_success']:.0%}  {cells}")
    for kind in RESETS:
        all_failures = sum(totals[kind][m] for m in MODES)
        print(f"{kind} resets, {len(rows)} runs: {all_failures} failures, " + ", ".join(
            f"{m} {totals[kind][m]} ({totals[kind][m] / max(all_failures, 1):.0%})" for m in short))
    write_result("grasp_failure_modes", {"runs": rows, "totals": {k: dict(v) for k, v in totals.items()}})


if __name__ == "__main__":
    main()
