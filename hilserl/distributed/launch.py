"""``hilserl train``: a learner process and an actor (this process) on one machine, over loopback
gRPC, with one display for both.

The learner is a child in its own process group, so that Ctrl-C reaches this process alone and the
stop happens in order: the actor stops and hands over what it has queued, then the learner is asked
to stop, checkpoints and exits, and this process says what was saved and how to go on. The child is
tied to this process's life: on Linux it gets SIGTERM when this one dies, even by kill -9.

The learner's start (recording demos, encoding them into the feature cache, timing an update) and
its last phase (the updates it still owes when the actor is done) draw their own bars on the
terminal while this process waits; its lines in between come through this process and are written
above the training bar.
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from hilserl.collect.live_view import ViewTarget
from hilserl.config import Config, save_json
from hilserl.distributed.actor_process import ActorMonitor, ActorReport, ActorStart, run_actor
from hilserl.training.actor import EpisodeStats
from hilserl.training.checkpoint import latest_checkpoint, read_checkpoint
from hilserl.training.run import sigterm_as_interrupt
from hilserl.training.run_lock import run_lock

PORT_POLL_S = 0.1
STOP_GRACE_S = 300.0
"""After a Ctrl-C, the learner's final checkpoint (its buffers included) may take this long; a
second Ctrl-C stops it at once, without that checkpoint."""
PACE_WINDOW_S = 60.0
"""Rates for the time left are measured over about this last stretch of the run."""
SUCCESS_WINDOW = 20
"""Episodes of the running success rate (the paper's curves: running average over 20 episodes)."""
PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 1.0
"""How often a learner tied to its parent also checks, itself, that the parent is alive."""


def duration(seconds: float) -> str:
    """'1 h 49 min', '12 min', '40 s'."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def total_updates(cfg: Config, env_steps: int) -> int:
    """Learner updates a run of ``env_steps`` does: ``updates_per_env_step`` per step from
    ``learning_starts`` on (the learner finishes those it owes when the actors are done)."""
    return max(0, env_steps - cfg.train.learning_starts + 1) * cfg.train.updates_per_env_step


def time_left(steps_left: int, steps_per_s: float, updates_left: int, updates_per_s: float,
              intake_seconds: float = 0.0) -> float:
    """Seconds until the run ends: the actor's steps and the learner's updates (and its
    ``intake_seconds`` taking in the steps left) go on side by side, so the slower of the two decides."""
    actor = steps_left / steps_per_s if steps_per_s > 0 else 0.0
    learner = (updates_left / updates_per_s if updates_per_s > 0 else 0.0) + intake_seconds
    return max(actor, learner)


class Rate:
    """Events per second over the last ``window`` seconds of a running count. The clock is this
    process's, or one passed in ``now`` (the learner's time spent updating); a clock that goes back
    (a restarted learner's) starts the count again."""

    def __init__(self, window: float = PACE_WINDOW_S):
        self.window = window
        self.points: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, count: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.points and now < self.points[-1][0]:
            self.points.clear()
        if self.points and now == self.points[-1][0]:  # a clock that stood still: one point, not many
            self.points.pop()
        self.points.append((now, count))
        while len(self.points) > 2 and now - self.points[1][0] > self.window:
            self.points.popleft()

    def per_second(self) -> float | None:
        if len(self.points) < 2:
            return None
        (t0, c0), (t1, c1) = self.points[0], self.points[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None


class TrainDisplay(ActorMonitor):
    """The training bar: env steps, the learner's updates and its lag behind the data, success over
    the last 20 episodes, interventions, and the time left at the pace measured so far."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.bar: tqdm | None = None
        self.successes: collections.deque[bool] = collections.deque(maxlen=SUCCESS_WINDOW)
        self.intervention_rate = 0.0
        self.env_steps = self.total = 0
        self.learner_updates = 0
        self.steps = Rate()
        self.updates = Rate()
        """Updates over the learner's time spent updating: a learner that waits for an episode to end
        does nothing for seconds, and over the wall clock would look that much slower."""
        self.update_seconds = self.intake_seconds = 0.0
        self._refreshed = 0.0

    def write(self, line: str) -> None:
        tqdm.write(line)

    def started(self, start: ActorStart) -> None:
        self.env_steps, self.total, self.update_seconds = start.env_steps, start.total, start.learner_update_seconds
        self.intake_seconds = start.learner_intake_seconds
        self.write(f"actor connected ({start.actor_id}); first policy received (parameters v{start.params_version})")
        self.write(self.estimate_line())
        self.bar = tqdm(total=start.total, initial=start.env_steps, desc="training", unit="step",
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]")
        self.steps.add(self.env_steps)

    def estimate_line(self) -> str:
        """At start: the actor's real-time pace against the learner's measured one."""
        steps_left = self.total - self.env_steps
        actor_s = steps_left / self.cfg.env.control_hz
        updates = total_updates(self.cfg, self.total) - self.learner_updates
        parts = [f"the actor's {steps_left:,} steps at {self.cfg.env.control_hz:g} Hz take {duration(actor_s)}"]
        if self.update_seconds > 0:
            learner_s = updates * self.update_seconds + steps_left * self.intake_seconds
            intake = f" and its {steps_left:,} steps' frames" if self.intake_seconds else ""
            parts.append(f"the learner's {updates:,} updates at {self.update_seconds:.2f} s{intake} take "
                         f"{duration(learner_s)}")
            total = max(actor_s, learner_s)
            # Timed alone: in training the learner shares the cores with the actor, so this is a floor;
            # the bar's time left follows the paces measured as the run goes.
            return (f"at least {duration(total)} on this machine: " + "; ".join(parts)
                    + " (each timed alone; the bar shows the time left at the pace measured in training)")
        return f"at least {duration(actor_s)}: " + "; ".join(parts) + " (the learner's pace shows once it learns)"

    def step(self) -> None:
        self.env_steps += 1
        self.steps.add(self.env_steps)
        if self.bar is not None:
            self.bar.update(1)
            if time.monotonic() - self._refreshed > 1.0:
                self.refresh()

    def episode(self, stats: EpisodeStats, params_version: int, queued: int, dropped: int) -> None:
        self.successes.append(stats.success)
        self.intervention_rate = stats.intervention_rate
        self.refresh()

    def acknowledged(self, learner_updates: int, learner_busy_seconds: float) -> None:
        self.learner_updates = learner_updates
        if learner_updates > 0:  # the pace counts from the first update, not the wait for learning_starts
            self.updates.add(learner_updates, now=learner_busy_seconds)

    def seconds_left(self) -> float:
        """At the actor's pace and the learner's, each measured as the run goes (the learner's until
        then: its update timed alone at start)."""
        steps_left = self.total - self.env_steps
        steps_rate = self.steps.per_second() or self.cfg.env.control_hz
        updates_rate = self.updates.per_second() or (1.0 / self.update_seconds if self.update_seconds else 0.0)
        owed = total_updates(self.cfg, self.total) - self.learner_updates
        return time_left(steps_left, steps_rate, owed, updates_rate, steps_left * self.intake_seconds)

    def refresh(self) -> None:
        if self.bar is None:
            return
        self._refreshed = time.monotonic()
        lag = total_updates(self.cfg, self.env_steps) - self.learner_updates
        fields = {"updates": f"{self.learner_updates:,}", "lag": f"{max(0, lag):,}"}
        if self.successes:
            fields["success20"] = f"{sum(self.successes) / len(self.successes):.0%}"
            fields["interv"] = f"{self.intervention_rate:.0%}"
        fields["left"] = f"~{duration(self.seconds_left())}"
        self.bar.set_postfix(fields, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class LaunchResult:
    code: int
    """0: done; 130: stopped by Ctrl-C; else the learner's failure."""
    report: ActorReport | None = None


def die_with_parent(parent_pid: int) -> None:
    """In the learner child, first thing: SIGTERM when ``parent_pid`` dies, or now if it already has.
    The kernel sends it (Linux's parent-death signal); a thread also watches the parent, every
    PARENT_POLL_S, and sends it too, for a signal the kernel's delivery let slip. Set by the child itself,
    not in the fork: code run between fork and exec in a process that holds gRPC's threads can abort the
    child (gRPC's fork handlers)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (AttributeError, OSError):
        pass
    if os.getppid() != parent_pid:  # the parent died before the line above
        os.kill(os.getpid(), signal.SIGTERM)
        return
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    """SIGTERM to this process once ``parent_pid`` is no longer its parent (it died: the orphan was
    taken in by init or a subreaper)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class LearnerChild:
    """The learner's process, watched from its start: its stdout lines go to ``write`` (above the
    training bar), its stderr to this process's stderr as it comes (its bars, its tracebacks), the
    tail of both is kept for its last message, and ``ended`` (and ``stop``, if given) is set the
    moment it exits."""

    TAIL_LINES = 20

    def __init__(self, cmd: list[str], write, stop: threading.Event | None = None):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     process_group=0)
        self.write = write
        self.ended = threading.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=self.TAIL_LINES)
        self._stop = stop
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._out, self._err, self._wait)]
        for t in self._threads:
            t.start()

    def _out(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.tail.append(line)
            self.write(line)

    def _err(self) -> None:
        pending = ""
        while chunk := os.read(self.proc.stderr.fileno(), 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.replace("\r", "\n").split("\n")
            self.tail.extend(line for line in lines if line.strip())
        if pending.strip():
            self.tail.append(pending)

    def _wait(self) -> None:
        self.proc.wait()
        self.ended.set()
        if self._stop is not None:
            self._stop.set()

    def drain(self, timeout: float = 5.0) -> None:
        """Wait for the last of its output (after it ended)."""
        for t in self._threads:
            t.join(timeout=timeout)

    def last_message(self) -> str:
        for line in reversed(self.tail):
            if line.strip():
                return line.strip()
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"none: it was killed by {signal.Signals(-code).name}"
        return "none"

    def failure(self, when: str) -> str:
        """The line that says the learner ended, with its code and last message."""
        self.drain()
        return (f"hilserl: the learner process ended {when} (exit code {exit_code(self.proc.returncode)}); "
                f"its last message: {self.last_message()}")


def _wait_for_port(learner: LearnerChild, port_file: Path) -> int | None:
    while not port_file.exists():
        if learner.ended.wait(PORT_POLL_S):
            return None
    return int(port_file.read_text())


def _stop_learner(learner: subprocess.Popen) -> None:
    """Ask the learner to stop: SIGTERM, which its loop takes as a request to checkpoint and exit, and
    which ends it at once before then (SIGINT could be ignored, inherited so by a background job).
    A second Ctrl-C ends it at once."""
    if learner.poll() is not None:
        return
    learner.send_signal(signal.SIGTERM)
    print("\nstopping the learner: once training has begun it writes a checkpoint first (Ctrl-C again to end it "
          "at once, without one)", flush=True)
    try:
        learner.wait(timeout=STOP_GRACE_S)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        learner.kill()
        learner.wait()


def what_was_saved(run_dir: Path, launch_config: Path) -> list[str]:
    """After a stop: the checkpoint to resume from and the command, or that nothing was saved yet."""
    ckpt = latest_checkpoint(run_dir)  # just written: a resume verifies its checksums, not this message
    again = f"hilserl train --run-dir {run_dir} --config {launch_config}"
    if ckpt is None:
        demos = run_dir / "demos"
        kept = f"; the demos recorded so far are kept in {demos}" if demos.exists() else ""
        return [f"stopped before training began: nothing was worth saving yet{kept}",
                f"start again with: {again}"]
    state = read_checkpoint(ckpt)
    return [f"stopped: checkpoint {ckpt} holds learner update {state['updates']:,} and env step "
            f"{state['actor']['env_steps']:,} (buffers included)",
            f"continue with: {again} --resume"]


def train_two_processes(cfg: Config, run_dir: Path, resume: bool = False, teleop: str | None = None,
                        view: ViewTarget | None = None) -> LaunchResult:
    """Run a learner child process and an actor here until ``train.env_steps``, or until Ctrl-C;
    ``teleop``: the person's intervention device (``hilserl.teleop.select``) for the actor; ``view``:
    the actor's live view."""
    with run_lock(run_dir):  # refused now, before anything is written, if another run writes there
        pass
    launch, port_file = run_dir / "launch_config.json", run_dir / "learner.port"
    save_json(cfg, launch)
    port_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "hilserl.cli", "learner", "--config", str(launch), "--run-dir", str(run_dir),
           "--port", "0", "--port-file", str(port_file), "--threads", str(cfg.threads),
           "--die-with-parent", str(os.getpid()), "--quiet"] + (["--resume"] if resume else [])
    first = ("resumes the latest checkpoint" if resume else
             "records the demos if the run has none, encodes them into the feature cache, times an update")
    print(f"starting the learner process: it {first}, then listens", flush=True)
    display = TrainDisplay(cfg)
    stop = threading.Event()  # the actor's: set by a Ctrl-C, or the moment the learner ends
    learner = LearnerChild(cmd, display.write, stop)
    try:
        with sigterm_as_interrupt():
            return _run(cfg, learner, port_file, display, stop, teleop, view)
    except KeyboardInterrupt:
        stop.set()
        display.close()
        _stop_learner(learner.proc)
        learner.drain()
        for line in what_was_saved(run_dir, launch):
            print(line, flush=True)
        return LaunchResult(130)
    finally:
        display.close()
        if learner.proc.poll() is None:
            learner.proc.terminate()
            learner.proc.wait(timeout=60)


def _run(cfg: Config, learner: LearnerChild, port_file: Path, display: TrainDisplay, stop: threading.Event,
         teleop: str | None = None, view: ViewTarget | None = None) -> LaunchResult:
    """From the learner's start to its end, when nothing stops the run. The learner is watched in every
    phase: the moment it ends, the actor stops, and a failure ends ``train`` with its code."""
    port = _wait_for_port(learner, port_file)
    if port is None:
        print(learner.failure("before listening"), file=sys.stderr, flush=True)
        return LaunchResult(exit_code(learner.proc.returncode) or 2)
    try:
        report = run_actor(f"127.0.0.1:{port}", realtime=True, progress=False, threads=cfg.threads,
                           monitor=display, stop=stop, teleop=teleop, learner_gone=learner.ended, view=view)
    except ConnectionError as exc:
        display.close()
        if learner.ended.is_set() and learner.proc.returncode != 0:
            print(learner.failure("before the actor received its first policy"), file=sys.stderr, flush=True)
            return LaunchResult(exit_code(learner.proc.returncode))
        if not learner.ended.is_set():
            print(f"hilserl: the actor could not reach the learner: {exc}; stopping the learner", file=sys.stderr,
                  flush=True)
            _stop_learner(learner.proc)
            return LaunchResult(4)
        return _learner_done(learner, None)
    display.close()
    if learner.ended.is_set() and learner.proc.returncode != 0:
        print(learner.failure(f"at env step {report.env_steps:,}, while the actor ran"), file=sys.stderr,
              flush=True)
        return LaunchResult(exit_code(learner.proc.returncode), report)
    owed = total_updates(cfg, report.env_steps) - display.learner_updates
    print(f"actor: {report.env_steps:,} env steps in {report.episodes} episodes, policy step "
          f"{report.policy_ms.get('mean', 0):.1f} ms mean, dropped {report.dropped}; the learner finishes "
          f"its updates (about {max(0, owed):,} owed)", flush=True)
    return _learner_done(learner, report)


def _learner_done(learner: LearnerChild, report: ActorReport | None) -> LaunchResult:
    """The learner's own end: it stops once the run's env steps are in (a finished run resumed stops at
    once) and its updates are done; a failure there is reported as in any phase."""
    learner.ended.wait()
    learner.drain()
    if learner.proc.returncode != 0:
        print(learner.failure("while finishing"), file=sys.stderr, flush=True)
    return LaunchResult(exit_code(learner.proc.returncode), report)
