"""TLS between robots and the learner: certificates made by ``hilserl fleet certs``, a learner serving
over TLS with robot certificates required, an actor that trains through it, and each way a connection
is refused, in words (gRPC itself says UNAVAILABLE for all of them)."""

import datetime as dt
import json
import queue
import stat
import threading

import pytest

from hilserl.cli import main
from hilserl.config import Config, load_config, to_dict
from hilserl.distributed.actor_process import LearnerClient, check_link, run_actor, wait_for_learner
from hilserl.distributed.certs import make_ca, make_learner, make_robot
from hilserl.distributed.service import (
    LearnerService,
    ParameterStore,
    TokenRequired,
    check_listening,
    start_server,
)
from hilserl.distributed.tls import ClientTLS, ServerTLS, TLSError

SMALL = ["env.state_only=true", "train.learning_starts=40", "train.demo_episodes=1", "agent.hidden_dims=[16]",
         "agent.batch_size=8", "train.params_every=10", "train.checkpoint_every=100"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    assert main(["fleet", "certs", "--out", str(out), "--learner-host", "127.0.0.1", "--robot", "arm1"]) == 0
    return out


def serve(tls: ServerTLS | None):
    service = LearnerService(json.dumps(to_dict(Config())), queue.Queue(), ParameterStore(), token=None)
    server, port = start_server(service, "127.0.0.1", 0, tls)
    return server, f"127.0.0.1:{port}"


def refusal(address: str, tls: ClientTLS) -> str:
    with pytest.raises(TLSError) as info:
        wait_for_learner(LearnerClient(address, tls=tls), threading.Event(), patience_s=20)
    return str(info.value)


def test_fleet_certs_writes_a_ca_a_learner_and_robots_and_never_overwrites(fleet, capsys):
    names = sorted(p.name for p in fleet.iterdir())
    assert names == ["ca.key", "ca.pem", "learner.key", "learner.pem", "robot-arm1.key", "robot-arm1.pem"]
    assert all(stat.S_IMODE((fleet / n).stat().st_mode) == 0o600 for n in names if n.endswith(".key"))
    before = (fleet / "ca.key").read_bytes()
    assert main(["fleet", "certs", "--out", str(fleet), "--learner-host", "127.0.0.1"]) == 2
    assert "nothing was overwritten" in capsys.readouterr().err
    assert (fleet / "ca.key").read_bytes() == before


def test_mutual_tls_admits_the_enrolled_robot_and_refuses_the_others(fleet, tmp_path):
    server, address = serve(ServerTLS(fleet / "learner.pem", fleet / "learner.key", client_ca=fleet / "ca.pem"))
    try:
        robot = ClientTLS(fleet / "ca.pem", fleet / "robot-arm1.pem", fleet / "robot-arm1.key")
        assert LearnerClient(address, tls=robot).config()[0].seed == Config().seed
        assert "requires a robot certificate" in refusal(address, ClientTLS(fleet / "ca.pem"))
        other = tmp_path / "other"
        other.mkdir()
        other_ca = make_ca(other)
        intruder = make_robot(other, other_ca, "intruder")
        message = refusal(address, ClientTLS(fleet / "ca.pem", intruder.cert, intruder.key))
        assert "not signed by the CA the learner trusts" in message
        message = refusal(address, ClientTLS(other_ca.cert, fleet / "robot-arm1.pem", fleet / "robot-arm1.key"))
        assert "is not signed by the CA in --tls-ca" in message
        assert "does not name the host 'localhost'" in refusal(address.replace("127.0.0.1", "localhost"), robot)
    finally:
        server.stop(0)


def test_an_expired_learner_certificate_and_a_learner_without_tls_are_named(fleet, tmp_path):
    from hilserl.distributed.certs import Issued

    ca = Issued(fleet / "ca.pem", fleet / "ca.key")
    old = make_learner(tmp_path, ca, ["127.0.0.1"], days=1,
                       start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3))
    server, address = serve(ServerTLS(old.cert, old.key))
    try:
        assert "the learner's certificate is expired" in refusal(address, ClientTLS(fleet / "ca.pem"))
    finally:
        server.stop(0)
    server, address = serve(None)
    try:
        assert "does not speak TLS" in refusal(address, ClientTLS(fleet / "ca.pem"))
    finally:
        server.stop(0)


def test_beyond_loopback_tls_or_an_explicit_insecure(fleet, caplog, capsys):
    tls = ServerTLS(fleet / "learner.pem", fleet / "learner.key")
    with pytest.raises(TokenRequired, match="without TLS"):
        check_listening("0.0.0.0", "token")
    with pytest.raises(TokenRequired, match="HILSERL_TOKEN"):
        check_listening("0.0.0.0", None, tls)  # TLS, but nothing tells the actors apart
    check_listening("0.0.0.0", None, ServerTLS(tls.cert, tls.key, fleet / "ca.pem"))  # robot certificates do
    check_listening("0.0.0.0", "token", tls)
    check_listening("0.0.0.0", "token", insecure=True)
    service = LearnerService(json.dumps(to_dict(Config())), queue.Queue(), ParameterStore(), token="token")
    server, _ = start_server(service, "0.0.0.0", 0, insecure=True)  # allowed, and said out loud
    server.stop(0)
    assert caplog.text.count("cross the network in clear") == 1
    with pytest.raises(TLSError, match="--tls-ca"):
        check_link("192.168.1.20:50051", None, insecure=False)
    check_link("192.168.1.20:50051", None, insecure=True)
    check_link("127.0.0.1:50051", None, insecure=False)
    assert main(["learner", "--tls-cert", str(fleet / "learner.pem"), "--run-dir", "unused"]) == 2
    assert "TLS needs both --tls-cert and --tls-key" in capsys.readouterr().err


def test_an_actor_trains_over_mutual_tls(fleet, tmp_path):
    from hilserl.distributed.learner_process import run_learner

    cfg = load_config(None, [*SMALL, "train.env_steps=120"])
    stop, port_file = threading.Event(), tmp_path / "port"
    tls = ServerTLS(fleet / "learner.pem", fleet / "learner.key", client_ca=fleet / "ca.pem")
    thread = threading.Thread(target=run_learner, args=(cfg, tmp_path / "run"), daemon=True,
                              kwargs=dict(port=0, port_file=port_file, progress=False, tensorboard=False, stop=stop,
                                          tls=tls))
    thread.start()
    try:
        while not port_file.exists():
            thread.join(0.05)
            assert thread.is_alive(), "the learner ended before it listened"
        report = run_actor(f"127.0.0.1:{port_file.read_text()}", patience_s=30, progress=False,
                           tls=ClientTLS(fleet / "ca.pem", fleet / "robot-arm1.pem", fleet / "robot-arm1.key"))
        assert report.env_steps >= 120 and report.dropped == 0
    finally:
        stop.set()
        thread.join(60)
