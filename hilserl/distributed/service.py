"""The learner's gRPC service: actors fetch the config and the policy's parameters, and send
batches of transitions and episode statistics.

The service only decodes, checks and queues: the learner's own loop (``learner_process``) owns the
buffers and the agent. A wrong or missing token is refused and logged; a malformed or oversized
message is refused with INVALID_ARGUMENT (or by gRPC's size limit) and the service carries on.

Beyond loopback the learner needs TLS (``hilserl.distributed.tls``), or an explicit ``insecure``, and a
shared token unless robot certificates (mutual TLS) authenticate the actors.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc

from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.proto import learner_pb2_grpc as pb_grpc
from hilserl.distributed.tls import ServerTLS
from hilserl.distributed.wire import MAX_MESSAGE_BYTES, MalformedMessage, transition_from_pb

log = logging.getLogger("hilserl.learner")

TOKEN_METADATA = "x-hilserl-token"
TOKEN_ENV = "HILSERL_TOKEN"
"""The shared token comes from this environment variable, or from a file (``--token-file``)."""
SERVER_THREADS = 8
PUT_POLL_S = 0.5
"""A call waiting for room in a full inbox checks this often whether the learner is closing."""
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]


class TokenRequired(ValueError):
    pass


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (also written ``[::1]``, as in a gRPC address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None = None) -> str | None:
    if token_file is not None:
        token = Path(token_file).read_text().strip()
        if not token:
            raise TokenRequired(f"token file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


@dataclass
class Received:
    actor_id: str
    sequence: int
    transition: object | None = None
    episode_json: str | None = None


class ParameterStore:
    """The latest policy parameters, as ready-to-send chunks, with their version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self._chunks: list[pb.ParametersChunk] = []

    def publish(self, chunks: list[pb.ParametersChunk], version: int) -> None:
        with self._lock:
            self.version, self._chunks = version, chunks

    def newer_than(self, version: int) -> list[pb.ParametersChunk]:
        with self._lock:
            return list(self._chunks) if self.version > version else []


class LearnerService(pb_grpc.LearnerServicer):
    def __init__(self, config_json: str, inbox: "queue.Queue[Received]", params: ParameterStore, token: str | None,
                 actor_states: dict[int, dict] | None = None, check: Callable[[Received], None] | None = None):
        self.config_json = config_json
        self.check = check
        """Checks a decoded message's content against the run (raises MalformedMessage): it is refused
        before it is acknowledged, instead of stopping the learner's loop later."""
        self.actor_states = actor_states if actor_states is not None else {}
        """Per actor index, its state after its last episode taken in (kept up to date by the learner)."""
        self.inbox = inbox
        self.params = params
        self.token = token
        self._seen: dict[str, int] = {}
        self._durable: dict[str, int] = {}
        self._durable_states = dict(self.actor_states)
        """Per actor index, its state as the latest checkpoint holds it."""
        self._seen_lock = threading.Lock()
        self._senders: dict[str, threading.Lock] = {}
        self.checkpoint_wanted = threading.Event()
        """Set when a restarted actor asks for a state a checkpoint does not hold yet: the learner's loop
        writes one, and the actor, asking again, continues from it."""
        self.refused = 0
        self.malformed = 0
        self.updates = 0
        """The learner's update count, kept up to date by its loop and sent with every Ack."""
        self.busy_seconds = 0.0
        """Seconds its loop has spent updating since this process started, sent with every Ack: the
        updates' pace over this clock is the learner's speed, whatever it waited for data."""
        self.update_seconds = 0.0
        """The learner's measured time per update (0: not measured), sent with the config."""
        self.intake_seconds = 0.0
        """Its measured time to take in one env step (0: not measured), sent with the config."""
        self.closing = threading.Event()
        """Set by the learner once it takes in nothing more: calls waiting for room then fail (the actor
        sends again) instead of waiting for ever, which would also keep the process from exiting."""

    def _sender_lock(self, actor_id: str) -> threading.Lock:
        """An actor's calls can overlap: one that timed out at the actor still waits here for room while
        the actor sends the rest again. Taken in turn, the later call finds what the earlier put and
        puts the rest after it; side by side, the later one's messages could pass the earlier one's
        (an episode's rows out of order in the buffer)."""
        with self._seen_lock:
            return self._senders.setdefault(actor_id, threading.Lock())

    def _put(self, item: Received, context: grpc.ServicerContext) -> None:
        """Into the inbox, waiting while the learner is behind (back-pressure to the actor's queue)."""
        while True:
            try:
                self.inbox.put(item, timeout=PUT_POLL_S)
                return
            except queue.Full:
                if self.closing.is_set():
                    context.abort(grpc.StatusCode.UNAVAILABLE, "the learner is stopping")

    def _authorise(self, context: grpc.ServicerContext) -> None:
        if self.token is None:
            return
        given = dict(context.invocation_metadata()).get(TOKEN_METADATA)
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):  # constant time
            self.refused += 1
            log.warning("refused a call from %s: %s token", context.peer(), "wrong" if given else "missing")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid token is required (HILSERL_TOKEN or --token-file)")

    def GetConfig(self, request, context):
        """The run's config, and where this actor index's last episode taken in left it. An actor that
        starts again continues from a state some checkpoint holds: were the learner to die before
        checkpointing the episodes its previous process delivered, a later state would leave a gap (their
        sender, dead, cannot send them again). So a state ahead of the latest checkpoint asks for one
        first, and the actor, told to wait, asks again."""
        self._authorise(context)
        state = self.actor_states.get(request.actor_index)
        with self._seen_lock:
            durable = self._durable_states.get(request.actor_index)
        if state != durable:
            self.checkpoint_wanted.set()
            context.abort(grpc.StatusCode.UNAVAILABLE, "the learner is first checkpointing what this robot's "
                          "previous process delivered")
        return pb.ConfigReply(config_json=self.config_json, actor_state_json=json.dumps(state) if state else "",
                              update_seconds=self.update_seconds, intake_seconds=self.intake_seconds)

    def GetParameters(self, request, context):
        self._authorise(context)
        yield from self.params.newer_than(request.have_version)

    def SendTransitions(self, request, context):
        self._authorise(context)
        decoded: list[Received] = []
        try:
            if not request.actor_id:
                raise MalformedMessage("a batch needs an actor_id")
            for m in request.messages:
                kind = m.WhichOneof("payload")
                if m.actor_id != request.actor_id or kind is None:
                    raise MalformedMessage("each message needs the batch's actor_id and a payload")
                if kind == "transition":
                    item = Received(m.actor_id, m.sequence, transition=transition_from_pb(m.transition))
                else:
                    item = Received(m.actor_id, m.sequence, episode_json=m.episode_json)
                if self.check is not None:
                    self.check(item)
                decoded.append(item)
        except MalformedMessage as exc:
            self.malformed += 1
            log.warning("refused a batch from actor %r at %s: %s", request.actor_id, context.peer(), exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        new = dups = 0
        with self._sender_lock(request.actor_id):  # one call of an actor at a time, so its messages stay in order
            for item in decoded:
                with self._seen_lock:
                    if item.sequence <= self._seen.get(item.actor_id, 0):
                        dups += 1
                        continue
                    self._seen[item.actor_id] = item.sequence
                self._put(item, context)
                new += 1
        with self._seen_lock:
            accepted, durable = self._seen.get(request.actor_id, 0), self._durable.get(request.actor_id, 0)
        return pb.Ack(received=new, duplicates=dups, accepted_sequence=accepted, durable_sequence=durable,
                      learner_updates=self.updates, learner_busy_seconds=self.busy_seconds)

    def restore_seen(self, seen: dict[str, int]) -> None:
        """After a resume: what the checkpoint holds is all that is accepted, and all that is durable."""
        with self._seen_lock:
            self._seen, self._durable = dict(seen), dict(seen)

    def set_durable(self, delivered: dict[str, int], actor_states: dict[int, dict]) -> None:
        """After a checkpoint: the sequences it holds, per actor, and the actors' states."""
        with self._seen_lock:
            self._durable = dict(delivered)
            self._durable_states = dict(actor_states)


INSECURE_WARNING = ("the learner listens on {host} without TLS (--insecure): the token, the policy's parameters "
                    "and every observation, camera frames included, cross the network in clear, and anyone who "
                    "reads the token once can feed the learner")


def check_listening(host: str, token: str | None, tls: ServerTLS | None = None, insecure: bool = False) -> None:
    """Beyond this machine a learner needs TLS (or ``insecure``, said out loud) and a way to tell its
    actors: a shared token, or robot certificates. Refused before any work starts."""
    if is_loopback(host):
        return
    if tls is None and not insecure:
        raise TokenRequired(f"the learner listens on {host}, beyond this machine, without TLS: give --tls-cert and "
                            "--tls-key (hilserl fleet certs makes them), or --insecure to send everything in clear")
    if token is None and (tls is None or tls.client_ca is None):
        raise TokenRequired(f"the learner listens on {host}, beyond this machine: set {TOKEN_ENV} or --token-file "
                            "(every actor must present the same token), or require robot certificates "
                            "(--tls-client-ca)")


def start_server(service: LearnerService, host: str, port: int, tls: ServerTLS | None = None,
                 insecure: bool = False) -> tuple[grpc.Server, int]:
    """Serve on ``host:port`` (port 0: any free port), with ``tls`` when given; returns the server and
    its port. Beyond loopback, see :func:`check_listening`."""
    check_listening(host, service.token, tls, insecure)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=SERVER_THREADS), options=CHANNEL_OPTIONS)
    pb_grpc.add_LearnerServicer_to_server(service, server)
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    if tls is None and not is_loopback(host):
        log.warning(INSECURE_WARNING.format(host=host))
    server.start()
    return server, bound
