"""Output that outlives its reader. The learner that ``hilserl train`` starts writes to pipes its parent
reads; when the parent dies (kill -9), the next line raised BrokenPipeError in the middle of the
learner's shutdown, which then ended without its summary. Here, once a pipe is found broken, its file
descriptor is pointed at a log file in the run folder: everything written later (lines, bars, a
traceback, a stack dump) lands there, and nothing raises."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import TextIO

LOG_NAME = "learner_output.log"


def _move(fd: int, path: Path) -> None:
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, fd)
    finally:
        os.close(target)


def reader_gone(fd: int) -> bool:
    """True when ``fd`` is a pipe whose reading end is closed (writing to it would fail)."""
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR is reported whatever the mask
    return any(event & select.POLLERR for _, event in poller.poll(0))


class OrphanProof:
    """A text stream that, on a broken pipe, moves its file descriptor to ``path`` and writes on."""

    def __init__(self, stream: TextIO, path: Path):
        self._stream, self.path = stream, Path(path)
        self.moved = False

    def _recover(self) -> None:
        _move(self._stream.fileno(), self.path)
        self.moved = True

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:  # raised by the flush of a line: the text is in the stream's buffer
            self._recover()
            self._stream.flush()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._recover()
            self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def keep_output(folder: Path) -> Path:
    """Make this process's stdout and stderr orphan-proof, falling back to ``folder/learner_output.log``."""
    path = Path(folder) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, OrphanProof):
            setattr(sys, name, OrphanProof(stream, path))
    return path


def redirect_if_orphaned(folder: Path) -> None:
    """Point stdout and stderr at the log now if their readers are gone (before a write that cannot
    raise, such as a stack dump from C)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            continue
        if reader_gone(fd):
            _move(fd, Path(folder) / LOG_NAME)
