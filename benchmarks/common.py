"""Helpers shared by the benchmark scripts: machine description and JSON results."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from hilserl.source import SourceFingerprint

RESULTS = Path(__file__).parent / "results"
SOURCE = SourceFingerprint.of_this_process()
"""The source this benchmark started with: its runs are checked against it, its result names it."""


def _cpuinfo(field: str) -> str:
    """The first value of ``field`` in Linux's /proc/cpuinfo, or '' where it is not told."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field), "")


def cpu_model() -> str:
    """The processor's name: a seeded training run reproduces on one machine, and another processor's
    floating-point kernels can send it elsewhere."""
    return _cpuinfo("model name")


def cpu_generation() -> str:
    """Family, model and stepping: a virtual machine may name every generation of its vendor's servers
    alike ("AMD EPYC"), and their floating-point kernels can differ."""
    parts = [(name, _cpuinfo(name)) for name in ("cpu family", "model", "stepping")]
    return " ".join(f"{name} {value}" for name, value in parts if value)


def machine() -> dict:
    import mujoco
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_generation": cpu_generation(),
        "torch_cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "date": time.strftime("%Y-%m-%d"),
        **SOURCE.describe(),
    }


def add_executor_args(parser) -> None:
    """``--jobs``, ``--backend`` and ``--address``: where a benchmark's runs execute (``hilserl sweep``'s
    executors: Ray tasks, here or on a cluster, or this machine's processes)."""
    from hilserl.sweep.executors import BACKENDS

    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default 2)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto (default): Ray if installed, else this machine's processes")
    parser.add_argument("--address", help="a Ray cluster to run on (auto, or ray://HOST:10001)")


def executor(args):
    """The executor the arguments of :func:`add_executor_args` ask for; close it after use."""
    from hilserl.sweep.executors import make_executor

    return make_executor(args.backend, args.jobs, 1, args.address, source=SOURCE)


def outcomes(runner, fn, items):
    """Each run's result as it finishes (an executor's ``run``), a run's exception raised here: a
    benchmark's figures are all its runs or none."""
    for _, out in runner.run(fn, items):
        if isinstance(out, BaseException):
            raise out
        yield out


def time_left(seconds: list[float], total: int, jobs: int, elapsed: float) -> str:
    """", about N min left" for a sweep of ``total`` runs ``jobs`` at a time, ``elapsed`` seconds in, whose
    finished runs took ``seconds`` each: the waves of ``jobs`` runs, each as long as the mean so far, less
    the time gone (the runs in flight started with the finished ones or as they ended); "" when done."""
    if len(seconds) >= total:
        return ""
    waves = -(-total // jobs)
    return f", about {max(0.0, waves * sum(seconds) / len(seconds) - elapsed) / 60:.0f} min left"


PROCESSOR = ("cpu_model", "cpu_generation", "torch_cpu_kernels")
"""The machine fields that decide a seeded run's path: the same source and seed take another on another."""


def earlier_result(name: str, same: dict) -> dict:
    """The result file ``name`` of an earlier invocation, for ``--add``: refused when it is missing or
    when it differs from ``same`` (the recipe, the number of resets...), since its runs would not compare.
    Each earlier run keeps the machine and source it was made with (``run["machine"]``), since the file's
    own ``machine`` will be this invocation's; one made on another processor is said."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"--add: no earlier result {path} to add to")
    earlier = json.loads(path.read_text())
    differ = {key: earlier.get(key) for key, value in same.items() if earlier.get(key) != value}
    if differ:
        raise SystemExit(f"--add: {path} was made with {differ}, not {same}; run without --add")
    for run in earlier.get("runs", []):
        run.setdefault("machine", earlier.get("machine", {}))
    here = tuple(machine().get(key) for key in PROCESSOR)
    for where in sorted({tuple(run["machine"].get(key) for key in PROCESSOR) for run in earlier.get("runs", [])}
                        - {here}, key=str):
        print(f"--add: runs of {path.name} made on another processor ({_said(where)}; here {_said(here)}): "
              "each keeps its machine in the result", flush=True)
    return earlier


def _said(values: tuple) -> str:
    return ", ".join(str(v) if v else "unrecorded" for v in values)


def write_result(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
