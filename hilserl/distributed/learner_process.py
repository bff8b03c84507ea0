"""``hilserl learner``: the training computer's process.

It serves the gRPC service, takes the transitions that actors send into the buffers (routed as the
paper says), updates the agent at ``train.updates_per_env_step`` updates per received env step
(actors on a busy CPU are not starved by a runaway learner), publishes the policy's parameters every
``train.params_every`` updates, logs episodes and step metrics, and checkpoints every
``train.checkpoint_every`` updates and when stopped (Ctrl-C, SIGTERM). ``resume`` continues a run.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from hilserl.config import Config, pin_threads, to_dict
from hilserl.data.transition import Transition
from hilserl.distributed.message_checks import check_episode_record, check_transition
from hilserl.distributed.service import (
    LearnerService,
    ParameterStore,
    Received,
    check_listening,
    is_loopback,
    start_server,
)
from hilserl.distributed.tls import ServerTLS
from hilserl.distributed.wire import parameters_to_chunks
from hilserl.envs.declared import declare
from hilserl.threads import torch_threads
from hilserl.training.checkpoint import (
    CheckpointNotWritten,
    rng_state,
    set_rng_state,
    write_atomically,
)
from hilserl.training.learner import Learner
from hilserl.training.learner_loop import CheckpointContent, LearnerLoop
from hilserl.training.run import begin_run, check_buffer_room, load_demos
from hilserl.training.run_lock import run_lock
from hilserl.training.run_log import RunLog

log = logging.getLogger("hilserl.learner")

INBOX_SIZE = 512
"""Decoded messages waiting for the learner loop; when full, the service blocks (back-pressure)."""
IDLE_WAIT_S = 0.05
SHUTDOWN_GRACE_S = 5.0
"""Calls in flight at a stop get this long to finish (their messages are then taken in)."""
ACTOR_SILENCE_S = 10.0
"""An actor silent this long is taken as lost: the learner no longer waits for its episode's end."""


@dataclass
class LearnerProcessResult:
    env_steps: int
    updates: int
    episodes: int
    port: int
    dropped_by_actors: dict[str, int] = field(default_factory=dict)


def resumed_actor_states(state: dict) -> dict[int, dict]:
    """Per actor index, where each actor was at the checkpoint. A checkpoint of ``train
    --single-process`` (or of a learner from before actor states were kept) holds one actor's
    state or counters under "actor": they go to actor 0."""
    if "actor_states" in state:
        return {int(i): s for i, s in state["actor_states"].items()}
    return {0: dict(state["actor"])}


class EpisodeIntake:
    """Actors' messages into the learner's buffers, a whole episode at a time.

    Each actor's transitions wait beside the buffers until its episode's record arrives: buffers,
    counters and checkpoints then hold whole episodes only, since an actor that starts again from a
    checkpoint runs an unfinished episode again (a live actor sends its steps again)."""

    def __init__(self, learner: Learner, run_log: RunLog, counters: dict[str, int], delivered: dict[str, int],
                 actor_states: dict[int, dict]):
        self.learner, self.run_log = learner, run_log
        self.env_steps, self.episodes = int(counters["env_steps"]), int(counters["episode"])
        self.delivered = dict(delivered)
        """Per actor, the sequence number of its last episode taken into the buffers (checkpointed: a
        resumed learner drops repeats of these, and only these)."""
        self.actor_states = actor_states
        """Per actor index, its state at its last delivered episode (a restarted actor resumes from it)."""
        self.dropped: dict[str, int] = {}
        self.abandoned = 0
        """Transitions of unfinished episodes whose actors were replaced (freed, never taken in)."""
        self._staged: dict[str, list[Transition]] = {}
        self._mid_episode: dict[str, bool] = {}
        self._last_heard: dict[str, float] = {}
        self._index: dict[str, int] = {}

    def take(self, item: Received) -> bool:
        """Stage a transition (True) or take a whole episode in at its record (False)."""
        actor = item.actor_id
        self._mid_episode[actor] = item.transition is not None
        self._last_heard[actor] = time.time()
        if item.transition is not None:
            self._staged.setdefault(actor, []).append(item.transition)
            return True
        episode = self._staged.pop(actor, [])
        for t in episode:
            self.learner.add(t)
        self.learner.episode_ended()
        self.env_steps += len(episode)
        self.delivered[actor] = item.sequence
        record = json.loads(item.episode_json)
        record["actor_episode"] = record.get("episode")  # the actor's own count; "episode" is the run's
        record["episode"], record["env_steps"], record["actor_id"] = self.episodes, self.env_steps, actor
        index = self._index[actor] = int(record.pop("actor_index", 0))
        if "actor_state" in record:
            self.actor_states[index] = record.pop("actor_state")
        self._free_predecessors(actor, index)
        self.dropped[actor] = int(record.pop("dropped", self.dropped.get(actor, 0)))
        self.episodes += 1
        self.run_log.episode(record)
        return False

    def _free_predecessors(self, actor: str, index: int) -> None:
        """A restarted actor is a new id on its robot's index, and runs its predecessor's unfinished
        episode again: the predecessor's staged transitions would wait here for ever. Freed once the
        successor delivers an episode, if the predecessor has been silent ACTOR_SILENCE_S (were it only
        cut off, its episode arrives without them, as with transitions its own queue dropped)."""
        now = time.time()
        for other in [a for a in self._staged if a != actor and self._index.get(a) == index]:
            if now - self._last_heard[other] >= ACTOR_SILENCE_S:
                freed = self._staged.pop(other)
                self._mid_episode[other] = False
                self.abandoned += len(freed)
                log.warning("freed %d transitions of %s's unfinished episode: %s now runs robot %d", len(freed),
                            other, actor, index)

    def busy(self) -> bool:
        """Actors in the middle of an episode, not counting those silent for ACTOR_SILENCE_S (lost)."""
        now = time.time()
        return any(mid and now - self._last_heard[a] < ACTOR_SILENCE_S for a, mid in self._mid_episode.items())

    def state(self) -> dict:
        """What a checkpoint records of the intake: counters, deliveries, actor states."""
        return {"actor": {"env_steps": self.env_steps, "episode": self.episodes},
                "actor_sequences": dict(self.delivered), "actor_states": dict(self.actor_states)}


def stop_on_signal(stop: threading.Event):
    """A SIGTERM / SIGINT handler that sets ``stop``, once. Python runs a handler in the main thread
    between two bytecodes, so a second signal can run it again inside the first one's ``stop.set()``,
    which holds the Event's lock; that lock is not re-entrant, and a second ``set()`` would wait on
    itself forever. An orphaned learner gets two SIGTERMs at once (the parent-death signal and the
    orphan watcher's)."""
    signalled = False

    def handler(signum, frame) -> None:
        nonlocal signalled
        if not signalled:
            signalled = True
            stop.set()

    return handler


def run_learner(cfg: Config, run_dir: Path, host: str = "127.0.0.1", port: int = 50051, token: str | None = None,
                resume: bool = False, progress: bool = True, tensorboard: bool = True,
                port_file: Path | None = None, stop: threading.Event | None = None, tls: ServerTLS | None = None,
                insecure: bool = False) -> LearnerProcessResult:
    """Serve until ``train.env_steps`` have been received (and the actors' episodes ended) or
    ``stop`` is set; with ``cfg.threads`` torch threads, the caller's count restored after. ``tls``:
    serve over TLS; ``insecure``: allow a non-loopback ``host`` without it."""
    cfg = declare(pin_threads(cfg))  # the env's own rate and length recorded; settings it ignores refused
    check_listening(host, token, tls, insecure)  # before the run folder, the demos and their encoding
    if tls is not None:
        tls.credentials()  # its files read (and a missing one named) before the run folder too
    with torch_threads(cfg.threads), run_lock(Path(run_dir)):
        return _run_learner(cfg, Path(run_dir), host, port, token, resume, progress, tensorboard, port_file, stop,
                            tls, insecure)


def _run_learner(cfg: Config, run_dir: Path, host: str, port: int, token: str | None, resume: bool, progress: bool,
                 tensorboard: bool, port_file: Path | None, stop: threading.Event | None, tls: ServerTLS | None,
                 insecure: bool) -> LearnerProcessResult:
    if port_file is not None:  # a previous run's: whoever waits for this learner must not read it
        Path(port_file).unlink(missing_ok=True)
    state = begin_run(cfg, run_dir, resume)
    learner = Learner(cfg)
    check_buffer_room(cfg, learner, run_dir)
    counters = {"env_steps": 0, "episode": 0}
    seen: dict[str, int] = {}
    actor_states: dict[int, dict] = {}
    if state is not None:
        learner.load_state_dict(state)
        set_rng_state(state["rng"])
        counters = {"env_steps": int(state["actor"]["env_steps"]), "episode": int(state["actor"]["episode"])}
        seen = state.get("actor_sequences", {})
        actor_states = resumed_actor_states(state)
    else:
        load_demos(cfg, learner, run_dir)
    update_seconds = learner.time_updates()
    if update_seconds is not None:
        intake = f", taking in one env step {learner.intake_seconds:.3f} s" if learner.intake_seconds else ""
        print(f"learner: one update takes {update_seconds:.2f} s on this machine ({cfg.agent.critic_actor_ratio} "
              f"critic steps and an actor step, batch {cfg.agent.batch_size}){intake}", flush=True)

    params = ParameterStore()
    version = [int(state.get("params_version", 0)) if state else 0]

    def publish() -> None:
        version[0] += 1
        params.publish(parameters_to_chunks(learner.agent.policy_state_dict(), version[0]), version[0])

    publish()
    inbox: queue.Queue[Received] = queue.Queue(maxsize=INBOX_SIZE)
    def check(item: Received) -> None:
        if item.transition is not None:
            check_transition(item.transition, learner.task)
        else:
            check_episode_record(item.episode_json)

    service = LearnerService(json.dumps(to_dict(cfg)), inbox, params, token, actor_states, check)
    service.restore_seen(seen)
    service.updates, service.update_seconds = learner.agent.updates, update_seconds or 0.0
    service.intake_seconds = learner.intake_seconds or 0.0
    server, bound = start_server(service, host, port, tls, insecure)
    if port_file is not None:
        write_atomically(Path(port_file), str(bound))
    access = "token required" if token else ("robot certificates required" if tls and tls.client_ca else "no token")
    link = tls.describe() if tls else ("loopback" if is_loopback(host) else "NO TLS (--insecure)")
    print(f"learner listening on {host}:{bound} ({link}, {access})", flush=True)

    run_log = RunLog(run_dir, tensorboard=tensorboard)
    stop = stop or threading.Event()
    bar = tqdm(total=cfg.train.env_steps, initial=counters["env_steps"], desc="learner: env steps received",
               unit="step", disable=not progress)

    def say(line: str) -> None:
        if progress:
            bar.write(line)
        else:
            print(line, flush=True)

    intake = EpisodeIntake(learner, run_log, counters, seen, actor_states)

    def content() -> CheckpointContent:
        """The buffers hold whole episodes only (``EpisodeIntake``), so the learner's state as it is."""
        return CheckpointContent({**learner.state_dict(), **intake.state(), "rng": rng_state(),
                                  "params_version": version[0]}, {})

    def written(saved: CheckpointContent, path: Path) -> None:
        service.set_durable(saved.state["actor_sequences"], saved.state["actor_states"])  # actors may forget it
        say(f"learner: checkpoint {path.name} written (update {learner.agent.updates}, env step "
            f"{intake.env_steps})")

    loop = LearnerLoop(cfg, learner, run_dir, run_log, content=content, say=say, progress=progress, publish=publish,
                       after_checkpoint=written)
    loop.env_steps = intake.env_steps

    def handle(item: Received) -> None:
        if intake.take(item):
            bar.update(1)
        loop.env_steps = intake.env_steps

    def update() -> None:
        started = time.perf_counter()
        loop.update()
        service.busy_seconds += time.perf_counter() - started
        service.updates = learner.agent.updates

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, stop_on_signal(stop))
    try:
        # Run to the step budget, then to the end of the actors' current episodes (their last
        # transitions and statistics are still coming).
        while (intake.env_steps < cfg.train.env_steps or intake.busy()) and not stop.is_set():
            try:
                handle(inbox.get(timeout=IDLE_WAIT_S if loop.owed() == 0 else 0))
            except queue.Empty:
                pass
            while not inbox.empty():
                handle(inbox.get_nowait())
            if service.checkpoint_wanted.is_set():  # a restarted actor waits for it
                service.checkpoint_wanted.clear()
                try:
                    loop.checkpoint()
                except CheckpointNotWritten as exc:
                    say(f"warning: {exc}; a restarted actor waits for it")
            if loop.owed() > 0:
                update()
        # Stop serving, and take in every message already acknowledged: the checkpoint's record of
        # what each actor delivered must match what is in the buffers, or a resumed learner would
        # wait for transitions the actors will never send again.
        stopped = server.stop(grace=SHUTDOWN_GRACE_S)
        while not (stopped.is_set() and inbox.empty()):
            try:
                handle(inbox.get(timeout=IDLE_WAIT_S))
            except queue.Empty:
                pass
        # An actor faster than the learner (a simulation runs faster than real time) leaves updates
        # owed: the learner finishes them, so a run's update-to-data ratio is what its config says.
        owed = 0 if stop.is_set() else loop.owed()  # a stop (Ctrl-C) leaves them owed, for a resume
        with tqdm(total=owed, desc="learner: finishing the updates it owes", unit="update", disable=owed == 0) as finishing:
            loop.run_owed(stop, on_update=lambda: finishing.update(1))
        service.updates = learner.agent.updates
        path = loop.checkpoint()
        say(f"learner stopped at env step {intake.env_steps}, update {learner.agent.updates} ({path.name})")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.closing.set()
        bar.close()
        server.stop(grace=1.0)
        run_log.close()
    summary = {"env_steps": intake.env_steps, "updates": learner.agent.updates, "episodes": intake.episodes,
               "buffer_composition": learner.buffer_composition(), "dropped_by_actors": intake.dropped,
               "abandoned_by_replaced_actors": intake.abandoned,
               "refused_calls": service.refused, "malformed_batches": service.malformed}
    (run_dir / "learner_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return LearnerProcessResult(intake.env_steps, learner.agent.updates, intake.episodes, bound, intake.dropped)
