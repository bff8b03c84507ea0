"""A seeded run reproduces: same config, seed and thread count give the same episodes, losses and
actions, whatever the calling process's thread count and whatever else runs on the machine."""

import json
import subprocess
import sys

import numpy as np
import torch

from hilserl.config import load_config
from hilserl.training.checkpoint import latest_checkpoint
from hilserl.training.train import train

SHORT_IMAGE_RUN = [
    "train.env_steps=120", "train.learning_starts=40", "train.demo_episodes=1", "train.log_every=5",
    "env.episode_seconds=4", "agent.hidden_dims=[32,32]", "agent.batch_size=16",
    "agent.encoder.image_latent_dim=32", "agent.cache_crops=2", "threads=1",
]
BUSY_LOOP = "while True: pass"


def run(run_dir, *extra):
    cfg = load_config(None, [*SHORT_IMAGE_RUN, *extra])
    train(cfg, run_dir, progress=False, tensorboard=False)
    logs = {name: (run_dir / name).read_text() for name in ("episodes.jsonl", "metrics.jsonl")}
    actions = np.load(latest_checkpoint(run_dir) / "buffer_online.action.npy")
    return logs, actions


def test_two_seeded_runs_give_identical_logs_and_actions(tmp_path):
    first_logs, first_actions = run(tmp_path / "first")
    assert first_logs["episodes.jsonl"].count("\n") == 3 and first_logs["metrics.jsonl"].count("\n") >= 10

    # The second: the caller at another thread count than for the first (as a test after one that
    # changed it would be), and a busy process competing for the cores.
    caller_threads = torch.get_num_threads()
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    torch.set_num_threads(caller_threads + 1)
    try:
        second_logs, second_actions = run(tmp_path / "second")
        assert torch.get_num_threads() == caller_threads + 1  # the run gave the caller its count back
    finally:
        torch.set_num_threads(caller_threads)
        busy.kill()
        busy.wait()
    assert second_logs == first_logs
    np.testing.assert_array_equal(second_actions, first_actions)
    assert json.loads((tmp_path / "second" / "config.json").read_text())["threads"] == 1  # recorded

    other_logs, _ = run(tmp_path / "other_seed", "seed=1")
    assert other_logs["metrics.jsonl"] != first_logs["metrics.jsonl"]


def test_a_run_records_the_thread_count_it_chose(tmp_path):
    from hilserl.threads import default_threads

    cfg = load_config(None, ["env.state_only=true", "train.env_steps=20", "train.learning_starts=10",
                             "train.demo_episodes=0", "agent.hidden_dims=[8]", "agent.batch_size=4"])
    assert cfg.threads == 0  # "choose for this machine"
    train(cfg, tmp_path, progress=False, tensorboard=False)
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == default_threads() >= 1
