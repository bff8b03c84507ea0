"""A short training run on the simulation, then the diagnostics a user would run on it:
``hilserl report`` (curves, interventions, overestimation, buffers) and ``hilserl eval`` (success
map with the local-optimum flags), as the README shows them.

State-only by default so it takes minutes on a 2-core CPU (the pictures read the same for image runs):
    python -m benchmarks.diagnostics_run [--env-steps 4000] [--run-dir runs/bench_diagnostics]
Writes benchmarks/results/diagnostics_run.json and copies the two pictures to docs/images/.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.cli import main as hilserl_main
from hilserl.config import load_config
from hilserl.training.train import train

DOCS_IMAGES = Path(__file__).parent.parent / "docs" / "images"
STATE_ONLY_RUN = ["env.state_only=true", "train.updates_per_env_step=1", "agent.critic_actor_ratio=4",
                  "train.log_every=200"]
"""The settings of the test that learns (tests/test_learning.py)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env-steps", type=int, default=4000)
    ap.add_argument("--run-dir", type=Path, default=Path("runs/bench_diagnostics"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="more config overrides")
    args = ap.parse_args()
    cfg = load_config(None, [*STATE_ONLY_RUN, f"train.env_steps={args.env_steps}", *args.overrides])
    if args.run_dir.exists():
        shutil.rmtree(args.run_dir)
    result = train(cfg, args.run_dir, progress=True)

    assert hilserl_main(["report", str(args.run_dir)]) == 0
    success_map = args.run_dir / "success_map.png"
    assert hilserl_main(["eval", "--checkpoint", str(args.run_dir),
                         "--nx", "4", "--ny", "4", "--nyaw", "3", "--seeds", "2", "--out", str(success_map)]) == 0

    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.run_dir / "report" / "overview.png", DOCS_IMAGES / "report_overview.png")
    shutil.copy(success_map, DOCS_IMAGES / "success_map_state_only.png")
    write_result("diagnostics_run", {
        "config": STATE_ONLY_RUN + [f"train.env_steps={args.env_steps}", *args.overrides],
        "episodes": result.episodes,
        "env_steps": result.env_steps,
        "report": (args.run_dir / "report" / "summary.txt").read_text().splitlines(),
        "eval": json.loads(success_map.with_suffix(".json").read_text()),
    })


if __name__ == "__main__":
    main()
