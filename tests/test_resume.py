"""Checkpoints that resume exactly, and what a crash or a changed config gets."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_process import hilserl_command

from benchmarks.resume_exact import differences, final_state, stop_and_resume
from hilserl.config import load_config
from hilserl.training.checkpoint import (
    ResumeRefused,
    check_resume,
    config_differences,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint,
)
from hilserl.training.run import resume_state
from hilserl.training.run_log import read_jsonl
from hilserl.training.train import train

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


def test_an_episodes_start_is_written_once_however_many_checkpoints_fall_in_the_episode(tmp_path, monkeypatch):
    """A single-process checkpoint holds the run as its episode began, so every one that falls due in
    an episode is the same state: it is written once (a rewrite costs the buffers' bytes again and
    leaves a moment with only older checkpoints), and a resumed run does not write again the one it
    was read from. The policy beside them still follows the networks."""
    import hilserl.training.learner_loop as learner_loop
    from hilserl.training.checkpoint import POLICY_FILE, checkpoint_dir

    written, exported = [], []
    write, export = learner_loop.write_checkpoint, learner_loop.export_policy

    def write_and_count(run_dir, state, step, *args, **kwargs):
        written.append(step)
        return write(run_dir, state, step, *args, **kwargs)

    def export_and_count(policy, cfg, path, *args):
        exported.append(path)
        return export(policy, cfg, path, *args)

    monkeypatch.setattr(learner_loop, "write_checkpoint", write_and_count)
    monkeypatch.setattr(learner_loop, "export_policy", export_and_count)
    settings = [*BASE, "train.checkpoint_every=7", "env.episode_seconds=4"]
    first = train(load_config(None, [*settings, "train.env_steps=120"]), tmp_path, progress=False, tensorboard=False)
    assert len(written) == len(set(written)) >= 2
    assert first.updates // 7 > len(written) and len(exported) == first.updates // 7 - len(written) + 1  # +1: the end
    assert exported and all(path == checkpoint_dir(tmp_path) / POLICY_FILE for path in exported)

    resumed_from = read_checkpoint(latest_checkpoint(tmp_path))["updates"]
    written.clear()
    second = train(load_config(None, [*settings, "train.env_steps=200"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)
    assert second.updates > first.updates and written and resumed_from not in written
    assert len(written) == len(set(written))


KILL_DURING_WRITE = r"""
import os, signal, sys, torch
from hilserl.config import load_config
from hilserl.training.run import resume_state
from hilserl.training.train import train
real_save = torch.save
written = []
def dying_save(obj, f, *a, **k):
    if isinstance(obj, dict) and "updates" in obj:
        written.append(obj["updates"])
    if len(written) == 2:  # the second checkpoint
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
    complete = list_checkpoints(tmp_path)
    assert len(complete) == 1  # the first one, whole
    held = read_checkpoint(complete[0])["updates"]
    result = train(load_config(None, [*BASE, "train.env_steps=200"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)
    assert result.env_steps >= 200 and result.updates > held


KILL_BETWEEN_REMOVE_AND_RENAME = r"""
import os, signal, sys
from hilserl.config import load_config
from hilserl.training import checkpoint, learner_loop
from hilserl.training.train import train
real_write, real_replace = checkpoint.write_checkpoint, os.replace
def written_twice(*args, **kwargs):  # a stop right after a checkpoint writes the same update again
    real_write(*args, **kwargs)
    def dying_replace(src, dst):
        if str(src).endswith(".tmp"):  # the first copy is gone, the second not yet in place
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
    checkpoint.os.replace = dying_replace
    return real_write(*args, **kwargs)
learner_loop.write_checkpoint = written_twice
train(load_config(None, sys.argv[2:]), sys.argv[1], progress=False, tensorboard=False)
"""


def test_a_kill_while_the_same_update_is_checkpointed_again_loses_no_checkpoint(tmp_path, capsys):
    """Writing an update's checkpoint a second time removes the first before renaming the second into
    place; a kill between the two left only the whole ``ckpt_N.tmp``, which the resume ignored (and
    the next write deleted): the run went back a checkpoint. The resume now puts it in place."""
    proc = subprocess.run([sys.executable, "-c", KILL_BETWEEN_REMOVE_AND_RENAME, str(tmp_path), *BASE,
                           "train.env_steps=300"], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    (interrupted,) = (tmp_path / "checkpoints").glob("ckpt_*.tmp")
    assert list_checkpoints(tmp_path) == []  # the first checkpoint's only copy is the .tmp
    held = read_checkpoint(interrupted)["updates"]
    result = train(load_config(None, [*BASE, "train.env_steps=200"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)  # without a checkpoint to resume, refused
    assert f"checkpoint {interrupted.name.removesuffix('.tmp')} was whole" in capsys.readouterr().out
    assert result.env_steps >= 200 and result.updates > held
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_resume_without_a_checkpoint_is_a_message(tmp_path, capsys):
    from hilserl.cli import main

    assert main(["train", "--single-process", "--run-dir", str(tmp_path), "--resume"]) == 2
    assert "no complete and undamaged checkpoint" in capsys.readouterr().err


class _RunsCode:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a crafted file could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _two_checkpoints(tmp_path):
    train(load_config(None, [*BASE, "train.env_steps=160"]), tmp_path, progress=False, tensorboard=False)
    older, newest = list_checkpoints(tmp_path)
    return older, newest


def _forge_manifest(folder, name):
    """Make the manifest agree with a replaced file, as an attacker who rewrote both would."""
    from hilserl.training.checkpoint import MANIFEST, _digest

    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][name] = {"bytes": (folder / name).stat().st_size, "blake2b": _digest(folder / name)}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_a_crafted_checkpoint_cannot_run_code_and_the_older_one_is_resumed(tmp_path, capsys):
    import pickle

    from hilserl.cli import main

    older, newest = _two_checkpoints(tmp_path)
    marker = tmp_path / "code_ran"
    (newest / "state.pt").write_bytes(pickle.dumps({"config": {}, "payload": _RunsCode(marker)}, protocol=2))
    _forge_manifest(newest, "state.pt")

    older_updates = read_checkpoint(older)["updates"]
    assert main(["eval", "--checkpoint", str(newest)]) == 2
    assert "state.pt cannot be read as a checkpoint" in capsys.readouterr().err and not marker.exists()

    resumed = train(load_config(None, [*BASE, "train.env_steps=240"]), tmp_path, progress=False, tensorboard=False,
                    resume=True)
    out = capsys.readouterr().out
    assert f"skipping checkpoint {newest.name}: {newest / 'state.pt'} cannot be read" in out
    assert f"at learner update {older_updates}," in out  # went on from the older one
    assert resumed.env_steps >= 240 and not marker.exists()


@pytest.mark.parametrize("damaged", ["state.pt", "buffer_online.reward.npy"])
def test_a_truncated_file_is_named_and_the_newest_whole_checkpoint_used(tmp_path, capsys, damaged):
    older, newest = _two_checkpoints(tmp_path)
    path = newest / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    state, _ = resume_state(load_config(None, [*BASE, "train.env_steps=240"]), tmp_path)
    assert state["_folder"] == older
    assert f"skipping checkpoint {newest.name}: {path} has {path.stat().st_size} bytes" in capsys.readouterr().out


def test_no_usable_checkpoint_is_a_message_and_nothing_is_recorded(tmp_path):
    _, newest = _two_checkpoints(tmp_path)
    for folder in list_checkpoints(tmp_path):
        (folder / "state.pt").write_bytes(b"garbage")
    with pytest.raises(FileNotFoundError, match="no complete and undamaged checkpoint"):
        train(load_config(None, [*BASE, "train.env_steps=240"]), tmp_path, progress=False, tensorboard=False,
              resume=True)
    assert not (tmp_path / "resumes.jsonl").exists()


def test_checkpoint_state_is_tensors_and_plain_data(tmp_path):
    _, newest = _two_checkpoints(tmp_path)
    torch = pytest.importorskip("torch")
    state = torch.load(newest / "state.pt", weights_only=True)  # raises on anything else
    assert {"agent", "optimizers", "rng", "config", "actor"} <= set(state)


def test_counters_buffers_and_logs_agree_after_kills_at_random_moments_and_resumes(tmp_path):
    """Checkpoints are taken mid-episode (every 7 updates); each run is stopped at a random moment,
    by kill -9 or by Ctrl-C, and resumed. The unfinished episode is left out of every checkpoint and
    run again on resume, so nothing counts twice: env steps, logged episode lengths, buffer rows and
    the buffer composition all agree at the end."""
    import random
    import signal
    import time

    settings = [*BASE, "train.checkpoint_every=7", "train.keep_checkpoints=2", "train.env_steps=480",
                "env.episode_seconds=4", "train.log_every=5"]
    args = hilserl_command("train", "--single-process", "--run-dir", str(tmp_path), "--threads", "1", "--eval-seeds",
                           "0", *[a for o in settings for a in ("--set", o)])

    def newer(found, than):
        return found is not None and (than is None or found.name > than.name)  # ckpt_NNNNNNNN: by updates

    pick = random.Random(0)
    logs = tmp_path.parent / f"{tmp_path.name}_logs"
    logs.mkdir()
    for i, stop in enumerate([signal.SIGKILL, signal.SIGINT, signal.SIGKILL, signal.SIGINT]):
        before = latest_checkpoint(tmp_path)
        with open(logs / f"run{i}.log", "w") as log:
            proc = subprocess.Popen(args + (["--resume"] if before else []), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while not newer(latest_checkpoint(tmp_path), before) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)  # a newer checkpoint: this run has trained
        after = latest_checkpoint(tmp_path)
        time.sleep(pick.uniform(0.0, 1.5))  # then a random moment, most likely mid-episode
        proc.send_signal(stop)
        proc.wait(timeout=120)
        told = (logs / f"run{i}.log").read_text()
        assert newer(after, before), f"run {i} wrote no newer checkpoint (exit {proc.returncode}):\n{told[-3000:]}"
    done = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    summary = json.loads((tmp_path / "summary.json").read_text())
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    rows = len(np.load(latest_checkpoint(tmp_path) / "buffer_online.reward.npy"))
    composition = summary["buffer_composition"]
    assert [e["episode"] for e in episodes] == list(range(len(episodes)))
    assert summary["env_steps"] == sum(e["length"] for e in episodes) == rows >= 480
    assert composition["policy_steps"] + composition["intervention_steps"] == rows
    told = "\n".join(f"--- run {i}\n{(logs / f'run{i}.log').read_text()[-1500:]}" for i in range(4))
    resumes = read_jsonl(tmp_path / "resumes.jsonl")
    assert len(resumes) == 4, f"{resumes}\n{told}\n--- last run\n{done.stdout[-1500:]}"  # 3 stopped, 1 to the end


def test_results_that_could_not_be_kept_are_refused_before_the_work(tmp_path, capsys, monkeypatch):
    import os

    from hilserl.cli import main
    from hilserl.training.preflight import CannotKeepResults

    small = [a for o in [*BASE, "train.env_steps=60"] for a in ("--set", o)]
    (tmp_path / "a_file").write_text("x")
    assert main(["train", "--single-process", "--run-dir", str(tmp_path / "a_file"), *small]) == 2
    assert f"the run folder {tmp_path / 'a_file'} is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(CannotKeepResults, match="the checkpoints folder /proc/hilserl_run/checkpoints cannot be written"):
        from hilserl.training.preflight import writable_folder  # /proc: a folder even root cannot write

        writable_folder(Path("/proc/hilserl_run/checkpoints"), "the checkpoints folder")
    if os.geteuid() != 0:  # root writes through permission bits
        locked = tmp_path / "locked"
        (locked / "checkpoints").mkdir(parents=True)
        (locked / "checkpoints").chmod(0o500)
        assert main(["train", "--single-process", "--run-dir", str(locked), *small]) == 2
        assert "the checkpoints folder" in capsys.readouterr().err
    # two cameras through the feature cache: about 136 KiB a row, 13 TB for 100 million rows
    with pytest.raises(CannotKeepResults, match=r"the buffers \(100,000,000 online .* GiB of memory.*agent.cache_dtype=uint8"):
        train(load_config(None, ["train.env_steps=200000000", "buffer.online_capacity=100000000",
                                 "train.demo_episodes=1"]), tmp_path / "huge", progress=False, tensorboard=False)
    assert not (tmp_path / "huge" / "demos").exists()  # refused before recording anything
    from hilserl.training import preflight

    monkeypatch.setattr(preflight, "available_memory", lambda: 10**15)  # memory enough: the disk is short
    with pytest.raises(CannotKeepResults, match=r"the checkpoints \(100,000,000 online .* GiB free"):
        train(load_config(None, ["train.env_steps=200000000", "buffer.online_capacity=100000000",
                                 "train.demo_episodes=1"]), tmp_path / "huge", progress=False, tensorboard=False)


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one_and_says_so(tmp_path, monkeypatch, capsys):
    from hilserl.training import checkpoint as ckpt_module

    train(load_config(None, [*BASE, "train.env_steps=100"]), tmp_path, progress=False, tensorboard=False)
    previous = latest_checkpoint(tmp_path)
    real = ckpt_module._write_checkpoint

    def disk_full(*args, **kwargs):
        (args[3]).mkdir(parents=True, exist_ok=True)  # the .tmp folder, half written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_module, "_write_checkpoint", disk_full)
    with pytest.raises(ckpt_module.CheckpointNotWritten, match=rf"No space left on device\); the previous one, "
                                                                rf"{previous}, is kept"):
        train(load_config(None, [*BASE, "train.env_steps=300"]), tmp_path, progress=True, tensorboard=False,
              resume=True)  # past the resumed episode, whose start is on disk already
    assert "warning: checkpoint ckpt_" in capsys.readouterr().out  # the periodic ones warned, training went on
    assert latest_checkpoint(tmp_path) == previous and not list((tmp_path / "checkpoints").glob("*.tmp"))
    monkeypatch.setattr(ckpt_module, "_write_checkpoint", real)


@pytest.mark.parametrize("online_capacity", [200_000, 100])
def test_a_run_stopped_mid_episode_and_resumed_repeats_the_uninterrupted_run_exactly(tmp_path, online_capacity):
    """Same seeds: the buffers, counters, networks, optimisers, random streams, logs and the next actions
    of a run stopped (Ctrl-C, in the middle of an episode) and resumed equal those of the run that
    never stopped. With an online buffer of 100 rows, full before the stop, the episode stopped had
    overwritten rows the episode run again must still sample (``python -m benchmarks.resume_exact``
    checks the same with cameras)."""
    from hilserl.training.trained_agent import load_agent

    overrides = [*BASE, "train.env_steps=240", "train.checkpoint_every=1000", "seed=3",
                 f"buffer.online_capacity={online_capacity}"]
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    stopped_at = stop_and_resume(overrides, whole, stopped, stop_at=130)  # episodes of 80 steps or fewer
    assert 0 < stopped_at["actor"]["env_steps"] < 130 and stopped_at["updates"] > 0  # its episode's start
    assert differences(whole, stopped) == []
    (state, rows), (resumed, _) = final_state(whole), final_state(stopped)
    assert len(rows["buffer_online.reward.npy"]) == min(online_capacity, state["actor"]["env_steps"])
    obs = {"state": np.random.default_rng(0).normal(size=24).astype(np.float32)}
    agents = [load_agent(run)[1] for run in (whole, stopped)]
    for agent, checkpoint in zip(agents, (state, resumed)):
        agent.set_rng_state(checkpoint["agent_rngs"])
    assert np.array_equal(agents[0].act(obs, deterministic=True), agents[1].act(obs, deterministic=True))
    assert np.array_equal(agents[0].act(obs), agents[1].act(obs))  # sampled, from the stored random stream


REACH = ["env.kind=\"hilserl/PlanarReach-v0\"", "train.demo_episodes=2", "train.learning_starts=20",
         "agent.hidden_dims=[16]", "agent.batch_size=8", "train.checkpoint_every=1000"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_resume_continues_the_runs_own_env_and_a_refused_one_changes_nothing(tmp_path, capsys):
    from hilserl.cli import main

    sets = lambda items: [a for o in items for a in ("--set", o)]  # noqa: E731
    args = ["train", "--single-process", "--run-dir", str(tmp_path), "--threads", "1", "--eval-seeds", "0"]
    assert main(args + sets([*REACH, "train.env_steps=60"])) == 0
    before = _files(tmp_path)
    for refused, why in ((["env.kind=\"sim\""], r"another env \(env.kind: 'hilserl/PlanarReach-v0' -> 'sim'\)"),
                         (["agent.hidden_dims=[64]"], r"networks' shapes.*agent.hidden_dims: \[16\] -> \[64\]")):
        capsys.readouterr()
        assert main(args + ["--resume"] + sets([*refused, "train.env_steps=120"])) == 2
        assert re.search(why, capsys.readouterr().err)
        assert _files(tmp_path) == before  # byte for byte: config.json, logs, resumes.jsonl, the lock
    assert main(args + ["--resume", "--set", "train.env_steps=120"]) == 0  # env.kind not repeated
    out = capsys.readouterr().out
    assert "config: train.env_steps: 60 -> 120" in out
    start = read_jsonl(tmp_path / "resumes.jsonl")[-1]["env_steps"]
    assert re.search(rf"the whole run: \d+ episodes, 1[2-9]\d env steps, [\d,]+ learner updates; this stretch, "
                     rf"resumed at env step {start}: \d+ episodes, \d+ env steps, [\d,]+ updates in \d+ s", out)
    assert json.loads((tmp_path / "config.json").read_text())["env"]["kind"] == "hilserl/PlanarReach-v0"
    assert json.loads((tmp_path / "summary.json").read_text())["env_steps"] >= 120


def test_a_kill_while_a_checkpoint_is_being_removed_never_leaves_a_half_one_to_resume(tmp_path, monkeypatch):
    """A checkpoint is removed when pruned or when the same update is written again (a stop right
    after one). Removed in place, a kill -9 midway left ``state.pt`` without the manifest and half the
    buffer files: taken for whole, and the resume refused. Now it leaves the checkpoint's name first."""
    import shutil

    from hilserl.training import checkpoint
    from hilserl.training.checkpoint import MANIFEST, _discard, usable_checkpoint

    older, newest = _two_checkpoints(tmp_path)
    real_rmtree = shutil.rmtree

    def killed_midway(path, ignore_errors=False):
        path = Path(path)
        if not path.exists():
            return
        (path / MANIFEST).unlink()
        next(path.glob("buffer_online.*.npy")).unlink()
        raise KeyboardInterrupt("killed while removing")  # the process dies here

    monkeypatch.setattr(checkpoint.shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        _discard(newest)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", real_rmtree)
    assert list_checkpoints(tmp_path) == [older]
    assert usable_checkpoint(tmp_path)[0] == older
    result = train(load_config(None, [*BASE, "train.env_steps=200"]), tmp_path, progress=False, tensorboard=False,
                   resume=True)
    assert result.env_steps >= 200
    assert not list((tmp_path / "checkpoints").glob("*.discarded"))  # the next write cleans it up


def test_a_kept_run_resumes_from_its_checkpoint_and_one_stopped_before_any_begins_again(tmp_path):
    """``benchmarks.grasp_images`` and ``hilserl sweep`` keep runs to resume: one stopped before its first
    checkpoint (logs, demos, a half-written checkpoint) must start over, not be refused for want of one."""
    from hilserl.training.run import resume_or_start_over

    stopped = tmp_path / "stopped"
    (stopped / "checkpoints" / "ckpt_00001512.tmp").mkdir(parents=True)
    (stopped / "episodes.jsonl").write_text('{"episode": 0}\n')
    assert resume_or_start_over(stopped) is False
    assert not stopped.exists()
    assert resume_or_start_over(tmp_path / "never started") is False

    kept = tmp_path / "kept"
    train(load_config(None, [*BASE, "train.env_steps=60"]), kept, progress=False, tensorboard=False)
    newest = latest_checkpoint(kept)
    assert newest is not None
    assert resume_or_start_over(kept) is True
    assert latest_checkpoint(kept) == newest and (kept / "episodes.jsonl").exists()
