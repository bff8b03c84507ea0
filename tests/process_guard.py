"""A pytest plugin: no test leaves a process behind, pass or fail.

The test process is made a child subreaper, so that an orphan (a learner whose ``train`` was killed, a
grandchild of a test) is re-parented to it instead of to init, where nobody would see it. After each
test, every process under this one that was not there before it is killed with its process group and
the test fails, naming them; at the end of the session anything still under this one fails the run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36
KILL_WAIT_S = 10.0
EXIT_GRACE_S = 5.0
"""A process seen at teardown may be on its way out (its exit under way, its parent not yet told):
one still there after this long was left behind."""


def process_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0]


def descendants(root: int | None = None) -> dict[int, str]:
    """Live (non-zombie) processes under ``root`` (default: this one), with their command lines."""
    root = os.getpid() if root is None else root
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := process_stat(int(entry.name))) is not None and st[1] != "Z":
            parent_of[int(entry.name)] = st[0]
    found, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier and pid not in found}
        for pid in frontier:
            try:
                found[pid] = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                              .strip())
            except OSError:
                found[pid] = "?"
    return found


def reap() -> None:
    """Collect the exit status of this process's ended children that nobody waits for (orphans the
    subreaper took in), so that they do not linger as zombies."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_stat(int(entry.name)) == (os.getpid(), "Z"):
            try:
                os.waitpid(int(entry.name), os.WNOHANG)
            except ChildProcessError:
                pass


def kill(pids) -> None:
    """SIGKILL each process and its process group (never this process's own), then wait until they are
    gone."""
    own = os.getpgid(0)
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own:
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + KILL_WAIT_S
    while any((st := process_stat(p)) is not None and st[1] != "Z" for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    reap()


def still_running(found: dict[int, str], grace_s: float = EXIT_GRACE_S) -> dict[int, str]:
    """Those of ``found`` still running (not ended, not a zombie) after up to ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        reap()
        left = {pid: cmd for pid, cmd in found.items() if (st := process_stat(pid)) is not None and st[1] != "Z"}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _describe(found: dict[int, str]) -> str:
    return "; ".join(f"pid {pid}: {cmd[:160]}" for pid, cmd in sorted(found.items()))


def pytest_configure(config):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (AttributeError, OSError):
        pass  # not Linux: orphans go to init, and only direct leftovers are seen
    config._process_guard_start = set(descendants())


@pytest.fixture(autouse=True)
def no_process_left_behind(request):
    before = set(descendants())
    yield
    left = still_running({pid: cmd for pid, cmd in descendants().items() if pid not in before})
    if left:
        kill(left)
        pytest.fail(f"the test left processes running (now killed): {_describe(left)}", pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    left = still_running({pid: cmd for pid, cmd in descendants().items()
                          if pid not in getattr(session.config, "_process_guard_start", set())})
    if left:
        kill(left)
        session.config.get_terminal_writer().line(
            f"process guard: processes outlived the test session (now killed): {_describe(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
