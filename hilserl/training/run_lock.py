"""One run folder, one writer: the single-process trainer or the learner holds ``RUN/.lock``.

A second writer on the same folder (a resumed run while an orphaned learner still runs, two
trainings given the same ``--run-dir``) would interleave its checkpoints and logs with the first
one's. The lock is an advisory ``flock``: the kernel releases it when its holder dies, even by
kill -9, so it is never left stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from hilserl.training.preflight import writable_folder

LOCK_FILE = ".lock"


class RunFolderInUse(RuntimeError):
    pass


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block, or refuse at once naming the process that holds it."""
    path = writable_folder(run_dir, "the run folder") / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise RunFolderInUse(f"{run_dir} is being written by process {holder} (a training or a learner): "
                                 "stop it, or give another --run-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
