"""``hilserl sweep``: train every run of a plan (``hilserl.sweep.plan``) on an executor
(``hilserl.sweep.executors``), write each run's result as it ends, and collect them into
``OUT/sweep.json`` and a plot, ``OUT/sweep.png``: success without interventions per variant, a dot
per seed."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hilserl.sweep.executors import LocalProcesses, RayTasks
from hilserl.sweep.plan import SweepRun

SUMMARY_FILE = "sweep.json"
PLOT_FILE = "sweep.png"


def train_run(run: SweepRun) -> dict:
    """One run, in a worker: trained (resumed from its latest checkpoint if it has one), then evaluated
    without interventions over ``run.eval_episodes`` seeded episodes."""
    import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
    from hilserl.config import load_config
    from hilserl.training.run import resume_or_start_over
    from hilserl.training.train import train

    cfg = load_config(run.config, [*run.overrides, f"seed={run.seed}", f"threads={run.threads}"])
    resume = resume_or_start_over(run.run_dir)
    start = time.perf_counter()
    result = train(cfg, run.run_dir, progress=False, eval_episodes=run.eval_episodes, tensorboard=False,
                   resume=resume)
    final = result.final_eval
    return {"success_rate": final.success_rate if final else None, "by_region": final.by_region if final else {},
            "training_success_last_20": result.success_rate_last_20, "env_steps": result.env_steps,
            "updates": result.updates, "episodes": result.episodes, "resumed": resume,
            "seconds": round(time.perf_counter() - start, 1)}


@dataclass
class SweepOutcome:
    finished: list[dict]
    failed: list[str]
    skipped: int


def run_sweep(runs: list[SweepRun], executor: LocalProcesses | RayTasks, out: Path,
              work: Callable[[SweepRun], dict] = train_run, progress: bool = True,
              say: Callable[[str], None] = print) -> SweepOutcome:
    """Every run without a result, on ``executor``; each result written as it comes, the summary and
    the plot at the end (over every finished run, this time's and earlier ones')."""
    out = Path(out)
    todo = [r for r in runs if not r.finished()]
    skipped = len(runs) - len(todo)
    say(f"sweep: {count(len(runs), 'run')} ({count(len({r.variant for r in runs}), 'variant')} x "
        f"{count(len({r.seed for r in runs}), 'seed')}) into {out}; {skipped} already finished, {len(todo)} to run "
        f"on {executor.where()}")
    failed = []
    with tqdm(total=len(runs), initial=skipped, desc="sweep", unit="run", disable=not progress) as bar:
        for run, result in executor.run(work, todo):
            if isinstance(result, BaseException):
                failed.append(run.name)
                error = run.result_file.with_suffix(".error.txt")
                error.parent.mkdir(parents=True, exist_ok=True)
                error.write_text("".join(traceback.format_exception(result)))
                bar.write(f"{run.name}: failed ({type(result).__name__}: {result}); the traceback is in {error}")
            else:
                run.result_file.parent.mkdir(parents=True, exist_ok=True)
                record = {"variant": run.variant, "seed": run.seed, "overrides": list(run.overrides), **result,
                          "source_digest": executor.source.digest}
                run.result_file.write_text(json.dumps(record, indent=2) + "\n")
                run.result_file.with_suffix(".error.txt").unlink(missing_ok=True)
                rate = result["success_rate"]
                bar.write(f"{run.name}: {rate:.0%} without interventions" if rate is not None else
                          f"{run.name}: done (no evaluation)")
            bar.update(1)
    finished = [json.loads(r.result_file.read_text()) for r in runs if r.finished()]
    summary = summarise(runs, finished)
    (out / SUMMARY_FILE).write_text(json.dumps({"runs": finished, "variants": summary, "source": executor.source.describe(),
                                                "plan": [_plan_entry(r) for r in runs]}, indent=2) + "\n")
    for line in summary_lines(summary):
        say(line)
    sources = {r.get("source_digest") for r in finished}
    if len(sources) > 1:
        say(f"the finished runs ran {len(sources)} versions of the source (their source_digest in each result): "
            "an earlier invocation's runs may not compare with this one's")
    if finished:
        plot(finished, summary, out / PLOT_FILE)
        say(f"wrote {out / SUMMARY_FILE} and {out / PLOT_FILE}")
    if failed:
        say(f"{count(len(failed), 'run')} failed ({', '.join(failed)}): the same command runs {'them' if len(failed) > 1 else 'it'} "
            "again, skipping the finished ones")
    return SweepOutcome(finished, failed, skipped)


def count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _plan_entry(run: SweepRun) -> dict:
    entry = asdict(run)
    return {k: str(v) if isinstance(v, Path) else v for k, v in entry.items()}


def summarise(runs: list[SweepRun], finished: list[dict]) -> dict[str, dict]:
    """Per variant, in the plan's order: seeds finished of planned, and the success rates' spread."""
    out: dict[str, dict] = {}
    for variant in dict.fromkeys(r.variant for r in runs):
        planned = [r for r in runs if r.variant == variant]
        rates = np.array([f["success_rate"] for f in finished if f["variant"] == variant
                          and f["success_rate"] is not None], dtype=float)
        entry = {"overrides": list(planned[0].overrides), "seeds_planned": len(planned), "seeds_finished": len(rates)}
        if len(rates):
            entry.update(success_mean=float(rates.mean()), success_min=float(rates.min()),
                         success_max=float(rates.max()),
                         success_std=float(rates.std(ddof=1)) if len(rates) > 1 else 0.0)
        out[variant] = entry
    return out


def summary_lines(summary: dict[str, dict]) -> list[str]:
    width = max(len(v) for v in summary)
    lines = []
    for variant, s in summary.items():
        spread = (f"mean {s['success_mean']:.0%}, min {s['success_min']:.0%}, max {s['success_max']:.0%}"
                  if "success_mean" in s else "no result yet")
        lines.append(f"  {variant:<{width}}  {s['seeds_finished']}/{s['seeds_planned']} seeds: {spread}")
    return lines


def plot(finished: list[dict], summary: dict[str, dict], path: Path) -> None:
    """A dot per seed and a bar at the mean, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(summary)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(variants) + 2), 3.5))
    rng = np.random.default_rng(0)
    for i, variant in enumerate(variants):
        rates = [f["success_rate"] for f in finished if f["variant"] == variant and f["success_rate"] is not None]
        if rates:
            ax.bar(i, np.mean(rates), color="#9ecae1", width=0.6)
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(rates)), rates, color="#08519c", s=18, zorder=3)
    ax.set_xticks(range(len(variants)), variants, rotation=20 if len(variants) > 3 else 0, ha="right"
                  if len(variants) > 3 else "center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success without interventions")
    ax.set_title("sweep: a dot per seed, the bar at the mean", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
