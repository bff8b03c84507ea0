"""A learner whose parent died writes on: its output goes to the run folder instead of raising
BrokenPipeError mid-shutdown; and no call waiting on a full inbox keeps a closing learner alive."""

import json
import os
import queue
import threading
import time

import grpc

from hilserl.config import Config, to_dict
from hilserl.distributed.actor_process import LearnerClient
from hilserl.distributed.orphan_output import OrphanProof, reader_gone, redirect_if_orphaned
from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.service import LearnerService, ParameterStore, start_server


def test_lines_written_after_the_reader_died_go_to_the_log(tmp_path):
    read, write = os.pipe()
    stream = OrphanProof(open(write, "w", buffering=1), tmp_path / "learner_output.log")
    stream.write("read by the parent\n")
    assert os.read(read, 100) == b"read by the parent\n" and not reader_gone(write)
    os.close(read)  # the parent is killed
    assert reader_gone(write)
    stream.write("after the parent\n")  # without the fallback: BrokenPipeError
    stream.write("and on\n")
    stream.flush()
    assert stream.moved and (tmp_path / "learner_output.log").read_text() == "after the parent\nand on\n"


def test_a_broken_descriptor_is_moved_before_a_write_from_c(tmp_path, monkeypatch):
    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w")
    monkeypatch.setattr("sys.stdout", stream)
    redirect_if_orphaned(tmp_path)
    os.write(write, b"a stack dump\n")  # as faulthandler writes: straight to the descriptor
    assert (tmp_path / "learner_output.log").read_text() == "a stack dump\n"


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


