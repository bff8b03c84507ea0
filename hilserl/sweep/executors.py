"""Where a sweep's runs execute: Ray tasks (this machine, or a cluster with ``address``), or, without
Ray, this machine's processes. Both take a function and its items and give back each item with its
result (or the exception it raised) as runs finish, in whatever order they finish.

Each run is a process of its own that ends with the sweep: a stopped sweep (Ctrl-C, SIGTERM) takes its
runs along rather than leaving them training. Each run first checks that the source on disk is the one
the executor started with (``hilserl.source``): an edit while a sweep goes on is refused, not mixed in.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

from hilserl.source import SourceFingerprint, run_checked

T = TypeVar("T")
BACKENDS = ("auto", "ray", "processes")
RAY_RETRIES = 2
"""A Ray task whose worker died (a node lost, the OOM killer) runs again this many times; a sweep's run
resumes from its latest checkpoint, so a retry loses only what came after it."""


class BackendUnavailable(RuntimeError):
    pass


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


class LocalProcesses:
    """``jobs`` spawned processes, a fresh one per run (nothing a run leaves in memory reaches the
    next), each of ``cpus`` threads (as a Ray task of ``cpus`` CPUs has); each asks the kernel for
    SIGTERM when the sweep dies, as ``hilserl train``'s learner does."""

    def __init__(self, jobs: int, cpus: int = 1, source: SourceFingerprint | None = None):
        self.jobs = jobs
        self.source = source or SourceFingerprint.of_this_process()
        self._pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_start_run,
                                         initargs=(os.getpid(), cpus), max_tasks_per_child=1)
        self._pending: dict[Any, Any] = {}

    def where(self) -> str:
        return f"{self.jobs} process{'' if self.jobs == 1 else 'es'} on this machine"

    def run(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[tuple[T, Any]]:
        pending = self._pending = {self._pool.submit(run_checked, fn, self.source, item): item for item in items}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                exc = future.exception()
                yield item, exc if exc is not None else future.result()

    def close(self) -> None:
        """Runs not started are cancelled and runs still going are killed (a benchmark whose run failed
        stops now, not when the others end: Python's exit waits for the pool's workers); then the pool
        is waited for, since its manager thread, replacing a worker that just ended (one run per
        process), would otherwise find the pool gone and raise in the background."""
        if self._pending:
            kill = getattr(self._pool, "kill_workers", None)  # Python 3.14 on
            if kill is not None:
                kill()
            else:
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _start_run(parent_pid: int, cpus: int) -> None:
    """A run's process, first thing: dies with the sweep, and computes on ``cpus`` threads. A run that
    sets no thread count of its own (a grading) would take torch's default, one per core: ``jobs`` such
    runs side by side would wait on each other's threads many times over (``hilserl.threads``)."""
    from hilserl.distributed.launch import die_with_parent

    die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = str(cpus)  # before any library starts its OpenMP pool
    import torch

    torch.set_num_threads(cpus)


class RayTasks:
    """Ray tasks of ``cpus`` CPUs each: on a local Ray instance of ``jobs x cpus`` CPUs, or on the
    cluster at ``address`` (``auto``, ``ray://HOST:10001``), where every node needs hilserl installed
    and the run folders are written on the node that runs them (give the sweep a shared ``--out`` to
    keep them in one place; the results always come back here)."""

    def __init__(self, jobs: int, cpus: int, address: str | None = None, source: SourceFingerprint | None = None):
        import ray

        self.ray, self.address, self.jobs = ray, address, jobs
        self.source = source or SourceFingerprint.of_this_process()
        if address:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False,
                     runtime_env={"env_vars": {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}})
        else:
            ray.init(num_cpus=jobs * cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        self.cpus = cpus
        self._refs: dict[Any, Any] = {}

    def where(self) -> str:
        if self.address:
            return f"the Ray cluster at {self.address} ({int(self.ray.cluster_resources().get('CPU', 0))} CPUs)"
        return f"a local Ray instance, {self.jobs} task{'' if self.jobs == 1 else 's'} at a time"

    def run(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[tuple[T, Any]]:
        remote = self.ray.remote(num_cpus=self.cpus, max_retries=RAY_RETRIES)(run_checked)
        self._refs = {remote.remote(fn, self.source, item): item for item in items}
        while self._refs:
            done, _ = self.ray.wait(list(self._refs), num_returns=1)
            for ref in done:
                item = self._refs.pop(ref)
                try:
                    yield item, self.ray.get(ref)
                except Exception as exc:  # the task's own exception, wrapped by Ray (or its worker's death)
                    yield item, getattr(exc, "cause", None) or exc

    def close(self) -> None:
        for ref in self._refs:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()


def make_executor(backend: str, jobs: int, cpus: int = 1, address: str | None = None,
                  source: SourceFingerprint | None = None) -> LocalProcesses | RayTasks:
    """``auto``: Ray when it is installed, else this machine's processes; ``address`` needs Ray.
    ``source``: what each run checks the source on disk against (default: as it is now)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    if backend == "processes":
        if address:
            raise ValueError("--address names a Ray cluster: it needs the ray backend, not processes")
        return LocalProcesses(jobs, cpus, source)
    if not ray_installed():
        if backend == "ray" or address:
            raise BackendUnavailable('Ray is not installed: pip install -e ".[sweep]" (or run on this machine\'s '
                                     "processes with --backend processes)")
        return LocalProcesses(jobs, cpus, source)
    return RayTasks(jobs, cpus, address, source)
