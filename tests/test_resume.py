"""Checkpoints that resume exactly, and what a crash or a changed config gets."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hilserl.config import load_config
from hilserl.diagnostics.run_log import read_jsonl
from hilserl.distributed.checkpoint import (ResumeRefused, check_resume, config_differences, latest_checkpoint,
                                            list_checkpoints, read_checkpoint)
from hilserl.train import train

BASE = ["env.state_only=true", "train.learning_starts=40", "train.demo_episodes=1", "agent.hidden_dims=[16]",
        "agent.batch_size=8", "train.checkpoint_every=50", "train.keep_checkpoints=2"]


def test_resume_continues_counters_buffers_and_logs(tmp_path):
    first = train(load_config(None, [*BASE, "train.env_steps=160"]), tmp_path, progress=False, tensorboard=False)
    folder = latest_checkpoint(tmp_path)
    ckpt = read_checkpoint(folder)
    assert ckpt["updates"] == first.updates and ckpt["actor"]["env_steps"] == first.env_steps
    stored_online = np.load(folder / "buffer_online.reward.npy")
    assert len(stored_online) == first.env_steps  # every online transition is in the checkpoint
    assert len(list_checkpoints(tmp_path)) == 2  # keep_checkpoints

    second = train(load_config(None, [*BASE, "train.env_steps=320"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)
    assert second.env_steps >= 320 and second.updates > first.updates
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert [e["episode"] for e in episodes] == list(range(len(episodes)))  # appended, numbering continues
    assert episodes[-1]["env_steps"] == second.env_steps
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["buffer_composition"]["policy_steps"] + summary["buffer_composition"]["intervention_steps"] == second.env_steps
    assert read_jsonl(tmp_path / "resumes.jsonl")[0]["config_differences"] == ["train.env_steps: 160 -> 320"]


def test_config_changes_are_listed_and_shape_changes_refused(tmp_path):
    stored = json.loads(json.dumps(__import__("hilserl.config", fromlist=["to_dict"]).to_dict(load_config(None, BASE))))
    assert check_resume(stored, load_config(None, [*BASE, "agent.actor_lr=0.001"])) == ["agent.actor_lr: 0.0003 -> 0.001"]
    with pytest.raises(ResumeRefused, match=r"agent.hidden_dims: \[16\] -> \[32\]"):
        check_resume(stored, load_config(None, [*BASE, "agent.hidden_dims=[32]"]))
    assert config_differences({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["a.c: '(absent)' -> 2"]


def test_resume_refused_on_the_command_line(tmp_path, capsys):
    from hilserl.cli import main

    train(load_config(None, [*BASE, "train.env_steps=60"]), tmp_path, progress=False, tensorboard=False)
    args = ["train", "--single-process", "--run-dir", str(tmp_path), "--resume", "--eval-seeds", "0"]
    assert main(args + [a for o in BASE for a in ("--set", o)] + ["--set", "agent.hidden_dims=[8]"]) == 2
    assert "network" in capsys.readouterr().err


KILL_DURING_WRITE = r"""
import os, signal, sys, torch
from hilserl.config import load_config
from hilserl.train import train
real_save = torch.save
def dying_save(obj, f, *a, **k):
    if isinstance(obj, dict) and obj.get("updates", 0) >= 100:
        f.write(b"half a checkpoint")  # a crash mid-write
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)
torch.save = dying_save
train(load_config(None, sys.argv[2:]), sys.argv[1], progress=False, tensorboard=False)
"""


def test_kill_9_during_a_checkpoint_write_resumes_from_the_last_complete_one(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(tmp_path), *BASE, "train.env_steps=300"],
                          capture_output=True, timeout=300)
    assert proc.returncode == -9
    assert list((tmp_path / "checkpoints").glob("*.tmp"))  # the half-written file
    last = latest_checkpoint(tmp_path)
    assert last is not None and last.name == "ckpt_00000050"
    result = train(load_config(None, [*BASE, "train.env_steps=200"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)
    assert result.env_steps >= 200 and result.updates > 50


def test_resume_without_a_checkpoint_is_a_message(tmp_path, capsys):
    from hilserl.cli import main

    assert main(["train", "--single-process", "--run-dir", str(tmp_path), "--resume"]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
