"""The soak benchmark's audit, short and driven by events rather than time (a loaded machine starts
processes slowly): a learner and two robots' actors, each killed with SIGKILL once and started again,
the learner while a restarted actor's predecessor's episodes are not yet checkpointed; then nothing is
lost or taken twice, every episode is whole, and the update-to-data ratio held."""

import json
import queue
import time

import grpc

from benchmarks.fleet_soak import KINDS, SOAK, Fleet, audit, free_port
from hilserl.config import Config, load_config, save_json, to_dict
from hilserl.distributed.actor_process import LearnerClient
from hilserl.distributed.service import LearnerService, ParameterStore, start_server
from hilserl.training.checkpoint import list_checkpoints
from hilserl.training.run_log import read_jsonl

EVENT_TIMEOUT_S = 300
QUICK = [*SOAK, *KINDS["state"]]


def episodes_from(run_dir, index: int) -> list[str]:
    """The actor ids of index ``index`` that delivered episodes, in order of their first."""
    path = run_dir / "episodes.jsonl"
    ids = [e["actor_id"] for e in read_jsonl(path)] if path.exists() else []
    return list(dict.fromkeys(i for i in ids if i.startswith(f"actor-{index}-")))


LOG_TAIL_LINES = 8


class Watch:
    """Waits on a fleet's events, each for up to EVENT_TIMEOUT_S, timing each: a wait that times out on a
    loaded machine says how long the earlier ones took and how each process's log ends."""

    def __init__(self, fleet: Fleet):
        self.fleet, self.timeline = fleet, []

    def until(self, what: str, condition) -> None:
        start = time.monotonic()
        while not condition():
            assert self.fleet.learner.poll() is None, f"the learner ended while waiting for {what}\n{self}"
            assert time.monotonic() < start + EVENT_TIMEOUT_S, f"no {what} within {EVENT_TIMEOUT_S} s\n{self}"
            time.sleep(0.2)
        self.timeline.append((what, time.monotonic() - start))

    def __str__(self) -> str:
        stages = ", ".join(f"{what} after {seconds:.0f} s" for what, seconds in self.timeline)
        tails = [f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-LOG_TAIL_LINES:])
                 for log in sorted((self.fleet.run_dir / "logs").glob("*.log"))]
        return f"stages: {stages or 'none'}\n" + "\n".join(tails)


def test_actors_and_the_learner_killed_and_restarted_lose_nothing_and_repeat_nothing(tmp_path):
    save_json(load_config(None, QUICK), tmp_path / "soak_config.json")
    fleet = Fleet(tmp_path, free_port(), actors=2)
    watch = Watch(fleet)
    try:
        fleet.start_learner(resume=False)
        fleet.start_actor(0)
        fleet.start_actor(1)
        watch.until("episode from actor 1", lambda: episodes_from(tmp_path, 1))
        fleet.kill("actor-1")
        # the learner dies holding what actor 1's first process delivered since its last checkpoint, or
        # as soon as there is one to resume from
        watch.until("checkpoint", lambda: list_checkpoints(tmp_path))
        fleet.kill("learner")
        watch.until("episode from actor 1's second process", lambda: len(episodes_from(tmp_path, 1)) >= 2)
        fleet.kill("actor-0")
        watch.until("episode from actor 0's second process", lambda: len(episodes_from(tmp_path, 0)) >= 2)
        fleet.stop()
        assert fleet.actor_codes == [130, 130]  # SIGTERM taken as Ctrl-C: the queue delivered, then out
    finally:
        fleet.kill_all()
    found = audit(tmp_path)
    assert found["episodes_lost"] == found["episodes_twice"] == found["dropped_by_actor_queues"] == 0, found
    assert found["counts_agree"] and found["episodes_whole"] and found["update_to_data_held"], found
    assert found["episodes"] >= 4


def test_a_restarted_actor_continues_from_a_checkpointed_state_only():
    """A state the latest checkpoint does not hold could leave a gap, were the learner to die: the
    actor is told to wait, and the learner asked for a checkpoint."""
    states = {0: {"episode": 3}}
    service = LearnerService(json.dumps(to_dict(Config())), queue.Queue(), ParameterStore(), None, states)
    server, port = start_server(service, "127.0.0.1", 0)
    client = LearnerClient(f"127.0.0.1:{port}")
    try:
        assert client.config(0)[1] == {"episode": 3}  # what the checkpoint it resumed from holds
        states[0] = {"episode": 5}  # two more episodes taken in from actor 0's process, which then died
        try:
            client.config(0)
            raise AssertionError("a state ahead of the checkpoint was handed out")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE and "checkpointing" in exc.details()
        assert service.checkpoint_wanted.is_set()
        assert client.config(1)[1] is None  # another robot is not held up
        service.set_durable({}, {0: states[0]})  # the learner's loop wrote it
        assert client.config(0)[1] == {"episode": 5}
    finally:
        client.close()
        server.stop(grace=None)
