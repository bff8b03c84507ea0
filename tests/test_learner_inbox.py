"""The learner's inbox seen from its gRPC service: a call waiting for room fails once the learner closes
(it kept the process from exiting), and an actor's calls are taken in one at a time, in order."""

import json
import queue
import threading
import time

import grpc

from hilserl.config import Config, to_dict
from hilserl.distributed.actor_process import LearnerClient
from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.service import LearnerService, ParameterStore, start_server


def test_a_call_waiting_for_room_fails_once_the_learner_closes():
    inbox = queue.Queue(maxsize=1)
    inbox.put("the learner is behind")
    service = LearnerService(json.dumps(to_dict(Config())), inbox, ParameterStore(), token=None)
    server, port = start_server(service, "127.0.0.1", 0)
    client = LearnerClient(f"127.0.0.1:{port}")
    outcome = {}

    def send():
        episode = pb.ActorMessage(actor_id="a", sequence=1, episode_json=json.dumps({"length": 0}))
        try:
            client.send("a", [episode])
        except grpc.RpcError as exc:
            outcome["code"] = exc.code()

    caller = threading.Thread(target=send)
    caller.start()
    time.sleep(1.0)
    assert caller.is_alive()  # back-pressure: it waits for room
    service.closing.set()
    caller.join(timeout=5)
    try:
        assert not caller.is_alive() and outcome["code"] == grpc.StatusCode.UNAVAILABLE  # the actor sends again
    finally:
        client.close()
        server.stop(grace=None)




def test_a_call_that_timed_out_at_the_actor_keeps_its_place_before_the_one_sent_again():
    """The actor gave up on a call waiting for room and sent the rest again: the learner still takes the
    messages in their order (rows of an episode out of order broke its chain in the buffer)."""
    inbox = queue.Queue(maxsize=1)
    service = LearnerService(json.dumps(to_dict(Config())), inbox, ParameterStore(), token=None)
    server, port = start_server(service, "127.0.0.1", 0)
    client = LearnerClient(f"127.0.0.1:{port}")

    def message(seq: int) -> pb.ActorMessage:
        return pb.ActorMessage(actor_id="a", sequence=seq, episode_json=json.dumps({"length": seq}))

    try:
        taken = []
        for round_ in range(4):
            first = 10 * round_ + 1
            inbox.put("the learner is behind")
            early = threading.Thread(target=lambda: _send_ignoring_deadline(client, [message(first), message(first + 1)]))
            early.start()
            time.sleep(0.8)  # the early call waits for room, past the actor's deadline
            late = threading.Thread(target=lambda: _send_ignoring_deadline(client, [message(first + 1), message(first + 2)], 30))
            late.start()  # the actor sends again from what the learner had accepted
            time.sleep(0.3)  # both wait for room; the early one has just queued again for it, behind the late one
            inbox.get()
            for _ in range(3):
                taken.append(inbox.get(timeout=10).sequence)
            early.join(10)
            late.join(10)
        assert taken == [s for r in range(4) for s in (10 * r + 1, 10 * r + 2, 10 * r + 3)]
    finally:
        client.close()
        server.stop(grace=None)


def _send_ignoring_deadline(client: LearnerClient, batch, timeout: float = 0.5) -> None:
    try:
        client.stub.SendTransitions(pb.ActorBatch(actor_id="a", messages=batch), timeout=timeout)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_replaced_actors_unfinished_episode_is_freed_once_its_successor_delivers(tmp_path, caplog):
    """A robot's actor restarted mid-episode comes back under a new id and runs that episode again: the
    dead one's staged steps are freed (they used to stay in the learner's memory for the whole run),
    and a live actor's unfinished episode is left alone."""
    import numpy as np

    from hilserl.config import load_config
    from hilserl.data.transition import Transition
    from hilserl.distributed.learner_process import ACTOR_SILENCE_S, EpisodeIntake
    from hilserl.distributed.service import Received
    from hilserl.training.learner import Learner
    from hilserl.training.run_log import RunLog

    cfg = load_config(None, ["env.state_only=true", "agent.hidden_dims=[8]", "agent.batch_size=4"])
    learner = Learner(cfg)
    state = {"state": np.zeros(learner.task.observation.state_dim, np.float32)}
    action = np.zeros(learner.task.action.dims, np.float32)
    step = Transition(state, action, 0.0, state, False, False, False)
    run_log = RunLog(tmp_path, tensorboard=False)
    intake = EpisodeIntake(learner, run_log, {"env_steps": 0, "episode": 0}, {}, {})
    sequence = iter(range(1, 100))

    def deliver(actor: str, index: int, steps: int, record: bool = True) -> None:
        for _ in range(steps):
            intake.take(Received(actor, next(sequence), transition=step))
        if record:
            intake.take(Received(actor, next(sequence), episode_json=json.dumps({"length": steps, "actor_index": index})))

    deliver("robot0-first", 0, 4)
    deliver("robot1", 1, 2, record=False)  # live, mid-episode
    deliver("robot0-first", 0, 3, record=False)  # then its process dies, or only its link
    deliver("robot0-second", 0, 5)  # on the same robot, while the first was heard just now: it may yet finish
    assert intake.abandoned == 0 and len(intake._staged["robot0-first"]) == 3
    intake._last_heard["robot0-first"] -= ACTOR_SILENCE_S  # silent since
    intake._last_heard["robot1"] -= ACTOR_SILENCE_S  # silent too, but on another robot
    deliver("robot0-second", 0, 5)
    run_log.close()
    assert intake.abandoned == 3 and "robot0-first" not in intake._staged
    assert len(intake._staged["robot1"]) == 2
    assert "freed 3 transitions of robot0-first's unfinished episode: robot0-second now runs robot 0" in caplog.text
    assert intake.env_steps == 14 and len(learner.online) == 14  # the three whole episodes only
