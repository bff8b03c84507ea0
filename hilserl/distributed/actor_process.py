"""``hilserl actor --learner HOST:PORT``: the robot computer's process.

The actor never waits on the learner to act. It keeps its control rate with the parameters it has;
a sender thread ships transitions in batches; a parameters thread polls for newer ones, which the
control loop swaps in between steps. While the learner is away, transitions wait in a bounded queue:
when it is full the **oldest** transition is dropped and counted (recent data matters most to an
off-policy learner, and the demo buffer keeps the human's steps that were sent). A batch whose call
fails stays at the head of the queue and is sent again, with back-off, until the learner is back;
the learner drops repeats by sequence number.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import grpc
import numpy as np

from hilserl.collect.live_view import ViewTarget
from hilserl.config import Config, from_dict
from hilserl.data.transition import Transition
from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.proto import learner_pb2_grpc as pb_grpc
from hilserl.distributed.service import CHANNEL_OPTIONS, TOKEN_METADATA, is_loopback
from hilserl.distributed.tls import ClientTLS, TLSError, diagnose, split_address
from hilserl.distributed.wire import parameters_from_chunks, transition_to_pb
from hilserl.envs.contract import layout_of
from hilserl.envs.factory import SO101
from hilserl.envs.so101.faults import RobotFault
from hilserl.reward.rewarded_env import make_rewarded_env
from hilserl.teleop.select import make_intervention
from hilserl.threads import resolve_threads, torch_threads
from hilserl.training.actor import Actor, EpisodeStats
from hilserl.training.learner import build_agent
from hilserl.training.trained_agent import ConfigChanges

log = logging.getLogger("hilserl.actor")

BATCH_BYTES = 4 << 20
"""A batch's size, under the channel's 8 MiB limit."""
BACKOFF_S = (0.2, 5.0)
"""Retry delays double from the first to the second while the learner is away."""
PARAMS_POLL_S = 0.5
CALL_TIMEOUT_S = 10.0
ACTOR_SEED_STRIDE = 7919
"""Actor k runs seeds offset by k times this, so several actors see different episodes."""


class LearnerGone(ConnectionError):
    """The learner's process ended (told by whoever started it): nothing more can be delivered."""


class Backoff:
    def __init__(self, low: float = BACKOFF_S[0], high: float = BACKOFF_S[1]):
        self.low, self.high, self.delay = low, high, low

    def fail(self, stop: threading.Event | None = None) -> None:
        """Wait the current delay (cut short when ``stop`` is set), then double it."""
        if stop is None:
            time.sleep(self.delay)
        else:
            stop.wait(self.delay)
        self.delay = min(self.high, self.delay * 2)

    def ok(self) -> None:
        self.delay = self.low


class TransitionQueue:
    """The actor's messages the learner does not hold durably yet, oldest first, with contiguous
    sequence numbers. Those after ``accepted`` (the last the learner holds in memory) are pending:
    to send. Those up to ``accepted`` are kept until the learner's checkpoint holds them, so that
    they can be sent again if the learner dies before it checkpoints. When full, the oldest is
    dropped: counted in ``dropped`` if it was still pending (lost), in ``forgotten`` if the learner
    held it in memory only (lost only if the learner then dies)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: collections.deque[pb.ActorMessage] = collections.deque()
        self._cond = threading.Condition()
        self.accepted = 0
        self.dropped = 0
        self.forgotten = 0

    def put(self, message: pb.ActorMessage) -> None:
        with self._cond:
            if len(self._items) >= self.capacity:
                old = self._items.popleft()
                if old.sequence > self.accepted:
                    self.dropped += 1
                else:
                    self.forgotten += 1
            self._items.append(message)
            self._cond.notify()

    def _first_pending(self) -> int:
        if not self._items:
            return 0
        return min(len(self._items), max(0, self.accepted - self._items[0].sequence + 1))

    def pending_batch(self, max_bytes: int, timeout: float) -> list[pb.ActorMessage]:
        with self._cond:
            if self._first_pending() >= len(self._items):
                self._cond.wait(timeout)
            batch, size = [], 0
            for i in range(self._first_pending(), len(self._items)):
                m = self._items[i]
                n = m.ByteSize()
                if batch and size + n > max_bytes:
                    break
                batch.append(m)
                size += n
            return batch

    def acknowledge(self, accepted: int, durable: int) -> None:
        """The learner holds up to ``accepted`` (lower than before after a learner restart: the rest
        is pending again) and has checkpointed up to ``durable`` (forgotten here)."""
        with self._cond:
            self.accepted = accepted
            while self._items and self._items[0].sequence <= min(durable, accepted):
                self._items.popleft()

    def pending(self) -> int:
        with self._cond:
            return len(self._items) - self._first_pending()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class LearnerClient:
    def __init__(self, address: str, token: str | None = None, tls: ClientTLS | None = None):
        """``tls``: a TLS channel trusting ``tls.ca`` (with this robot's certificate where given)."""
        self.address, self.tls = address, tls
        self.channel = (grpc.secure_channel(address, tls.credentials(), options=CHANNEL_OPTIONS) if tls
                        else grpc.insecure_channel(address, options=CHANNEL_OPTIONS))
        self.stub = pb_grpc.LearnerStub(self.channel)
        self.metadata = ((TOKEN_METADATA, token),) if token else ()

    def config(self, actor_index: int = 0) -> tuple[Config, dict | None, tuple[float, float]]:
        """The run's config, this actor's state if the learner holds one (a restart or a resume), and
        the learner's measured seconds per update and per env step taken in (0: not measured)."""
        reply = self.stub.GetConfig(pb.ConfigRequest(actor_index=actor_index), metadata=self.metadata,
                                    timeout=CALL_TIMEOUT_S)
        state = json.loads(reply.actor_state_json) if reply.actor_state_json else None
        return from_dict(Config, json.loads(reply.config_json)), state, (reply.update_seconds, reply.intake_seconds)

    def send(self, actor_id: str, batch: list[pb.ActorMessage]) -> pb.Ack:
        return self.stub.SendTransitions(pb.ActorBatch(actor_id=actor_id, messages=batch), metadata=self.metadata,
                                         timeout=CALL_TIMEOUT_S)

    def parameters(self, have_version: int):
        chunks = list(self.stub.GetParameters(pb.ParametersRequest(have_version=have_version),
                                              metadata=self.metadata, timeout=CALL_TIMEOUT_S))
        return parameters_from_chunks(chunks) if chunks else None

    def close(self) -> None:
        self.channel.close()


@dataclass
class ActorReport:
    env_steps: int
    episodes: int
    sent: int
    dropped: int
    params_version: int
    params_updates: int
    policy_ms: dict[str, float] = field(default_factory=dict)
    period_ms: dict[str, float] = field(default_factory=dict)
    missed_deadlines: int = 0
    reconnects: int = 0
    forgotten: int = 0
    """Messages the learner held in memory only, dropped for room (lost only if it then died)."""
    actor_id: str = ""


@dataclass
class ActorStart:
    """Where an actor starts: told to its monitor once connected, with the first policy loaded."""

    actor_id: str
    episode: int
    env_steps: int
    """Env steps already done (a resumed run), of ``total``."""
    total: int
    params_version: int
    learner_update_seconds: float
    """The learner's measured time per update; 0 when it could not measure it (no demos)."""
    learner_intake_seconds: float = 0.0
    """Its measured time to take in one env step (encoding the frames into the cache); 0 if unknown."""


class ActorMonitor:
    """What a display of an actor's progress is told; here each call does nothing. ``acknowledged``
    comes from the sender thread, the others from the control loop."""

    def started(self, start: ActorStart) -> None:
        pass

    def step(self) -> None:
        """One env step done and queued for the learner."""

    def episode(self, stats: EpisodeStats, params_version: int, queued: int, dropped: int) -> None:
        pass

    def acknowledged(self, learner_updates: int, learner_busy_seconds: float) -> None:
        """The learner took a batch; it has done ``learner_updates`` updates, spending
        ``learner_busy_seconds`` updating since its process started."""


class EpisodeLines(ActorMonitor):
    """A line per episode (``hilserl actor``)."""

    def started(self, start: ActorStart) -> None:
        self.actor_id = start.actor_id
        if start.env_steps:
            print(f"{start.actor_id}: continuing at episode {start.episode}, env step {start.env_steps}", flush=True)

    def episode(self, stats: EpisodeStats, params_version: int, queued: int, dropped: int) -> None:
        print(f"{self.actor_id}: episode {stats.episode} success={stats.success} interventions="
              f"{stats.intervention_rate:.0%} params v{params_version} queue {queued} dropped {dropped}", flush=True)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ms = np.asarray(seconds) * 1000
    return {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max())}


def wait_for_learner(client: LearnerClient, stop: threading.Event, patience_s: float,
                     actor_index: int = 0) -> tuple[Config, dict | None, tuple[float, float]]:
    backoff, start, told = Backoff(), time.time(), set()
    while True:
        try:
            return client.config(actor_index)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise PermissionError(f"the learner refused this actor: {exc.details()}") from exc
            if exc.code() == grpc.StatusCode.UNAVAILABLE and client.tls is not None:
                cause = diagnose(client.address, client.tls)  # None: nobody answers yet, worth waiting
                if cause is not None:
                    raise TLSError(cause) from exc
            if exc.details() not in told:  # each reason once: a wait for the learner's checkpoint, say
                told.add(exc.details())
                log.warning("waiting for the learner (%s: %s)", exc.code().name, exc.details())
            if time.time() - start > patience_s or stop.is_set():
                raise ConnectionError(f"no learner answered within {patience_s:.0f} s ({exc.code().name}: "
                                      f"{exc.details()})") from exc
            backoff.fail(stop)


def run_actor(address: str, token: str | None = None, actor_index: int = 0, env_steps: int | None = None,
              realtime: bool = False, patience_s: float = 60.0, stop: threading.Event | None = None,
              progress: bool = True, threads: int | None = None, monitor: ActorMonitor | None = None,
              teleop: str | None = None, learner_gone: threading.Event | None = None,
              changes: ConfigChanges | None = None, tls: ClientTLS | None = None,
              insecure: bool = False, view: ViewTarget | None = None) -> ActorReport:
    """Act until ``env_steps`` (default: the run's ``train.env_steps``) with ``threads`` torch threads
    (default: half this machine's cores; the caller's count is restored after). ``monitor`` is told
    of the progress (default: a line per episode when ``progress``, else nothing). ``teleop``: a
    person's device intervenes (``hilserl.teleop.select``) instead of the simulated human.

    ``stop`` ends the run after the current episode, delivering what is queued (for up to
    ``patience_s``); ``learner_gone`` (set by whoever watches the learner's process) ends it at the
    next step, delivering nothing more. No wait is longer than ``patience_s``: for the learner's
    first answer, for its first policy, for the last deliveries. ``changes``: what this actor changes
    of the learner's config (this robot's port and cameras, say; not the env, not the networks' shapes).
    ``tls``: connect over TLS; beyond loopback without it, only with ``insecure``. ``view``: a live
    view of every step (``hilserl.collect.live_view``)."""
    check_link(address, tls, insecure)
    monitor = monitor or (EpisodeLines() if progress else ActorMonitor())
    with torch_threads(resolve_threads(threads)):
        return _run_actor(LearnerClient(address, token, tls), actor_index, env_steps, realtime, patience_s, stop,
                          monitor, teleop, learner_gone or threading.Event(), changes or ConfigChanges(), view)


def check_link(address: str, tls: ClientTLS | None, insecure: bool) -> None:
    """An actor reaches a learner beyond this machine over TLS, or with ``insecure`` said out loud."""
    host, _ = split_address(address)
    if tls is None and not is_loopback(host):
        if not insecure:
            raise TLSError(f"the learner {address} is beyond this machine: give --tls-ca (the CA that signed its "
                           "certificate), or --insecure to send the token, the observations and the camera frames "
                           "in clear")
        print(f"hilserl actor: connecting to {address} without TLS (--insecure): everything it sends and "
              "receives crosses the network in clear", file=sys.stderr, flush=True)


class ParameterInbox:
    """The newest policy parameters from the learner, fetched by a thread and swapped in by the control
    loop between steps (only the newest is kept)."""

    def __init__(self, client: LearnerClient, agent):
        self.client, self.agent = client, agent
        self.version = 0
        self.loads = 0
        self._pending: tuple[int, dict] | None = None
        self._lock = threading.Lock()

    def fetch(self) -> None:
        got = self.client.parameters(self.version)
        if got is not None:
            with self._lock:
                self._pending = got

    def swap_in(self) -> bool:
        """Load the newest fetched parameters into the agent, if any came; True if some did."""
        with self._lock:
            got, self._pending = self._pending, None
        if got is None:
            return False
        self.agent.load_policy_state_dict(got[1])
        self.version = got[0]
        return True

    def wait_first(self, stop: threading.Event, patience_s: float) -> None:
        """The first parameters carry the state normaliser fitted on the demos: wait for them, for up to
        ``patience_s`` (or until ``stop``)."""
        backoff, start, failed = Backoff(), time.monotonic(), None
        while self.version == 0 and not stop.is_set():
            if time.monotonic() - start > patience_s:
                why = f" ({failed.code().name})" if failed is not None else ""
                raise ConnectionError(f"no policy came from the learner within {patience_s:.0f} s{why}") from failed
            try:
                self.fetch()
                if self.swap_in():
                    return
                failed = None  # the learner answers but has published nothing yet
            except grpc.RpcError as exc:
                failed = exc
            backoff.fail(stop)

    def poll(self, stop: threading.Event) -> None:
        """The polling thread's loop."""
        while not stop.is_set():
            try:
                self.fetch()
            except grpc.RpcError:
                pass
            stop.wait(PARAMS_POLL_S)


class ControlClock:
    """The control rate: with ``realtime`` each step waits for its period (a late step is counted as a
    missed deadline); the periods are recorded either way."""

    def __init__(self, period: float, realtime: bool):
        self.period, self.realtime = period, realtime
        self.missed = 0
        self.periods: list[float] = []
        self._next: float | None = None
        self._last = 0.0

    def tick(self) -> None:
        now = time.perf_counter()
        if self._next is not None:
            if self.realtime:
                if now > self._next:
                    self.missed += 1
                else:
                    time.sleep(self._next - now)
                    now = time.perf_counter()
            self.periods.append(now - self._last)
        self._last, self._next = now, now + self.period

    def reset(self) -> None:
        """A reset is not a control step."""
        self._next = None


class Sender:
    """The sender thread: ships the queue's transitions in batches and takes the learner's
    acknowledgements; after a failure it asks what the learner holds (it may have restarted from a
    checkpoint) and sends again what it lost."""

    def __init__(self, client: LearnerClient, actor_id: str, queue: TransitionQueue, monitor: ActorMonitor,
                 stop: threading.Event, patience_s: float, learner_gone: threading.Event):
        self.client, self.actor_id, self.queue, self.monitor = client, actor_id, queue, monitor
        self.stop, self.patience_s, self.learner_gone = stop, patience_s, learner_gone
        self.sent = 0
        self.reconnects = 0
        self.last_reached = time.monotonic()
        """When the learner last answered (or the sender started)."""
        self._round_trips: list[float] = []
        self._lock = threading.Lock()

    def take_round_trips(self) -> list[float]:
        """Seconds from sending each batch to its acknowledgement, since the last call."""
        with self._lock:
            taken, self._round_trips = self._round_trips, []
        return taken

    def run(self) -> None:
        backoff, probe, stopped_at = Backoff(), False, None
        while not (self.stop.is_set() and self.queue.pending() == 0) and not self.learner_gone.is_set():
            batch = []
            try:
                if probe:
                    ack = self.client.send(self.actor_id, [])
                    self.queue.acknowledge(ack.accepted_sequence, ack.durable_sequence)
                    self.last_reached = time.monotonic()
                    probe = False
                batch = self.queue.pending_batch(BATCH_BYTES, timeout=0.2)
                if not batch:
                    continue
                sent_at = time.perf_counter()
                ack = self.client.send(self.actor_id, batch)
                with self._lock:
                    self._round_trips.append(time.perf_counter() - sent_at)
                self.last_reached = time.monotonic()
                self.queue.acknowledge(ack.accepted_sequence, ack.durable_sequence)
                self.monitor.acknowledged(ack.learner_updates, ack.learner_busy_seconds)
                self.sent += ack.received
                backoff.ok()
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and batch:
                    log.error("the learner refused a batch: %s; dropping it", exc.details())
                    self.queue.acknowledge(batch[-1].sequence, batch[-1].sequence)
                    continue
                probe = True
                self.reconnects += 1
                if self.stop.is_set():
                    # Done acting: keep trying to deliver the rest for ``patience_s``, then give up.
                    stopped_at = stopped_at or time.time()
                    if time.time() - stopped_at > self.patience_s:
                        log.error("the learner is gone: %d transitions undelivered", len(self.queue))
                        return
                    backoff.fail()
                else:
                    backoff.fail(self.stop)


def _run_actor(client: LearnerClient, actor_index: int, env_steps: int | None, realtime: bool,
               patience_s: float, stop: threading.Event | None, monitor: ActorMonitor,
               teleop: str | None, learner_gone: threading.Event, changes: ConfigChanges,
               view: ViewTarget | None) -> ActorReport:
    stop = stop or threading.Event()
    cfg, resumed, (update_seconds, intake_seconds) = wait_for_learner(client, stop, patience_s, actor_index)
    cfg = changes.apply(cfg, "an actor")
    cfg = dataclasses.replace(cfg, seed=cfg.seed + actor_index * ACTOR_SEED_STRIDE)
    actor_id = f"actor-{actor_index}-{uuid.uuid4().hex[:6]}"  # a restarted actor is a new one to the learner
    env = make_rewarded_env(cfg.env)
    # acting: one frame at a time, with the live weights the learner sends (the policy average is the learner's)
    live = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, policy_average_rate=0.0))
    agent = build_agent(live, layout_of(env[0]), device="cpu")
    queue = TransitionQueue(cfg.train.actor_queue)
    inbox = ParameterInbox(client, agent)
    inbox.wait_first(stop, patience_s)
    sender = Sender(client, actor_id, queue, monitor, stop, patience_s, learner_gone)
    clock = ControlClock(1.0 / env[0].metadata.get("render_fps", cfg.env.control_hz), realtime)  # the contract's rate
    sequence = [0]

    robot = cfg.env.kind == SO101

    def before_act() -> None:
        if learner_gone.is_set():
            raise LearnerGone("the learner's process ended")
        inbox.loads += inbox.swap_in()
        clock.tick()
        silent = time.monotonic() - sender.last_reached
        if robot and silent > cfg.env.robot.learner_timeout_s:
            raise RobotFault(f"the learner has not answered for {silent:.0f} s (env.robot.learner_timeout_s = "
                             f"{cfg.env.robot.learner_timeout_s:g}): the arm stops, nobody watches the run")

    def enqueue(message: pb.ActorMessage) -> None:
        sequence[0] += 1
        message.actor_id, message.sequence = actor_id, sequence[0]
        queue.put(message)

    human = make_intervention(teleop, env[0], cfg.env) if teleop else None
    actor = Actor(cfg, agent, human=human, env=env)
    actor.before_act = before_act
    live = actor.open_view(view, realtime=True) if view is not None else None
    if resumed is not None:
        # Episode counter (episodes are seeded by it), curriculum and the simulated human's random
        # state: the run goes on where this actor's last delivered episode left it.
        actor.load_state_dict(resumed)
    total = env_steps or cfg.train.env_steps
    monitor.started(ActorStart(actor_id, actor.episode, actor.env_steps, total, inbox.version, update_seconds,
                               intake_seconds))
    threads = [threading.Thread(target=sender.run, daemon=True), threading.Thread(target=inbox.poll, args=(stop,),
                                                                                   daemon=True)]
    for t in threads:
        t.start()

    def send_transition(t: Transition) -> None:
        enqueue(pb.ActorMessage(transition=transition_to_pb(t)))
        monitor.step()

    try:
        while actor.env_steps < total and not stop.is_set():
            missed_before = clock.missed
            try:
                stats = actor.run_episode(send_transition)
            except LearnerGone:
                break  # the unfinished episode is dropped: nobody can take it in
            record = {**stats.to_dict(), "dropped": queue.dropped, "params_version": inbox.version,
                      "missed_deadlines": clock.missed - missed_before,
                      "link_ms": _percentiles(sender.take_round_trips()),  # the batches acknowledged meanwhile
                      "actor_index": actor_index, "actor_state": actor.state_dict()}
            enqueue(pb.ActorMessage(episode_json=json.dumps(record)))
            clock.reset()
            monitor.episode(stats, inbox.version, len(queue), queue.dropped)
    finally:
        stop.set()
        threads[0].join(timeout=patience_s + CALL_TIMEOUT_S)
        if live is not None:
            live.close()
        actor.close()
        client.close()
    return ActorReport(actor.env_steps, actor.episode, sender.sent, queue.dropped, inbox.version, inbox.loads,
                       _percentiles(actor.policy_seconds), _percentiles(clock.periods), clock.missed,
                       sender.reconnects, queue.forgotten, actor_id)
