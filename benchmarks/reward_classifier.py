"""The reward classifier end to end on the simulation, with the paper's data sizes:
record labelled frames (200 positives, 1000 negatives, hard negatives among them), train the
classifier, then audit its reward against the simulator's truth over 100 episodes of the scripted
expert (missed successes) and 100 of a random policy (false positives).

Goals (issue 4): validation accuracy over 95%; the FP / FN rates are reported as measured.
    python -m benchmarks.reward_classifier [--episodes 100] [--out runs/bench_classifier]
Writes benchmarks/results/reward_classifier.json and the PR curve to docs/images/.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.collect.classifier_data import record_classifier_data
from hilserl.config import load_config
from hilserl.diagnostics.reward_audit import audit_lines, audit_reward
from hilserl.reward.train_classifier import plot_pr_curve, train_classifier

DOCS_IMAGES = Path(__file__).parent.parent / "docs" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=100, help="audit episodes per policy")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_classifier"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    cfg = load_config(None, args.overrides)
    timings = {}

    start = time.time()
    counts = record_classifier_data(cfg.env, cfg.classifier, args.out / "data", seed=cfg.seed)
    timings["record_s"] = round(time.time() - start, 1)
    print(counts)

    start = time.time()
    clf, report = train_classifier(cfg, args.out / "data")
    timings["train_s"] = round(time.time() - start, 1)
    print("\n".join(report.lines()))
    path = clf.save(args.out / "classifier.safetensors")
    curve = plot_pr_curve(report, args.out / "classifier_pr_curve.png")
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copy(curve, DOCS_IMAGES / "classifier_pr_curve.png")

    audit_cfg = load_config(None, [*args.overrides, "env.reward.source=classifier", f'env.reward.classifier="{path}"'])
    audits = {}
    for policy in ("expert", "random"):
        start = time.time()
        audits[policy] = audit_reward(audit_cfg.env, policy, args.episodes, seed=cfg.seed, out_dir=args.out / "audit" / policy)
        timings[f"audit_{policy}_s"] = round(time.time() - start, 1)
        print("\n".join(audit_lines(audits[policy])))

    write_result("reward_classifier", {
        "data": counts,
        "validation": {k: v for k, v in report.to_dict().items() if k != "pr_curve"},
        "audit": audits,
        "timings": timings,
    })


if __name__ == "__main__":
    main()
