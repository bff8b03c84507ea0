"""A single-process run stopped mid-episode and resumed, against the same run never stopped.

Each case trains a small seeded run three ways: whole; stopped (as by Ctrl-C) at its ``--stop-at``-th
env step, in the middle of an episode; and that stopped run resumed from its checkpoint. The resumed
run must end where the whole one does, to the bit: every buffer file (rows and frames), the networks,
optimisers, counters and random streams, and the episode log. The cases' online buffers are smaller
than the steps before the stop, so the episode stopped has overwritten old rows (and frames) that the
episode run again must still sample. ``tests/test_resume.py`` runs the state case; this adds the
cameras (about a minute more on a 2-core CPU).

Usage: python -m benchmarks.resume_exact [--cases state images] [--stop-at 130]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import write_result
from hilserl.config import load_config
from hilserl.training.checkpoint import latest_checkpoint, read_checkpoint
from hilserl.training.learner import Learner
from hilserl.training.train import train

SMALL = ["train.learning_starts=40", "train.demo_episodes=1", "train.checkpoint_every=1000", "seed=3", "threads=1"]
CASES = {
    "state": [*SMALL, "env.state_only=true", "agent.hidden_dims=[16]", "agent.batch_size=8", "train.env_steps=240",
              "buffer.online_capacity=100"],
    "images": [*SMALL, "env.episode_seconds=4", "agent.hidden_dims=[32,32]", "agent.batch_size=16",
               "agent.encoder.image_latent_dim=32", "agent.cache_crops=2", "train.env_steps=200",
               "buffer.online_capacity=60"],
}
"""Each case's overrides: a full online buffer well before the stop."""
STATE_KEYS = ("updates", "actor", "online_added_by_kind", "agent", "optimizers", "agent_rngs", "buffer_rngs", "rng")
"""What a checkpoint's state must hold alike in the two runs (beside the buffers' files)."""


@contextlib.contextmanager
def stopped_at_step(step: int):
    """Within it, the ``step``-th step taken in by a learner raises KeyboardInterrupt, as a Ctrl-C would."""
    real, calls = Learner.add, [0]

    def add(self, t):
        calls[0] += 1
        if calls[0] == step:
            raise KeyboardInterrupt
        real(self, t)

    Learner.add = add
    try:
        yield
    finally:
        Learner.add = real


def stop_and_resume(overrides: list[str], whole: Path, stopped: Path, stop_at: int) -> dict:
    """Train ``whole`` uninterrupted; train ``stopped`` until its ``stop_at``-th step, then resume it to
    the end. Returns the state of the checkpoint the resume started from."""
    train(load_config(None, overrides), whole, progress=False, tensorboard=False)
    with stopped_at_step(stop_at), contextlib.suppress(KeyboardInterrupt):
        train(load_config(None, overrides), stopped, progress=False, tensorboard=False)
    checkpoint = read_checkpoint(latest_checkpoint(stopped))
    train(load_config(None, overrides), stopped, progress=False, tensorboard=False, resume=True)
    return checkpoint


def final_state(run_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A run's latest checkpoint: its state and its buffer files."""
    folder = latest_checkpoint(run_dir)
    return read_checkpoint(folder), {p.name: np.load(p) for p in sorted(folder.glob("buffer_*.npy"))}


def same(a, b) -> bool:
    """Equal to the bit, through dicts, lists and tensors."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def differences(whole: Path, resumed: Path) -> list[str]:
    """What the resumed run's end holds otherwise than the whole run's: buffer files, state keys, the
    episode log. Empty when it repeats the run exactly."""
    (state_w, rows_w), (state_r, rows_r) = final_state(whole), final_state(resumed)
    differ = sorted(set(rows_w) ^ set(rows_r))
    differ += [name for name in sorted(set(rows_w) & set(rows_r)) if not np.array_equal(rows_w[name], rows_r[name])]
    differ += [key for key in STATE_KEYS if not same(state_w.get(key), state_r.get(key))]
    if (whole / "episodes.jsonl").read_text() != (resumed / "episodes.jsonl").read_text():
        differ.append("episodes.jsonl")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--stop-at", type=int, default=130, help="the env step the stop falls on (mid-episode)")
    args = parser.parse_args()
    results = {}
    for case in args.cases:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as root:
            whole, stopped = Path(root) / "whole", Path(root) / "stopped"
            checkpoint = stop_and_resume(CASES[case], whole, stopped, args.stop_at)
            differ = differences(whole, stopped)
            rows = len(final_state(whole)[1]["buffer_online.reward.npy"])
        results[case] = {"overrides": CASES[case], "stopped_at": args.stop_at,
                         "resumed_from_env_step": int(checkpoint["actor"]["env_steps"]),
                         "online_rows_at_end": rows, "differences": differ, "exact": not differ,
                         "seconds": round(time.perf_counter() - started, 1)}
        print(f"{case}: stopped at step {args.stop_at}, resumed from the episode start at env step "
              f"{results[case]['resumed_from_env_step']}, online buffer {rows} rows at the end: "
              + ("the resumed run repeats the whole run exactly" if not differ else f"differs in {', '.join(differ)}"),
              flush=True)
    write_result("resume_exact", {"cases": results})
    if not all(r["exact"] for r in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
