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

from hilserl.agent.sac import NonFiniteLoss
from hilserl.config import Config, pin_threads, to_dict
from hilserl.data.transition import Transition
from hilserl.distributed.message_checks import check_episode_record, check_transition
from hilserl.distributed.service import (
    LearnerService,
    ParameterStore,
    Received,
    check_listening,
    start_server,
)
from hilserl.distributed.wire import parameters_to_chunks
from hilserl.threads import torch_threads
from hilserl.training.checkpoint import (
    CheckpointNotWritten,
    rng_state,
    set_rng_state,
    write_atomically,
    write_checkpoint,
)
from hilserl.training.learner import Learner
from hilserl.training.run import STEP_LINE, TrainingDiverged, begin_run, check_buffer_room, load_demos
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


def run_learner(cfg: Config, run_dir: Path, host: str = "127.0.0.1", port: int = 50051, token: str | None = None,
                resume: bool = False, progress: bool = True, tensorboard: bool = True,
                port_file: Path | None = None, stop: threading.Event | None = None) -> LearnerProcessResult:
    """Serve until ``train.env_steps`` have been received (and the actors' episodes ended) or
    ``stop`` is set; with ``cfg.threads`` torch threads, the caller's count restored after."""
    cfg = pin_threads(cfg)
    check_listening(host, token)  # before the run folder, the demos and their encoding
    with torch_threads(cfg.threads), run_lock(Path(run_dir)):
        return _run_learner(cfg, Path(run_dir), host, port, token, resume, progress, tensorboard, port_file, stop)


def _run_learner(cfg: Config, run_dir: Path, host: str, port: int, token: str | None, resume: bool, progress: bool,
                 tensorboard: bool, port_file: Path | None, stop: threading.Event | None) -> LearnerProcessResult:
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
    server, bound = start_server(service, host, port)
    if port_file is not None:
        write_atomically(Path(port_file), str(bound))
    print(f"learner listening on {host}:{bound} ({'token required' if token else 'loopback, no token'})", flush=True)

    run_log = RunLog(run_dir, tensorboard=tensorboard)
    dropped: dict[str, int] = {}
    stop = stop or threading.Event()
    bar = tqdm(total=cfg.train.env_steps, initial=counters["env_steps"], desc="learner: env steps received",
               unit="step", disable=not progress)

    def say(line: str) -> None:
        if progress:
            bar.write(line)
        else:
            print(line, flush=True)

    def checkpoint() -> Path:
        extra = {"actor": dict(counters), "rng": rng_state(), "actor_sequences": dict(delivered),
                 "actor_states": dict(actor_states), "params_version": version[0]}
        path = write_checkpoint(run_dir, {**learner.state_dict(), **extra}, learner.agent.updates,
                                learner.agent.policy_state_dict(), cfg, buffers=learner.buffers(),
                                keep=cfg.train.keep_checkpoints)
        service.set_durable(extra["actor_sequences"])  # actors may now forget what it holds
        say(f"learner: checkpoint {path.name} written (update {learner.agent.updates}, env step "
            f"{counters['env_steps']})")
        return path

    mid_episode: dict[str, bool] = {}
    last_heard: dict[str, float] = {}
    delivered = dict(seen)
    """Per actor, the sequence number of its last episode taken into the buffers (checkpointed: a
    resumed learner drops repeats of these, and only these)."""
    staged: dict[str, list[Transition]] = {}
    """Per actor, the transitions of its episode under way. They enter the buffers with the episode's
    record: buffers, counters and checkpoints hold whole episodes only, since an actor that starts
    again from the checkpoint runs an unfinished episode again (a live actor sends its steps again)."""

    def handle(item: Received) -> None:
        mid_episode[item.actor_id] = item.transition is not None
        last_heard[item.actor_id] = time.time()
        if item.transition is not None:
            staged.setdefault(item.actor_id, []).append(item.transition)
            bar.update(1)
        else:
            episode = staged.pop(item.actor_id, [])
            for t in episode:
                learner.add(t)
            learner.episode_ended()
            counters["env_steps"] += len(episode)
            delivered[item.actor_id] = item.sequence
            record = json.loads(item.episode_json)
            record["episode"], record["env_steps"] = counters["episode"], counters["env_steps"]
            record["actor_id"] = item.actor_id
            if "actor_state" in record:
                actor_states[int(record.pop("actor_index", 0))] = record.pop("actor_state")
            dropped[item.actor_id] = int(record.pop("dropped", dropped.get(item.actor_id, 0)))
            counters["episode"] += 1
            run_log.episode(record)

    def busy_actors() -> bool:
        """Actors in the middle of an episode, not counting those silent for ACTOR_SILENCE_S (lost)."""
        now = time.time()
        return any(mid and now - last_heard[a] < ACTOR_SILENCE_S for a, mid in mid_episode.items())

    def update_budget() -> int:
        if not learner.ready:
            return 0
        allowed = (counters["env_steps"] - cfg.train.learning_starts + 1) * cfg.train.updates_per_env_step
        return max(0, allowed - learner.agent.updates)

    def update() -> None:
        try:
            info = learner.update()
        except NonFiniteLoss as exc:
            path = checkpoint()
            raise TrainingDiverged(f"{exc.name} became {exc.value} at learner update "
                                   f"{learner.agent.updates}; checkpoint saved to {path}") from exc
        u = service.updates = learner.agent.updates
        if u % cfg.train.params_every == 0:
            publish()
        if u % cfg.train.log_every == 0:
            run_log.metrics(u, counters["env_steps"], {**info, **learner.buffer_composition()})
            if progress:
                bar.write(STEP_LINE.format(update=u, **info))
        if u % cfg.train.checkpoint_every == 0:
            try:
                checkpoint()
            except CheckpointNotWritten as exc:  # a full disk: training goes on, the last one is kept
                say(f"learner: warning: {exc}")

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        # Run to the step budget, then to the end of the actors' current episodes (their last
        # transitions and statistics are still coming).
        while (counters["env_steps"] < cfg.train.env_steps or busy_actors()) and not stop.is_set():
            try:
                handle(inbox.get(timeout=IDLE_WAIT_S if update_budget() == 0 else 0))
            except queue.Empty:
                pass
            while not inbox.empty():
                handle(inbox.get_nowait())
            if update_budget() > 0:
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
        owed = 0 if stop.is_set() else update_budget()  # a stop (Ctrl-C) leaves them owed, for a resume
        with tqdm(total=owed, desc="learner: finishing the updates it owes", unit="update", disable=owed == 0) as finishing:
            while update_budget() > 0 and not stop.is_set():
                update()
                finishing.update(1)
        path = checkpoint()
        say(f"learner stopped at env step {counters['env_steps']}, update {learner.agent.updates} ({path.name})")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bar.close()
        server.stop(grace=1.0)
        run_log.close()
    summary = {"env_steps": counters["env_steps"], "updates": learner.agent.updates, "episodes": counters["episode"],
               "buffer_composition": learner.buffer_composition(), "dropped_by_actors": dropped,
               "refused_calls": service.refused, "malformed_batches": service.malformed}
    (run_dir / "learner_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return LearnerProcessResult(counters["env_steps"], learner.agent.updates, counters["episode"], bound, dropped)
