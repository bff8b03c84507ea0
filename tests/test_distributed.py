"""Actor and learner over gRPC on loopback: training across processes, restart and resume, tokens,
malformed messages."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from hilserl.config import load_config
from hilserl.distributed.actor_process import LearnerClient, TransitionQueue, run_actor
from hilserl.distributed.learner_process import run_learner
from hilserl.distributed.proto import learner_pb2 as pb
from hilserl.distributed.service import TokenRequired
from hilserl.distributed.wire import (
    parameters_from_chunks,
    parameters_to_chunks,
    tensor_from_pb,
    tensor_to_pb,
)
from hilserl.training.run_log import read_jsonl

SMALL = ["env.state_only=true", "train.learning_starts=40", "train.demo_episodes=1", "agent.hidden_dims=[16]",
         "agent.batch_size=8", "train.params_every=10", "train.checkpoint_every=100"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_learner_thread(cfg, run_dir, **kw):
    stop = threading.Event()
    port_file = run_dir / "port"
    port_file.unlink(missing_ok=True)  # a previous run's, in a resume test
    thread = threading.Thread(target=run_learner, args=(cfg, run_dir),
                              kwargs=dict(port=0, port_file=port_file, progress=False, tensorboard=False, stop=stop, **kw),
                              daemon=True)
    thread.start()
    while not port_file.exists():  # written whole, by a rename: readable once it exists
        time.sleep(0.05)
    return f"127.0.0.1:{port_file.read_text()}", stop, thread


def test_wire_round_trips_and_refuses_bad_tensors():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(tensor_from_pb(tensor_to_pb("a", a)), a)
    bad = tensor_to_pb("a", a)
    bad.shape[:] = [5, 4]
    with pytest.raises(ValueError, match="needs 80 bytes, got 48"):
        tensor_from_pb(bad)
    import torch

    state = {"w": torch.randn(600, 600), "b": torch.zeros(3)}  # 1.4 MB: two chunks
    chunks = parameters_to_chunks(state, version=7)
    assert len(chunks) == 2
    version, back = parameters_from_chunks(list(reversed(chunks)))
    assert version == 7 and torch.equal(back["w"], state["w"])
    with pytest.raises(ValueError, match="incomplete"):
        parameters_from_chunks(chunks[:1])


def test_the_queue_keeps_what_the_learner_has_not_checkpointed():
    q = TransitionQueue(capacity=4)
    for i in range(1, 6):
        q.put(pb.ActorMessage(sequence=i))
    assert q.dropped == 1 and [m.sequence for m in q.pending_batch(1 << 20, 0)] == [2, 3, 4, 5]
    q.acknowledge(accepted=4, durable=2)  # held: up to 4; checkpointed: up to 2
    assert [m.sequence for m in q.pending_batch(1 << 20, 0)] == [5] and len(q) == 3
    q.acknowledge(accepted=2, durable=2)  # the learner restarted from its checkpoint: 3 and 4 again
    assert [m.sequence for m in q.pending_batch(1 << 20, 0)] == [3, 4, 5]
    q.acknowledge(accepted=5, durable=2)
    for i in range(6, 8):  # full: 3 and 4 were held in memory only, so they are forgotten, not lost
        q.put(pb.ActorMessage(sequence=i))
    assert (q.dropped, q.forgotten) == (1, 1) and q.pending() == 2


def test_tokens_and_malformed_messages_are_refused(tmp_path, monkeypatch):
    cfg = load_config(None, [*SMALL, "train.env_steps=100000"])
    address, stop, thread = start_learner_thread(cfg, tmp_path, token="s3cret")
    try:
        for token in (None, "wrong"):
            with pytest.raises(grpc.RpcError) as info:
                LearnerClient(address, token).config()[0]
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(PermissionError, match="refused this actor"):
            run_actor(address, token="wrong", patience_s=5, progress=False)
        from hilserl.training.checkpoint import ResumeRefused
        from hilserl.training.trained_agent import ConfigChanges

        with pytest.raises(ResumeRefused, match=r"an actor.*agent.hidden_dims"):  # --set on an actor: not the shapes
            run_actor(address, token="s3cret", patience_s=5, progress=False,
                      changes=ConfigChanges(overrides=["agent.hidden_dims=[64]"]))
        good = LearnerClient(address, "s3cret")
        assert good.config()[0].train.env_steps == 100000
        bad = pb.ActorMessage(actor_id="a", sequence=1, transition=pb.Transition(action=pb.Tensor(name="action", dtype="float32", shape=[4], data=b"xx")))
        with pytest.raises(grpc.RpcError) as info:
            good.send("a", [bad])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "needs 16 bytes" in info.value.details()
        oversized = pb.ActorMessage(actor_id="a", sequence=2, episode_json="x" * (9 << 20))
        with pytest.raises(grpc.RpcError) as info:
            good.send("a", [oversized])
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert good.config()[0].seed == cfg.seed  # still serving
    finally:
        stop.set()
        thread.join(30)
    with pytest.raises(TokenRequired, match="HILSERL_TOKEN"):
        run_learner(cfg, tmp_path / "open", host="0.0.0.0", port=0, progress=False, tensorboard=False, insecure=True)


def _learner_proc(run_dir, port, *extra):
    args = [a for o in [*SMALL, "train.env_steps=400", 'env.control_hz=50', 'env.episode_seconds=1.6'] for a in ("--set", o)]
    return subprocess.Popen([sys.executable, "-m", "hilserl.cli", "learner", "--run-dir", str(run_dir), "--port",
                             str(port), "--quiet", *args, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_learner_restart_with_resume_loses_no_transition(tmp_path):
    """Separate processes: parameters reach the actor; the learner is stopped cleanly and resumed; the
    actor keeps acting, queues, reconnects and sends again what the learner lost; every transition
    reaches the learner once. (Killed with SIGKILL, with actors killed too: tests/test_fleet_soak.py.)"""
    port = free_port()
    early = ("--set", "train.checkpoint_every=20")
    learner = _learner_proc(tmp_path, port, *early)
    actor = subprocess.Popen([sys.executable, "-m", "hilserl.cli", "actor", "--learner", f"127.0.0.1:{port}",
                              "--realtime", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120  # two episodes in (a loaded machine updates slowly)
    while len(read_jsonl(tmp_path / "episodes.jsonl")) < 2 and time.time() < deadline and learner.poll() is None:
        time.sleep(0.2)
    learner.send_signal(signal.SIGTERM)
    out, _ = learner.communicate(timeout=60)
    assert learner.returncode == 0, out  # a clean stop: checkpoint with buffers, then exit
    stopped_at = json.loads((tmp_path / "learner_summary.json").read_text())["env_steps"]
    assert 0 < stopped_at < 400
    time.sleep(1.0)  # the actor goes on alone, queueing
    learner = _learner_proc(tmp_path, port, *early, "--resume")
    out_l, _ = learner.communicate(timeout=180)
    out_a, _ = actor.communicate(timeout=60)
    assert learner.returncode == 0 and actor.returncode == 0, out_l + out_a
    report = json.loads(out_a.split("actor report: ")[1].splitlines()[0])
    summary = json.loads((tmp_path / "learner_summary.json").read_text())
    assert report["dropped"] == 0 and report["reconnects"] >= 1
    assert summary["env_steps"] == report["env_steps"] >= 400  # none lost, none twice
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert len(episodes) == report["episodes"]
    assert max(e["params_version"] for e in episodes) > 1  # the learner's updates reached the actor
    assert "resuming" in out_l


def test_train_runs_a_learner_process_and_an_actor(tmp_path, capsys):
    from hilserl.cli import main

    overrides = [*SMALL, "train.env_steps=160", "env.control_hz=50", "env.episode_seconds=1.6"]
    code = main(["train", "--run-dir", str(tmp_path), "--eval-seeds", "1", "--record",
                 *[a for o in overrides for a in ("--set", o)]])
    assert code == 0
    out = capsys.readouterr().out
    assert "actor: 160 env steps in 2 episodes" in out and "success over the grid" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env_steps"] == summary["actor"]["env_steps"] == 160
    assert summary["updates"] >= (160 - 40) * 2  # the learner finished the updates it owed
    # paced at 50 Hz: a control step never comes sooner than its 20 ms period (how late it can come
    # on a busy machine is the benchmark's business, not a test's)
    assert summary["actor"]["period_ms"]["p50"] >= 19.5
    assert len(read_jsonl(tmp_path / "episodes.jsonl")) == 2
    # the actor's live view, recorded: in real time it may drop steps, and says how many
    import rerun.dataframe as rrd

    table = rrd.load_recording(next((tmp_path / "recordings").glob("train-*.rrd"))).view(
        index="env_step", contents="/**").select().read_all()
    dropped = [v for v in table.column("/view/dropped_steps:Scalars:scalars").to_pylist() if v is not None][-1][0]
    logged = [v for v in table.column("/action/arm:Scalars:scalars").to_pylist() if v is not None]
    assert len(logged) + dropped == 160 and len(logged) > 0


def test_two_actors_feed_one_learner(tmp_path):
    cfg = load_config(None, [*SMALL, "train.env_steps=160", "env.episode_seconds=4"])
    address, stop, thread = start_learner_thread(cfg, tmp_path)
    reports = {}
    actors = [threading.Thread(target=lambda i=i: reports.setdefault(i, run_actor(address, actor_index=i, env_steps=80,
                                                                                     progress=False)))
              for i in (0, 1)]
    for t in actors:
        t.start()
    for t in actors:
        t.join(120)
    thread.join(120)
    assert not thread.is_alive()
    summary = json.loads((tmp_path / "learner_summary.json").read_text())
    assert summary["env_steps"] == sum(r.env_steps for r in reports.values()) == 160
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert {e["actor_id"] for e in episodes} == {r.actor_id for r in reports.values()}
    assert sorted(r.actor_id[:7] for r in reports.values()) == ["actor-0", "actor-1"]
    # each actor ran its own episodes: different cube positions
    starts = {e["actor_id"]: (e["cube_x"], e["cube_y"]) for e in episodes}
    assert len(set(starts.values())) == 2


def test_a_resumed_run_continues_the_actors_episodes(tmp_path):
    """The learner keeps each actor's state (episode counter, curriculum, the simulated human's random
    state) and hands it back: after a resume the actor runs the remaining steps, on new episodes."""
    def run(env_steps: int, resume: bool):
        cfg = load_config(None, [*SMALL, f"train.env_steps={env_steps}", "env.episode_seconds=4"])
        address, stop, thread = start_learner_thread(cfg, tmp_path, resume=resume)
        report = run_actor(address, progress=False, patience_s=10)
        thread.join(120)
        assert not thread.is_alive()
        return report

    first = run(80, resume=False)
    assert (first.env_steps, first.episodes) == (80, 2)
    second = run(160, resume=True)
    assert (second.env_steps, second.episodes) == (160, 4)  # went on from episode 2, not from 0
    episodes = read_jsonl(tmp_path / "episodes.jsonl")
    assert len(episodes) == 4 and "actor_state" not in episodes[0]
    starts = [(e["cube_x"], e["cube_y"]) for e in episodes]
    assert len(set(starts)) == 4  # episodes 2 and 3 are new cube positions, not episodes 0 and 1 again
    assert json.loads((tmp_path / "learner_summary.json").read_text())["env_steps"] == 160


def _record(**changes) -> str:
    """A valid episode record, as an actor sends it, with ``changes``."""
    from hilserl.training.actor import EpisodeStats

    stats = EpisodeStats(episode=0, env_steps=40, episode_return=0.0, discounted_return=0.0, length=40, success=False,
                         intervention_steps=0, intervention_rate=0.0, watched=False, region="back", cube_x=0.2,
                         cube_y=0.0, cube_yaw=0.1, q_start=0.0, reset_scale=1.0, sim_success=False)
    record = {**stats.to_dict(), "dropped": 0, "params_version": 1, "actor_index": 0,
              "actor_state": {"episode": 1, "env_steps": 40}, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()


def _transition(state_dim, state=None, next_extra=None, action=None, reward=0.0):
    from hilserl.data.transition import Transition
    from hilserl.distributed.wire import transition_to_pb

    obs = {"state": np.zeros(state_dim, np.float32) if state is None else state}
    nxt = {**obs, **(next_extra or {})}
    act = np.zeros(4, np.float32) if action is None else action
    return pb.ActorMessage(actor_id="fuzz", sequence=1,
                           transition=transition_to_pb(Transition(obs, act, reward, nxt, False, False, False)))


def test_bad_content_is_refused_and_the_learner_still_trains_a_real_actor(tmp_path):
    """Each of these was acknowledged, then stopped the learner's loop: now each is refused before
    the acknowledgement, counted, and the learner serves a real actor afterwards."""
    from hilserl.envs.factory import task_layout

    cfg = load_config(None, [*SMALL, "train.env_steps=80", "env.episode_seconds=4"])
    dim = task_layout(cfg.env).observation.state_dim
    episode = lambda text: pb.ActorMessage(actor_id="fuzz", sequence=1, episode_json=text)  # noqa: E731
    cases = [
        (episode("not json"), "the episode record is not JSON"),
        (episode("{}"), "the episode record lacks 'episode'"),
        (episode("[1, 2]"), "not a JSON object"),
        (episode(_record(success=_DROP)), "lacks 'success'"),
        (episode(_record(length="forty")), "'length' is 'forty'"),
        (episode(_record(episode_return=float("nan"))), "'episode_return' is nan"),
        (episode(_record(actor_state="x")), "'actor_state' needs"),
        (_transition(dim, state=np.zeros(5, np.float32)), f"state is float32 [5]; this run takes {dim} floats"),
        (_transition(dim, next_extra={"wrist": np.zeros((128, 128, 3), np.uint8)}), "has ['state', 'wrist']"),
        (_transition(dim, state=np.full(dim, np.inf, np.float32)), "state holds NaN or inf"),
        (_transition(dim, action=np.zeros(3, np.float32)), "the action must be 4 finite values"),
        (_transition(dim, reward=float("nan")), "the reward is nan"),
    ]
    address, stop, thread = start_learner_thread(cfg, tmp_path)
    client = LearnerClient(address)
    try:
        for message, why in cases:
            with pytest.raises(grpc.RpcError) as info:
                client.send("fuzz", [message])
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and why in info.value.details(), why
        nan_rewards = [_transition(dim, reward=float("nan")) for _ in range(300)]
        for i, m in enumerate(nan_rewards):
            m.sequence = i + 1
        with pytest.raises(grpc.RpcError) as info:
            client.send("fuzz", nan_rewards)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        report = run_actor(address, progress=False, patience_s=10)
        thread.join(120)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and report.env_steps == 80
    summary = json.loads((tmp_path / "learner_summary.json").read_text())
    assert summary["env_steps"] == 80 and summary["updates"] > 0  # the real actor's data, trained on
    assert summary["malformed_batches"] == len(cases) + 1


def test_an_image_run_refuses_an_observation_without_its_camera():
    from hilserl.data.transition import Transition
    from hilserl.distributed.message_checks import check_transition
    from hilserl.distributed.wire import MalformedMessage
    from hilserl.envs.contract import ActionLayout, ObservationLayout, TaskLayout

    shapes = {"wrist": (128, 128, 3), "front": (128, 128, 3)}
    layout = TaskLayout(ObservationLayout(16, shapes), ActionLayout(3, gripper=True))
    full = {"state": np.zeros(16, np.float32), **{c: np.zeros(s, np.uint8) for c, s in shapes.items()}}
    check_transition(Transition(full, np.zeros(4, np.float32), 0.0, full, False, False, False), layout)
    lacking = {k: v for k, v in full.items() if k != "front"}
    with pytest.raises(MalformedMessage, match=r"the observation has \['state', 'wrist'\]"):
        check_transition(Transition(lacking, np.zeros(4, np.float32), 0.0, full, False, False, False), layout)
    small = {**full, "front": np.zeros((64, 64, 3), np.uint8)}
    with pytest.raises(MalformedMessage, match=r"'front' image is uint8 \[64, 64, 3\]"):
        check_transition(Transition(full, np.zeros(4, np.float32), 0.0, small, False, False, False), layout)
