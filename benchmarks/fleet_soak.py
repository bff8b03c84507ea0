"""One learner and N actors on this machine for a set time, each killed at random (kill -9) and started
again, then the run audited: how much one learner takes in, and whether anything was lost or taken twice.

Per kind (state only; two 128x128 cameras) and per N (default 1, 2, 4, 8): a learner (``hilserl
learner``) and N actors (``hilserl actor --realtime --index i``, a robot each) run for ``--seconds``. Every
``--kill-every`` seconds on average (exponential intervals), one of them is killed with SIGKILL and
started again: the learner first (with ``--resume``, once it has a checkpoint), then each actor in a random
order (with its index), and again. At the end the
actors are stopped, the learner finishes the updates it owes and stops, and the run is audited
(:func:`audit`):

- the buffers, the learner's counters and ``episodes.jsonl`` agree on every env step and episode;
- each actor index's episodes are 0, 1, 2... once each: none lost, none twice (a restarted actor
  continues from the learner's checkpointed record of its last delivered episode);
- every episode is whole and in order in the buffer (each row's next observation is the next row's);
- the actors' queues dropped nothing, and the learner's update-to-data ratio is the config's once it
  has done the updates it owes (``--catch-up`` seconds at most; a learner far behind stops with updates
  owed, counted).

It writes, per kind and N, the env steps per second offered and taken in, the ratio held, the batches'
round trip to acknowledgement (p50, p99 over every episode's batches) and the audit to
``results/fleet_soak.json``.

Usage: python -m benchmarks.fleet_soak [--actors 1 2 4 8] [--kinds state images] [--seconds 120] [--kill-every 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = {
    "state": ["env.state_only=true", "env.control_hz=50", "env.episode_seconds=2", "train.demo_episodes=2",
              "train.learning_starts=100", "agent.hidden_dims=[64,64]", "agent.batch_size=64"],
    "images": ["env.control_hz=10", "env.episode_seconds=3", "train.demo_episodes=2", "train.learning_starts=40",
               "agent.hidden_dims=[64,64]", "agent.batch_size=32", "buffer.online_capacity=20000",
               "buffer.demo_capacity=2000", "train.checkpoint_every=5"],
}
"""A robot each at its control rate; small networks, so that 8 actors and a learner share 2 cores. An
image learner behind its actors updates seldom: it checkpoints every 5 updates."""
SOAK = ["train.env_steps=100000000", "train.checkpoint_every=50", "train.log_every=10", "train.actor_queue=200000"]
"""Run until stopped; checkpoints often (each kill of the learner goes back to the last); a queue that
holds the whole soak (a drop is counted, and the audit names it). A kind's settings come after these."""
RESTART_DELAY_S = 0.5
STOP_TIMEOUT_S = 600
"""For the actors to deliver their queues, and the learner to finish its owed updates and checkpoint."""


@dataclass
class Fleet:
    """The processes of one soak, with each one's log in ``run_dir/logs``."""

    run_dir: Path
    port: int
    actors: int
    learner: subprocess.Popen | None = None
    actor_procs: dict[int, subprocess.Popen] = field(default_factory=dict)
    lives: dict[str, int] = field(default_factory=dict)
    actor_codes: list[int] = field(default_factory=list)
    """How the actors ended when stopped: 130, as after Ctrl-C, once each delivered its queue."""

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        life = self.lives[name] = self.lives.get(name, -1) + 1
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}-{life}.log", "w") as out:
            return subprocess.Popen([sys.executable, "-m", "hilserl.cli", *args], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_learner(self, resume: bool) -> None:
        self.learner = self._start("learner", [
            "learner", "--config", str(self.run_dir / "soak_config.json"), "--run-dir", str(self.run_dir),
            "--port", str(self.port), "--threads", "1", "--quiet", *(["--resume"] if resume else [])])

    def start_actor(self, index: int) -> None:
        self.actor_procs[index] = self._start(f"actor-{index}", [
            "actor", "--learner", f"127.0.0.1:{self.port}", "--index", str(index), "--realtime",
            "--threads", "1", "--patience", "600"])

    def kill(self, victim: str) -> None:
        proc = self.learner if victim == "learner" else self.actor_procs[int(victim.split("-")[1])]
        proc.kill()
        proc.wait()
        time.sleep(RESTART_DELAY_S)
        if victim == "learner":
            self.start_learner(resume=True)
        else:
            self.start_actor(int(victim.split("-")[1]))

    def stop(self, catch_up_s: float = STOP_TIMEOUT_S) -> None:
        """Actors first (each ends its episode and delivers its queue), then the learner, once it has done
        the updates it owes or ``catch_up_s`` passed (it checkpoints as it stops)."""
        for proc in self.actor_procs.values():
            proc.send_signal(signal.SIGTERM)  # as Ctrl-C (SIGINT is ignored in a background job's children)
        self.actor_codes = [proc.wait(timeout=STOP_TIMEOUT_S) for proc in self.actor_procs.values()]
        wait_until_caught_up(self.run_dir, self.learner, catch_up_s)
        self.learner.send_signal(signal.SIGTERM)
        self.learner.wait(timeout=STOP_TIMEOUT_S)

    def kill_all(self) -> None:
        for proc in [self.learner, *self.actor_procs.values()]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def last_metrics(run_dir: Path) -> dict | None:
    from hilserl.training.run_log import read_jsonl

    rows = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    return rows[-1] if rows else None


def last_episode_env_steps(run_dir: Path) -> int:
    """The env steps the learner has taken in: its last logged episode's count."""
    from hilserl.training.run_log import read_jsonl

    rows = read_jsonl(run_dir / "episodes.jsonl")
    return int(rows[-1]["env_steps"]) if rows else 0


def wait_until_caught_up(run_dir: Path, learner: subprocess.Popen, limit_s: float) -> None:
    """Until the learner's logged updates reach what its env steps are owed (within a log interval), it
    ended, or ``limit_s`` passed (a learner far behind its actors stops with updates owed)."""
    from hilserl.config import load_config

    train = load_config(run_dir / "soak_config.json").train
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and learner.poll() is None:
        now = last_metrics(run_dir)
        if now is not None:
            due = (now["env_steps"] - train.learning_starts + 1) * train.updates_per_env_step
            if now["update"] + train.log_every >= due:
                return
        time.sleep(0.5)


def actor_index(actor_id: str) -> int:
    return int(re.fullmatch(r"actor-(\d+)-\w+", actor_id).group(1))


def audit(run_dir: Path) -> dict:
    """What the finished run holds against what its actors delivered: counts, per-index episode
    numbers, the buffer's episodes, drops and the update-to-data ratio."""
    from hilserl.config import load_config
    from hilserl.training.checkpoint import latest_checkpoint, read_checkpoint
    from hilserl.training.run_log import read_jsonl

    cfg = load_config(run_dir / "soak_config.json")
    ckpt = latest_checkpoint(run_dir)
    state = read_checkpoint(ckpt)
    episodes = read_jsonl(run_dir / "episodes.jsonl")
    obs = np.load(ckpt / "buffer_online.obs.state.npy", mmap_mode="r")
    next_obs = np.load(ckpt / "buffer_online.next_obs.state.npy", mmap_mode="r")
    rows = len(obs)
    lengths = [e["length"] for e in episodes]
    ends = np.cumsum(lengths)
    chained = np.all(next_obs[:-1] == obs[1:], axis=1)  # within an episode, each row leads to the next
    inside = np.ones(max(0, rows - 1), bool)
    inside[ends[:-1][ends[:-1] <= rows - 1] - 1] = False
    per_index: dict[int, list[int]] = {}
    for e in episodes:
        per_index.setdefault(actor_index(e["actor_id"]), []).append(e["actor_episode"])
    lost = twice = 0
    for numbers in per_index.values():
        counts = np.bincount(numbers)
        lost += int(np.sum(counts == 0))
        twice += int(np.sum(np.maximum(counts - 1, 0)))
    dropped: dict[str, int] = {}
    for e in episodes:
        dropped[e["actor_id"]] = max(dropped.get(e["actor_id"], 0), int(e.get("dropped", 0)))
    train = cfg.train
    due = max(0, (state["actor"]["env_steps"] - train.learning_starts + 1) * train.updates_per_env_step)
    return {
        "env_steps": int(state["actor"]["env_steps"]), "episodes": len(episodes), "buffer_rows": rows,
        "counts_agree": rows == int(state["actor"]["env_steps"]) == int(ends[-1] if len(ends) else 0)
        and len(episodes) == int(state["actor"]["episode"]),
        "episodes_lost": lost, "episodes_twice": twice,
        "episodes_whole": bool(np.all(chained[inside])) and int(ends[-1] if len(ends) else 0) == rows,
        "dropped_by_actor_queues": int(sum(dropped.values())),
        "updates": int(state["updates"]), "updates_due": int(due),
        "updates_owed_at_stop": max(0, int(due) - int(state["updates"])),
        "update_to_data_held": abs(int(state["updates"]) - due) <= train.updates_per_env_step,
    }


def soak(kind: str, actors: int, seconds: float, kill_every: float, run_dir: Path, seed: int = 0,
         kills: list[tuple[float, str]] | None = None, progress: bool = True, catch_up_s: float = STOP_TIMEOUT_S) -> dict:
    """One soak; ``kills``: a fixed schedule of (second, "learner" or "actor-I") instead of random ones;
    ``catch_up_s``: how long the learner may finish its owed updates once the actors have stopped."""
    from hilserl.config import load_config, save_json

    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_json(load_config(None, [*SOAK, *KINDS[kind]]), run_dir / "soak_config.json")
    fleet = Fleet(run_dir, free_port(), actors)
    done_kills: list[dict] = []
    try:
        fleet.start_learner(resume=False)
        for i in range(actors):
            fleet.start_actor(i)
        while not (run_dir / "episodes.jsonl").exists():  # the demos recorded and encoded, actors connected
            if fleet.learner.poll() is not None:
                raise RuntimeError(f"the learner ended at start; see {run_dir / 'logs'}")
            time.sleep(0.2)
        start = time.monotonic()
        schedule = list(kills) if kills is not None else []
        next_kill = rng.expovariate(1 / kill_every) if kills is None else None
        deck: list[str] = []
        while (elapsed := time.monotonic() - start) < seconds:
            victim = None
            resumable = bool(list((run_dir / "checkpoints").glob("ckpt_*[0-9]")))
            if kills is not None and schedule and elapsed >= schedule[0][0]:
                if schedule[0][1] != "learner" or resumable:  # else: once it has a checkpoint to resume
                    victim = schedule.pop(0)[1]
            elif kills is None and elapsed >= next_kill:
                if not deck:  # the learner first, then each actor in a random order, and again
                    deck = ["learner", *rng.sample([f"actor-{i}" for i in range(actors)], actors)]
                if deck[0] == "learner" and not resumable and actors:
                    deck.append(deck.pop(0))  # the learner once it has a checkpoint to resume from
                victim = deck.pop(0)
                if victim == "learner" and not resumable:
                    deck.insert(0, victim)
                    victim = None
                next_kill = elapsed + rng.expovariate(1 / kill_every)
            if victim is not None:
                fleet.kill(victim)
                done_kills.append({"second": round(elapsed, 1), "victim": victim})
                if progress:
                    print(f"  {elapsed:5.1f} s: killed {victim} (kill -9) and started it again", flush=True)
            time.sleep(0.1)
        window = last_metrics(run_dir) or {}
        taken_in = (last_episode_env_steps(run_dir), window.get("update", 0))
        fleet.stop(catch_up_s)
    finally:
        fleet.kill_all()
    result = audit(run_dir)
    from hilserl.training.run_log import read_jsonl

    link = [e["link_ms"] for e in read_jsonl(run_dir / "episodes.jsonl") if e.get("link_ms")]
    cfg_hz = float(next(o for o in KINDS[kind] if o.startswith("env.control_hz=")).split("=")[1])
    return {
        "kind": kind, "actors": actors, "seconds": seconds, "kills": done_kills,
        "offered_steps_per_s": actors * cfg_hz, "taken_in_steps_per_s": round(taken_in[0] / seconds, 1),
        "updates_per_env_step_in_the_window": round(taken_in[1] / max(1, taken_in[0]), 2),
        "updates_per_env_step_configured": load_config(run_dir / "soak_config.json").train.updates_per_env_step,
        "link_ms_p50": round(float(np.median([x["p50"] for x in link])), 1) if link else None,
        "link_ms_p99": round(float(np.percentile([x["p99"] for x in link], 99)), 1) if link else None,
        **result,
    }


def earlier_soaks(args) -> list[dict]:
    """The soaks of the result file, refused if they ran with other settings."""
    import json

    from benchmarks.common import RESULTS

    path = RESULTS / "fleet_soak.json"
    if not path.exists():
        raise SystemExit(f"--add: no earlier result {path}")
    earlier = json.loads(path.read_text())
    same = {"seconds": args.seconds, "kill_every": args.kill_every, "seed": args.seed, "catch_up_s": args.catch_up}
    if any(earlier.get(k) != v for k, v in same.items()) or earlier.get("soak") != SOAK:
        raise SystemExit(f"--add: {path} ran with other settings; run without --add")
    return [r for r in earlier["runs"] if r["kind"] in KINDS and KINDS[r["kind"]] == earlier["kinds"][r["kind"]]]


def main() -> None:
    from benchmarks.common import write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--seconds", type=float, default=120.0, help="each soak's length (default 120)")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds between kills (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="the kills' random draw")
    parser.add_argument("--add", action="store_true",
                        help="keep the other kinds' and counts' soaks from the result file of an earlier invocation "
                        "with the same settings (one run here replaces its own)")
    parser.add_argument("--catch-up", type=float, default=120.0,
                        help="seconds the learner may finish its owed updates after the actors stop (default 120; "
                        "a learner far behind its actors stops with updates owed, and the result says how many)")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    results = []
    earlier = earlier_soaks(args) if args.add else []

    def write(runs: list[dict], complete: bool) -> bool:
        planned = {(k, n) for k in args.kinds for n in args.actors}
        runs = sorted([*[r for r in earlier if (r["kind"], r["actors"]) not in planned], *runs],
                      key=lambda r: (list(KINDS).index(r["kind"]), r["actors"]))
        clean = all(r["episodes_lost"] == r["episodes_twice"] == r["dropped_by_actor_queues"] == 0
                    and r["episodes_whole"] and r["counts_agree"] for r in runs)
        write_result("fleet_soak", {"seconds": args.seconds, "kill_every": args.kill_every, "seed": args.seed,
                                    "catch_up_s": args.catch_up, "kinds": {r["kind"]: KINDS[r["kind"]] for r in runs},
                                    "soak": SOAK, "runs": runs, "complete": complete, "nothing_lost_or_twice": clean})
        return clean

    for kind in args.kinds:
        for n in args.actors:
            print(f"{kind}, {n} actor{'s' if n > 1 else ''}, {args.seconds:.0f} s, a kill every "
                  f"{args.kill_every:.0f} s on average", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                r = soak(kind, n, args.seconds, args.kill_every, Path(tmp) / "run", args.seed, catch_up_s=args.catch_up)
            results.append(r)
            write(results, complete=False)  # what is done so far survives a stop
            print(f"  offered {r['offered_steps_per_s']:.0f} env steps/s, taken in {r['taken_in_steps_per_s']:.1f}; "
                  f"round trip p99 {r['link_ms_p99']} ms; {len(r['kills'])} kills; {r['episodes']} episodes, "
                  f"lost {r['episodes_lost']}, twice {r['episodes_twice']}, dropped "
                  f"{r['dropped_by_actor_queues']}, whole {r['episodes_whole']}, counts agree {r['counts_agree']}, "
                  f"update-to-data held {r['update_to_data_held']} ({r['updates_owed_at_stop']} updates owed at the "
                  f"stop)", flush=True)
    clean = write(results, complete=True)
    if not clean:
        raise SystemExit("the audit found a loss or a repeat: see the result file and each run's logs")


if __name__ == "__main__":
    main()
