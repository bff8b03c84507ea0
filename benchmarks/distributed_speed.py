"""Actor <-> learner over loopback gRPC with two 128x128 cameras (issue 5's figures):

- transitions per second into a learner process, with and without the feature cache's encoding
  (the wire and the buffers alone, then what a frozen-encoder learner really ingests);
- parameter-push latency: the policy's parameters fetched and loaded by an actor;
- the actor's control loop at 10 Hz while the learner trains on the same machine: policy step time
  (goal under 20 ms on this CPU) and missed 100 ms deadlines (goal none).

    python -m benchmarks.distributed_speed [--seconds 20] [--control-steps 300]
Writes benchmarks/results/distributed_speed.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

import hilserl  # noqa: F401
from benchmarks.common import write_result
from hilserl.config import load_config, save_json
from hilserl.data.transition import Transition
from hilserl.distributed.actor_process import LearnerClient, run_actor
from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.wire import transition_to_pb
from hilserl.envs.factory import task_layout
from hilserl.threads import default_threads
from hilserl.training.learner import build_agent

BATCH = 16


def start_learner(run_dir: Path, overrides: list[str], threads: int | None = None) -> tuple[subprocess.Popen, str]:
    cfg = load_config(None, overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_json(cfg, run_dir / "bench_config.json")
    port_file = run_dir / "port"
    proc = subprocess.Popen([sys.executable, "-m", "hilserl.cli", "learner", "--config", str(run_dir / "bench_config.json"),
                             "--run-dir", str(run_dir), "--port", "0", "--port-file", str(port_file), "--quiet",
                             *(["--threads", str(threads)] if threads else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError("the learner did not start")
        time.sleep(0.1)
    time.sleep(0.2)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


def synthetic_transition(rng: np.random.Generator) -> Transition:
    def obs():
        return {"state": rng.normal(size=16).astype(np.float32),
                "wrist": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
                "front": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)}
    return Transition(obs(), rng.uniform(-1, 1, 4).astype(np.float32), 0.0, obs(), False, False, False)


def ingest_rate(address: str, seconds: float) -> dict:
    client = LearnerClient(address)
    rng = np.random.default_rng(0)
    messages = [transition_to_pb(synthetic_transition(rng)) for _ in range(BATCH)]
    sent, seq, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = []
        for m in messages:
            seq += 1
            batch.append(pb.ActorMessage(actor_id="bench", sequence=seq, transition=m))
        client.send("bench", batch)
        sent += len(batch)
    elapsed = time.perf_counter() - start
    client.close()
    return {"transitions": sent, "seconds": round(elapsed, 2), "per_second": round(sent / elapsed, 1),
            "bytes_per_transition": messages[0].ByteSize()}


def push_latency(address: str, cfg_overrides: list[str], repeats: int = 10) -> dict:
    cfg = load_config(None, cfg_overrides)
    agent = build_agent(cfg, task_layout(cfg.env))
    client = LearnerClient(address)
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        version, state = client.parameters(0)
        agent.load_policy_state_dict(state)
        times.append(time.perf_counter() - start)
        size = sum(v.numel() * v.element_size() for v in state.values())
    client.close()
    ms = np.array(times) * 1000
    return {"bytes": int(size), "ms_mean": round(float(ms.mean()), 1), "ms_max": round(float(ms.max()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--control-steps", type=int, default=300)
    ap.add_argument("--actor-threads", type=int, help="torch threads of the actor (default: as hilserl train)")
    ap.add_argument("--control-only", action="store_true", help="only the control-loop figures (not written)")
    args = ap.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, extra in [] if args.control_only else (("wire_and_buffers", ["agent.feature_cache=false"]), ("with_feature_cache", [])):
            overrides = ["train.env_steps=10000000", "train.learning_starts=10000000", "train.demo_episodes=0",
                         "buffer.online_capacity=4000", *extra]  # a ring of 4,000: bounded memory
            proc, address = start_learner(tmp / name, overrides)
            try:
                figures[f"ingest_{name}"] = ingest_rate(address, args.seconds)
                if name == "with_feature_cache":
                    figures["parameter_push"] = push_latency(address, overrides)
            finally:
                proc.terminate()
                proc.wait(60)
            print(name, figures[f"ingest_{name}"])
        if not args.control_only:
            print("parameter push", figures["parameter_push"])

        # The control loop at 10 Hz while the learner updates on the same 2 cores.
        overrides = [f"train.env_steps={args.control_steps}", "train.learning_starts=50", "train.demo_episodes=2"]
        # As `hilserl train` runs them: half the cores each.
        threads = default_threads()
        proc, address = start_learner(tmp / "control", overrides, threads)
        torch.set_num_threads(args.actor_threads or threads)
        try:
            report = run_actor(address, realtime=True, progress=False)
        finally:
            proc.wait(600)
        learner = json.loads((tmp / "control" / "learner_summary.json").read_text())
        figures["control_loop"] = {**asdict(report), "learner_updates": learner["updates"],
                                   "learner_threads": threads, "actor_threads": args.actor_threads or threads}
        print("control loop", figures["control_loop"])
    if not args.control_only:
        write_result("distributed_speed", figures)


if __name__ == "__main__":
    main()
