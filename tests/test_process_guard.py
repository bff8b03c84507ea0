"""The suite's guard against processes that outlive their test (tests/process_guard.py), tested on
a test that starts one and then fails."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LEAKY_TEST = textwrap.dedent('''
    import subprocess, sys

    def test_starts_an_orphan_then_fails(tmp_path):
        # A grandchild in its own session: its parent exits at once, so it is an orphan nobody waits for.
        code = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], " \\
               "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid, flush=True)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        (tmp_path.parent.parent / "orphan.pid").write_text(out.strip())
        assert False, "the test fails"
''')


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_an_orphan_left_by_a_failing_test_is_named_and_killed(tmp_path):
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST)
    tests = Path(__file__).parent
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "process_guard", "-p", "no:cacheprovider",
                          "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_leaky.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": f"{tests}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    pid = int((tmp_path / "orphan.pid").read_text())
    assert run.returncode == 1, run.stdout
    assert "the test fails" in run.stdout  # its own failure still shows
    assert f"the test left processes running (now killed): pid {pid}: " in run.stdout, run.stdout
    assert "time.sleep(300)" in run.stdout
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
