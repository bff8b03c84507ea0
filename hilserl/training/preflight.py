"""Checks before long work: a run is refused at its start, not after an hour, when it could not end
or its results could not be kept (a run folder that is a file, a folder it cannot write, a disk too
small for the buffers' checkpoint, a memory too small for the buffers)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

GIB = 1 << 30


class CannotKeepResults(OSError):
    pass


def writable_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and prove it writable by writing a file there; refuse otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CannotKeepResults(f"{what} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write_check"):
            pass
    except OSError as exc:
        raise CannotKeepResults(f"{what} {folder} cannot be written ({exc.strerror or exc})") from None
    return folder


def check_disk(folder: Path, needed: int, what: str) -> None:
    """Refuse when the disk under ``folder`` has less than ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CannotKeepResults(f"{what} need about {needed / GIB:.1f} GiB, and {folder}'s disk has "
                                f"{free / GIB:.1f} GiB free: free some space, or lower buffer.online_capacity "
                                "or train.env_steps")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable); None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(needed: int, what: str, remedy: str = "lower buffer.online_capacity or train.env_steps") -> None:
    """Refuse when the machine has less than ``needed`` bytes of memory available."""
    free = available_memory()
    if free is not None and free < needed:
        raise CannotKeepResults(f"{what} need about {needed / GIB:.1f} GiB of memory, and this machine has "
                                f"{free / GIB:.1f} GiB available: {remedy}")
