"""A seed sweep stopped by SIGTERM takes its worker processes along (they went on training)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SWEEP = """
import os, sys, time
from benchmarks.common import seed_pool
with seed_pool(1) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_sweep_killed_by_sigterm_leaves_no_worker_running():
    root = Path(__file__).resolve().parents[1]
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP], cwd=root, stdout=subprocess.PIPE, text=True)
    worker = int(sweep.stdout.readline())
    assert alive(worker)
    sweep.send_signal(signal.SIGTERM)
    sweep.wait(30)
    deadline = time.monotonic() + 30
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker)
