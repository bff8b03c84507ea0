"""``hilserl train`` as a newcomer runs it: a subprocess whose phases say themselves in order, that
Ctrl-C stops cleanly in any phase with word of what was saved, and that the printed command resumes."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_process import hilserl_command
from process_guard import process_stat

from hilserl.distributed.launch import Rate, TrainDisplay, duration, time_left, total_updates

SMALL_IMAGE_RUN = ["env.episode_seconds=4", "train.learning_starts=40", "agent.hidden_dims=[32,32]",
                   "agent.batch_size=16", "agent.encoder.image_latent_dim=32", "agent.cache_crops=2"]
PHASE_TIMEOUT_S = 300
"""Generous: a loaded machine may take minutes to start two processes and encode the demos."""
ORPHAN_STOP_S = 120
"""A learner whose parent died stops within this (about 2 s here; its checkpoint syncs a file per
buffer column, which a busy shared disk can make slow): past it, the test shows its stacks."""


class Watched:
    """A ``hilserl`` subprocess whose output (stdout and stderr, bars included) is read as it comes."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen(hilserl_command(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace").replace("\r", "\n")

    def wait_for(self, pattern: str, timeout: float = PHASE_TIMEOUT_S) -> None:
        deadline = time.time() + timeout
        while not re.search(pattern, self.text):
            assert self.proc.poll() is None or self.reader.is_alive(), f"ended before {pattern!r}:\n{self.text}"
            assert time.time() < deadline, f"no {pattern!r} within {timeout} s:\n{self.text}"
            time.sleep(0.05)

    def finish(self, timeout: float = PHASE_TIMEOUT_S) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code


def in_order(text: str, patterns: list[str]) -> None:
    at = 0
    for pattern in patterns:
        found = re.compile(pattern).search(text, at)
        assert found, f"{pattern!r} missing after position {at}:\n{text}"
        at = found.end()


def processes_naming(run_dir: Path) -> list[int]:
    """Live processes whose command line names ``run_dir`` (an orphaned learner would)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(run_dir).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def stacks_of_stuck_learner(run_dir: Path) -> str:
    """What an orphaned learner that outlived its parent was doing: its thread stacks (SIGUSR1) and log."""
    for pid in processes_naming(run_dir):
        os.kill(pid, signal.SIGUSR1)
    time.sleep(2)
    log = run_dir / "learner_output.log"
    return "the learner outlived its parent; its log and stacks:\n" + (log.read_text() if log.exists() else "(none)")


def overrides(items: list[str]) -> list[str]:
    return [a for o in items for a in ("--set", o)]


def test_ctrl_c_while_the_demos_are_encoded_ends_both_processes_with_word_of_what_was_saved(tmp_path):
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1",
                   *overrides([*SMALL_IMAGE_RUN, "train.demo_episodes=6", "train.env_steps=400"])])
    run.wait_for("encoding demo frames into the feature cache")
    run.proc.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C: to this process, not the learner's group
    assert run.finish() == 130
    in_order(run.text, [r"run folder: ", r"starting the learner process", r"encoding demo frames",
                        r"stopped before training began: nothing was worth saving yet; the demos recorded so far "
                        r"are kept in", r"start again with: hilserl train --run-dir "])
    assert "Traceback" not in run.text
    assert processes_naming(tmp_path) == []  # the learner ended too


@pytest.mark.slow
def test_phases_in_order_then_ctrl_c_in_training_then_the_printed_command_resumes(tmp_path):
    settings = [*SMALL_IMAGE_RUN, "train.demo_episodes=2", "train.env_steps=200", "train.checkpoint_every=20"]
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(settings)])
    run.wait_for(r"learner: checkpoint ckpt_\d+ written")  # learning has begun
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130
    in_order(run.text, [
        r"run folder: ", r"starting the learner process", r"encoding demo frames into the feature cache",
        r"learner: one update takes \d+\.\d\d s on this machine", r"learner listening on 127\.0\.0\.1:\d+",
        r"actor connected \(actor-0-\w+\); first policy received", r"at least \d+ (s|min) on this machine",
        r"training: .*steps", r"updates=\d+, lag=\d+", r"learner: checkpoint ckpt_\d+ written",
        r"stopping the learner", r"stopped: checkpoint \S+ holds learner update \d+ and env step \d+",
    ])
    assert "Traceback" not in run.text and processes_naming(tmp_path) == []
    command = re.search(r"continue with: hilserl (train .*--resume)", run.text).group(1).split()
    resumed = Watched([*command, "--eval-seeds", "1"])
    assert resumed.finish() == 0, resumed.text
    in_order(resumed.text, [r"resuming .* at learner update [1-9]", r"actor connected",
                            r"learner stopped at env step 2[0-3]\d", r"success over the grid: \d+%",
                            r"look further: hilserl report ", r"hilserl eval --checkpoint "])


def test_time_left_is_set_by_the_slower_of_actor_and_learner():
    assert time_left(steps_left=600, steps_per_s=10, updates_left=100, updates_per_s=10) == 60  # the actor
    assert time_left(steps_left=600, steps_per_s=10, updates_left=1200, updates_per_s=2) == 600  # the learner
    assert time_left(steps_left=0, steps_per_s=10, updates_left=0, updates_per_s=0) == 0


def test_the_time_left_counts_the_learners_pace_over_its_time_spent_updating():
    """The learner takes in whole episodes: after its first updates it waits for the episode to end, doing
    nothing for seconds. Over the wall clock that wait read as its pace (a 70 s run showed '1 h 37 min
    left'); over its time spent updating, its pace is its speed. A restarted learner's clock starts again."""
    from hilserl.config import load_config

    cfg = load_config(None, ["train.learning_starts=100", "train.updates_per_env_step=2"])
    display = TrainDisplay(cfg)
    display.total, display.env_steps = 400, 200
    display.acknowledged(1, 0.05)
    for _ in range(5):  # the episode goes on; the learner waits for it
        display.acknowledged(2, 0.10)
    assert len(display.updates.points) == 2
    # 600 updates owed at 20 a second; the actor's 200 steps at 10 Hz take 20 s
    assert display.seconds_left() == pytest.approx(30.0)
    display.intake_seconds = 0.05  # and the learner encodes each step's frames
    assert display.seconds_left() == pytest.approx(30.0 + 200 * 0.05)
    display.intake_seconds, display.env_steps = 0.0, 390
    display.acknowledged(300, 0.02)  # a restarted learner, resumed at update 300: its clock from 0 again
    display.acknowledged(320, 0.52)
    assert display.seconds_left() == pytest.approx((602 - 320) / 40)


def test_updates_owed_and_rates_and_durations():
    from hilserl.config import load_config

    cfg = load_config(None, ["train.learning_starts=100", "train.updates_per_env_step=2"])
    assert total_updates(cfg, 15_000) == 29_802 and total_updates(cfg, 50) == 0
    rate = Rate(window=10)
    for t in range(30):
        rate.add(count=5 * t, now=float(t))  # 5 per second
    assert rate.per_second() == pytest.approx(5.0) and len(rate.points) <= 12  # old points dropped
    assert Rate().per_second() is None
    assert [duration(s) for s in (40, 720, 6540)] == ["40 s", "12 min", "1 h 49 min"]


def test_kill_9_of_train_takes_its_learner_along_and_a_second_writer_is_refused(tmp_path):
    from hilserl.cli import main

    settings = ["env.state_only=true", "train.demo_episodes=1", "train.env_steps=100000", "env.episode_seconds=4"]
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(settings)])
    run.wait_for(r"training: ")
    learners = [p for p in processes_naming(tmp_path) if p != run.proc.pid]
    assert len(learners) == 1
    assert main(["train", "--single-process", "--run-dir", str(tmp_path), *overrides(settings)]) == 2  # one writer
    run.proc.kill()  # kill -9: no chance to stop the learner itself
    run.finish()
    deadline = time.time() + ORPHAN_STOP_S
    while processes_naming(tmp_path) and time.time() < deadline:
        time.sleep(0.2)
    # the learner died with its parent: no orphan writing the run
    assert processes_naming(tmp_path) == [], stacks_of_stuck_learner(tmp_path)


def test_a_process_tied_to_its_parent_watches_the_parent_itself():
    """Besides the kernel's parent-death signal, the learner's own watch: once its parent is gone (here
    a shell that exits after a second), SIGTERM to itself, whatever the kernel delivered."""
    watch = ("import os, time; from hilserl.distributed.launch import _watch_parent; "
             "_watch_parent(int(os.environ['SHELL_PID'])); time.sleep(120)")
    shell = subprocess.run(["bash", "-c", f"SHELL_PID=$$ {sys.executable} -c \"{watch}\" >/dev/null 2>&1 & echo $!; sleep 1"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    child = int(shell.stdout.split()[0])
    deadline = time.time() + 30
    while time.time() < deadline and (process_stat(child) or (0, "Z"))[1] != "Z":
        time.sleep(0.1)
    assert (process_stat(child) or (0, "Z"))[1] == "Z"  # ended (a zombie until this test's process reaps it)


def test_a_second_writer_on_a_run_folder_is_refused_naming_the_first(tmp_path):
    from hilserl.config import load_config
    from hilserl.training.run_lock import RunFolderInUse, run_lock
    from hilserl.training.train import train

    cfg = load_config(None, ["env.state_only=true", "train.env_steps=20", "train.learning_starts=10"])
    with run_lock(tmp_path):
        with pytest.raises(RunFolderInUse, match=rf"{tmp_path} is being written by process {os.getpid()}"):
            train(cfg, tmp_path, progress=False, tensorboard=False)
    assert not (tmp_path / "config.json").exists()  # refused before it wrote anything


def test_sigterm_stops_train_as_ctrl_c_does(tmp_path):
    """kill, a job scheduler or a service manager send SIGTERM: the same orderly stop and message. Before
    it, SIGUSR1 to the learner writes its threads' stacks to the run folder and changes nothing else."""
    settings = ["env.state_only=true", "train.demo_episodes=1", "train.env_steps=100000", "env.episode_seconds=4",
                "train.learning_starts=40", "agent.hidden_dims=[16]", "agent.batch_size=8", "train.checkpoint_every=20"]
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(settings)])
    run.wait_for(r"learner: checkpoint ckpt_\d+ written")
    [learner] = [pid for pid in processes_naming(tmp_path) if b"learner" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(learner, signal.SIGUSR1)
    log, deadline = tmp_path / "learner_output.log", time.time() + 30
    while "learner_process.py" not in log.read_text() and time.time() < deadline:
        time.sleep(0.1)
    assert re.search(r'File ".*learner_process\.py", line \d+ in _run_learner', log.read_text())
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 130
    in_order(run.text, [r"stopping the learner", r"stopped: checkpoint \S+ holds learner update \d+",
                        r"continue with: hilserl train .* --resume"])
    assert "Traceback" not in run.text and processes_naming(tmp_path) == []


def test_kill_9_mid_episode_then_resume_counts_every_step_once(tmp_path):
    """The learner checkpoints when its parent dies; the new actor of the resumed run starts the
    unfinished episode again, so that episode must not be in the checkpoint: env steps, logged
    episodes and buffer rows agree at the end (the learner counted 619 steps to the actor's 560)."""
    import json

    import numpy as np

    from hilserl.training.checkpoint import latest_checkpoint
    from hilserl.training.run_log import read_jsonl

    settings = ["env.state_only=true", "train.demo_episodes=1", "train.env_steps=240", "env.episode_seconds=4",
                "env.control_hz=50", "train.learning_starts=40", "agent.hidden_dims=[16]", "agent.batch_size=8",
                "train.checkpoint_every=20"]
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(settings)])
    run.wait_for(r"learner: checkpoint ckpt_\d+ written")
    time.sleep(0.7)  # most likely mid-episode (an episode is 200 steps, 4 s at 50 Hz)
    run.proc.kill()
    run.finish()
    deadline = time.time() + ORPHAN_STOP_S
    while processes_naming(tmp_path) and time.time() < deadline:
        time.sleep(0.2)  # the learner's checkpoint at its parent's death
    assert processes_naming(tmp_path) == [], stacks_of_stuck_learner(tmp_path)
    # it stopped as a stop does, its output kept once nobody read it (a broken pipe used to end it midway)
    assert (tmp_path / "learner_summary.json").exists()
    assert "learner stopped at env step" in (tmp_path / "learner_output.log").read_text()
    resumed = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", "--eval-seeds", "0", "--resume",
                       *overrides(settings)])
    assert resumed.finish() == 0, resumed.text
    summary = json.loads((tmp_path / "summary.json").read_text())
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    rows = len(np.load(latest_checkpoint(tmp_path) / "buffer_online.reward.npy"))
    assert summary["env_steps"] == sum(e["length"] for e in episodes) == rows >= 240
    assert [e["episode"] for e in episodes] == list(range(len(episodes)))


def test_the_start_estimate_counts_the_updates_and_the_frames_the_learner_takes_in():
    from hilserl.config import load_config
    from hilserl.distributed.launch import TrainDisplay

    cfg = load_config(None, ["train.env_steps=1100", "train.learning_starts=101", "train.updates_per_env_step=2"])
    display = TrainDisplay(cfg)
    display.total, display.update_seconds, display.intake_seconds = 1100, 0.5, 0.1
    # 2,000 updates x 0.5 s + 1,100 steps x 0.1 s = 1,110 s: the learner sets it, not the actor (110 s at 10 Hz)
    assert display.estimate_line() == (
        "at least 18 min on this machine: the actor's 1,100 steps at 10 Hz take 2 min; "
        "the learner's 2,000 updates at 0.50 s and its 1,100 steps' frames take 18 min "
        "(each timed alone; the bar shows the time left at the pace measured in training)")


STATE_RUN = ["env.state_only=true", "train.demo_episodes=1", "train.env_steps=100000", "env.episode_seconds=4",
             "train.learning_starts=40", "agent.hidden_dims=[16]", "agent.batch_size=8"]
LEARNER_GONE_S = 30
"""``train`` must end this soon after its learner dies, in any phase."""


def _the_learner(run: Watched, run_dir: Path) -> int:
    deadline = time.time() + PHASE_TIMEOUT_S
    while not (learners := [p for p in processes_naming(run_dir) if p != run.proc.pid]):
        assert time.time() < deadline, run.text
        time.sleep(0.01)
    return learners[0]


def _ends_soon_with_the_learners_code(run: Watched, run_dir: Path, when: str) -> None:
    code = run.finish(timeout=LEARNER_GONE_S)
    assert code == 128 + signal.SIGKILL, run.text
    assert re.search(rf"hilserl: the learner process ended {when} \(exit code 137\); its last message: \S", run.text)
    assert "Traceback" not in run.text and processes_naming(run_dir) == []


def test_train_ends_with_the_learners_code_when_it_dies_before_listening(tmp_path):
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1",
                   *overrides([*SMALL_IMAGE_RUN, "train.demo_episodes=6", "train.env_steps=400"])])
    run.wait_for("encoding demo frames into the feature cache")
    os.kill(_the_learner(run, tmp_path), signal.SIGKILL)
    _ends_soon_with_the_learners_code(run, tmp_path, "before listening")
    assert "encoding demo frames" in run.text.splitlines()[-1]  # its last message: the bar it drew


def test_train_ends_with_the_learners_code_when_it_dies_before_the_first_policy(tmp_path):
    """The learner is frozen the moment it listens (before the actor can have its policy), then killed:
    the actor, waiting for an answer that will never come, stops at once."""
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(STATE_RUN)])
    learner = _the_learner(run, tmp_path)
    deadline = time.time() + PHASE_TIMEOUT_S
    while not (tmp_path / "learner.port").exists():
        assert time.time() < deadline and run.proc.poll() is None, run.text
        time.sleep(0.001)
    os.kill(learner, signal.SIGSTOP)
    time.sleep(1.0)  # the actor is connecting, or waiting for its first policy
    os.kill(learner, signal.SIGKILL)
    _ends_soon_with_the_learners_code(run, tmp_path, "before the actor received its first policy")
    assert "first policy received" not in run.text


def test_train_ends_with_the_learners_code_when_it_dies_in_training(tmp_path):
    run = Watched(["train", "--run-dir", str(tmp_path), "--threads", "1", *overrides(STATE_RUN)])
    run.wait_for(r"updates=[1-9]")
    os.kill(_the_learner(run, tmp_path), signal.SIGKILL)
    _ends_soon_with_the_learners_code(run, tmp_path, r"at env step [\d,]+, while the actor ran")


def test_the_learner_is_started_safely_beside_grpcs_threads():
    """Forking with Python code to run before exec (``preexec_fn``) from a process whose gRPC is busy
    aborts some children (gRPC's fork handlers: 'epoll_wait error: Bad file descriptor', then SIGABRT;
    benchmarks/launch_stress.py counts them); the launch's child starts without that, beside a live
    server and channel."""
    from concurrent import futures

    import grpc

    from hilserl.distributed.launch import LearnerChild

    server = grpc.server(futures.ThreadPoolExecutor(2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        codes = []
        for _ in range(200):
            child = LearnerChild([sys.executable, "-c", "pass"], write=lambda line: None)
            child.ended.wait(60)
            codes.append(child.proc.returncode)
    finally:
        channel.close()
        server.stop(None)
    assert codes == [0] * 200, sorted(set(codes))


class _SecondSignalInsideSet(threading.Event):
    """An Event whose ``set()`` is interrupted, while it holds the Event's lock, by a second delivery
    of the signal handler ``interrupt``: what Python does when a second SIGTERM arrives between two
    bytecodes of the first handler's ``set()``."""

    interrupt = None

    def set(self) -> None:
        with self._cond:
            handler, self.interrupt = self.interrupt, None
            if handler is not None:
                handler(signal.SIGTERM, None)
            self._flag = True
            self._cond.notify_all()


def test_a_second_sigterm_inside_the_first_ones_stop_does_not_hang_the_learner():
    """An orphaned learner gets two SIGTERMs at once (the parent-death signal and the orphan
    watcher's); a handler that set the stop Event each time waited on the Event's own lock forever."""
    from hilserl.distributed.learner_process import stop_on_signal

    stop = _SecondSignalInsideSet()
    handler = stop_on_signal(stop)
    stop.interrupt = handler
    first = threading.Thread(target=handler, args=(signal.SIGTERM, None), daemon=True)
    first.start()
    first.join(timeout=10)
    assert not first.is_alive(), "the second signal's handler waits on the lock the first one holds"
    assert stop.is_set()
