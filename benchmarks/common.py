"""Helpers shared by the benchmark scripts: machine description and JSON results."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def seed_pool(jobs: int):
    """A pool of ``jobs`` spawned worker processes that end with this one: a sweep stopped by SIGTERM
    or Ctrl-C takes its runs along (without it, they went on training). The worker asks the kernel
    for SIGTERM when its parent dies, as ``hilserl train``'s learner does."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from hilserl.distributed.launch import die_with_parent

    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=die_with_parent,
                               initargs=(os.getpid(),))


def write_result(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
