"""Torch's thread count, chosen on purpose for each process and recorded with the run.

Two reasons it is a setting, not torch's default (one thread per core):
- Floating-point sums depend on how many threads split them, so a seeded run reproduces only at the
  thread count it ran with. The count is part of the run's config (``threads``), and a run sets it
  for its own duration and gives the caller's back afterwards: a test or a library user calling
  ``train()`` is not left with another process-wide setting.
- Torch's threads wait on each other at every operation. With as many threads as cores, one other
  busy process (a second training, a test suite) deschedules one of them and the whole process slows
  many times over (``python -m benchmarks.threads_under_load``). The default leaves half the cores
  to the actor and to whatever else runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

MAX_THREADS = 1024


def default_threads() -> int:
    """Half the machine's cores, at least one: the learner and the actor of ``hilserl train`` each
    get this many, and a single process leaves room for another job beside it."""
    return max(1, (os.cpu_count() or 2) // 2)


def resolve_threads(requested: int | None) -> int:
    """``requested`` when set (above 0), else :func:`default_threads`."""
    return int(requested) if requested else default_threads()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch threads, then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
