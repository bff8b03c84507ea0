"""``hilserl train`` launched many times, loaded, from a process whose gRPC is busy: aborts counted.

A process that holds gRPC's threads (a test runner after the in-process gRPC tests, a notebook that
ran a learner) and forks with Python code to run before exec (``preexec_fn``) can abort the child:
gRPC's fork handlers run in it ('epoll_wait error: Bad file descriptor', then SIGABRT or SIGSEGV).
This script measures, in one run and beside ``--busy`` CPU-bound processes:

1. the cause: ``python -c pass`` started ``--forks`` times with a no-op ``preexec_fn`` and without;
2. the fix: a short two-process ``hilserl train`` (state only, tiny networks) launched ``--runs``
   times; each must exit 0 with its learner, never abort.

Usage: python -m benchmarks.launch_stress [--runs 50] [--busy 3]   (run it alone: it loads the machine)
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import grpc
from tqdm import tqdm

import hilserl  # noqa: F401
from benchmarks.common import write_result

BUSY_LOOP = "while True: pass"
TRAIN = ["--threads", "1", "--eval-seeds", "0", *[a for o in (
    "env.state_only=true", "train.demo_episodes=1", "train.env_steps=40", "env.episode_seconds=2",
    "env.control_hz=20", "train.learning_starts=20", "agent.hidden_dims=[16]", "agent.batch_size=8")
    for a in ("--set", o)]]
RUN_TIMEOUT_S = 600


def busy_grpc() -> tuple[grpc.Server, grpc.Channel]:
    """A server and a connected channel in this process: gRPC's threads are running, as in a test runner."""
    server = grpc.server(futures.ThreadPoolExecutor(2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return server, channel


def forks(count: int, preexec: bool) -> dict[int, int]:
    codes: collections.Counter[int] = collections.Counter()
    extra = {"preexec_fn": lambda: None} if preexec else {}
    for _ in tqdm(range(count), desc=f"python -c pass, preexec_fn={'yes' if preexec else 'no'}", unit="fork"):
        codes[subprocess.run([sys.executable, "-c", "pass"], stderr=subprocess.DEVNULL, **extra).returncode] += 1
    return dict(codes)


def trains(count: int) -> tuple[dict[int, int], list[float], list[str]]:
    codes: collections.Counter[int] = collections.Counter()
    seconds, failures = [], []
    for _ in tqdm(range(count), desc="hilserl train", unit="run"):
        with tempfile.TemporaryDirectory() as run_dir:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "hilserl.cli", "train", "--run-dir", run_dir, *TRAIN],
                                  capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            seconds.append(time.perf_counter() - start)
            codes[done.returncode] += 1
            if done.returncode != 0:
                failures.append((done.stdout + done.stderr)[-2000:])
    return dict(codes), seconds, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50, help="hilserl train launches (default 50)")
    ap.add_argument("--forks", type=int, default=200, help="bare forks per way of starting (default 200)")
    ap.add_argument("--busy", type=int, default=3, help="CPU-bound processes beside it (default 3)")
    args = ap.parse_args()
    others = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    server, channel = busy_grpc()
    try:
        with_preexec, without = forks(args.forks, True), forks(args.forks, False)
        codes, seconds, failures = trains(args.runs)
    finally:
        channel.close()
        server.stop(None)
        for p in others:
            p.kill()
            p.wait()
    aborted = sum(n for code, n in codes.items() if code < 0)
    print(f"bare forks with preexec_fn: return codes {with_preexec}; without: {without}")
    print(f"hilserl train x{args.runs} beside {args.busy} busy processes: return codes {codes} "
          f"({aborted} aborted), {sum(seconds) / len(seconds):.1f} s per run")
    for text in failures:
        print("--- a failed run:\n" + text)
    write_result("launch_stress", {
        "busy_processes": args.busy,
        "forks": {"count": args.forks, "preexec_fn": with_preexec, "plain": without},
        "train": {"runs": args.runs, "return_codes": codes, "aborted": aborted,
                  "mean_seconds": round(sum(seconds) / len(seconds), 1), "failures": failures},
    })
    sys.exit(1 if codes != {0: args.runs} else 0)


if __name__ == "__main__":
    main()
