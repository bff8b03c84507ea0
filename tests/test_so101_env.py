"""The real-arm env, the same classes a real SO-101 uses, against the digital twin: the servo bus on a
pseudo-terminal and camera frames rendered by the simulation, read back through OpenCV."""

import json
import time

import cv2
import numpy as np
import pytest

from hilserl.config import CameraConfig, EnvConfig, RobotConfig
from hilserl.envs.check import check_env
from hilserl.envs.factory import make_env, task_layout
from hilserl.envs.so101.arm import CENTRE, JOINTS, SafetyStop
from hilserl.envs.so101.cameras import CameraError
from hilserl.envs.so101.twin import ServoTwin

CALIBRATION = {j: {"id": i + 1, "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 4095}
               for i, j in enumerate(JOINTS)}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """Frames of the simulation's front camera, as a camera would film them (640x480, BGR, mp4)."""
    from hilserl.envs.grasp_env import GraspCubeEnv

    sim = GraspCubeEnv(EnvConfig(cameras=(CameraConfig("front", size=128),)), render_mode="rgb_array")
    obs, _ = sim.reset(seed=0)
    path = tmp_path_factory.mktemp("camera") / "front.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for _ in range(20):
        frame = cv2.resize(obs["front"], (480, 480))
        writer.write(cv2.copyMakeBorder(frame[:, :, ::-1], 0, 0, 80, 80, cv2.BORDER_CONSTANT))
        obs, *_ = sim.step(np.array([0.3, 0.0, 0.0, 1.0], np.float32))
    writer.release()
    sim.close()
    return path


@pytest.fixture
def twin(tmp_path):
    with ServoTwin() as t:
        (tmp_path / "cal.json").write_text(json.dumps(CALIBRATION))
        t.calibration = tmp_path / "cal.json"
        yield t


def robot_config(twin, video=None, loop=True, control_hz=50.0, **env):
    cams = (CameraConfig("front", size=64, render_size=640, crop=(0, 480, 80, 560), source=str(video), loop=loop),) \
        if video else ()
    return EnvConfig(kind="so101", state_only=video is None, cameras=cams or (CameraConfig("front"),),
                     control_hz=control_hz, episode_seconds=0.4,
                     robot=RobotConfig(port=twin.port, calibration=str(twin.calibration)), **env)


def test_the_real_arm_env_keeps_the_contract_and_moves_as_the_simulation(twin, video):
    cfg = robot_config(twin, video)
    env = make_env(cfg)
    try:
        assert task_layout(cfg) == check_env(env, steps=25).layout  # the learner's layout, without the robot
        result = check_env(env, steps=25)
        assert result.ok, result.problems
        obs, info = env.reset(seed=1)
        assert obs["front"].shape == (64, 64, 3) and obs["front"].mean() > 20  # the simulation's table, cropped
        tip = obs["state"][12:15]
        assert np.all(np.abs(tip - np.array(cfg.ee_base)) <= np.array(cfg.ee_reset_offset) + 0.01)
        for _ in range(3):
            env.step(np.array([-1.0, 0.0, 0.0, 1.0], np.float32))
        time.sleep(0.05)  # the servos reach the last command
        reached = env.unwrapped.ik.fingertip(env.unwrapped.arm.joints()[:5])[0]
        expected = max(tip[0] - 3 * cfg.action_scale, cfg.ee_bounds.low[0])  # the sim's action scale and bounds
        assert reached[0] == pytest.approx(expected, abs=0.004) and reached[1:] == pytest.approx(tip[1:], abs=0.004)
    finally:
        env.close()
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())


def test_resets_move_without_jumps(twin):
    env = make_env(robot_config(twin))
    try:
        env.reset(seed=0)
        twin.received.clear()
        env.reset(seed=5)
        goals = [p for p in twin.received if p[4] == 0x83 and p[5] == 42]
        steps = np.array([[int.from_bytes(p[8 + 3 * k:10 + 3 * k], "little") for k in range(6)] for p in goals], float)
        assert len(steps) > 3 and np.abs(np.diff(steps, axis=0)).max() * 2 * np.pi / 4096 <= 0.25 + 1e-3
    finally:
        env.close()


def test_faults_end_the_episode_with_the_torque_off_and_a_clear_message(twin, video):
    env = make_env(robot_config(twin, video, loop=False))
    deadline = time.monotonic() + 5.0
    with pytest.raises(CameraError, match="camera 'front'.*no new frame"):
        # The 20-frame video (0.7 s) ends: the camera has stopped, at the reset on a loaded machine or
        # at a step on an idle one; either way the episode ends there, with the torque off.
        env.reset(seed=0)
        while time.monotonic() < deadline:
            env.step(np.zeros(4, np.float32))
            time.sleep(0.02)
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())
    env.close()

    env = make_env(robot_config(twin))
    env.reset(seed=0)
    twin.blocked.add(2)
    twin.set_actual(2, CENTRE + 900)  # the shoulder pushed far (1.4 rad) from where it was told to be
    with pytest.raises(SafetyStop, match="shoulder_lift"):
        env.step(np.zeros(4, np.float32))
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())
    env.close()


def test_a_missing_port_or_camera_source_is_named(twin, tmp_path):
    from hilserl.envs.factory import UnknownEnv

    with pytest.raises(UnknownEnv, match="needs env.robot.port"):
        make_env(EnvConfig(kind="so101", state_only=True))
    with pytest.raises(UnknownEnv, match="camera 'front' has no source"):
        make_env(EnvConfig(kind="so101", cameras=(CameraConfig("front"),),
                           robot=RobotConfig(port=twin.port, calibration=str(twin.calibration))))
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())


def twin_training(twin, run_dir, env_steps, extra=()):
    sets = ["env.kind=so101", f"env.robot.port={twin.port}", f"env.robot.calibration={twin.calibration}",
            "env.state_only=true", "human.strategy=none", "train.demo_episodes=0", f"train.env_steps={env_steps}",
            "train.learning_starts=20", "env.episode_seconds=2", "agent.hidden_dims=[16]", "agent.batch_size=8",
            "train.params_every=5", "train.checkpoint_every=1000", *extra]
    from hilserl.cli import main

    return main(["train", "--run-dir", str(run_dir), "--eval-seeds", "2"] + [a for s in sets for a in ("--set", s)])


@pytest.mark.slow
def test_a_short_training_runs_through_the_actor_and_learner_on_the_twin(twin, tmp_path, capsys):
    """The learner process and the real-time actor of `hilserl train`, the actor driving the arm."""
    assert twin_training(twin, tmp_path / "run", 60) == 0
    summary = json.loads((tmp_path / "run" / "learner_summary.json").read_text())
    assert summary["env_steps"] == 60 and summary["updates"] >= 41 and summary["episodes"] == 3
    episodes = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    assert all(e["missed_deadlines"] >= 0 for e in episodes)  # the control rate's misses, per episode
    out = capsys.readouterr().out
    assert "closing evaluation skipped: on the real arm" in out
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())


@pytest.mark.slow
def test_a_motor_that_stops_answering_mid_run_stops_safely_and_keeps_what_was_sent(twin, tmp_path, capsys):
    import threading

    def silence_when_two_episodes_are_in() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            episodes = tmp_path / "run" / "episodes.jsonl"
            if episodes.exists() and len(episodes.read_text().splitlines()) >= 2:
                twin.silent.add(4)
                return
            time.sleep(0.05)

    threading.Thread(target=silence_when_two_episodes_are_in, daemon=True).start()
    assert twin_training(twin, tmp_path / "run", 400) == 5
    err = capsys.readouterr().err
    assert "the robot stopped, torque off" in err and "wrist_flex (id 4)" in err
    summary = json.loads((tmp_path / "run" / "learner_summary.json").read_text())
    assert summary["episodes"] >= 2 and summary["env_steps"] == 20 * summary["episodes"]  # whole episodes, kept
    assert [s.get("Torque_Enable") for i, s in twin.servos.items() if i != 4] == [0] * 5


def test_a_leader_arm_drives_the_follower_while_the_takeover_is_held(twin, tmp_path):
    """A second twin is the leader: held where the follower should go, gripper closed by the hand."""
    from hilserl.envs.so101.arm import JointMap, SO101Arm
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import read_calibration
    from hilserl.teleop.interface import resolve
    from hilserl.teleop.leader_arm import LeaderArm

    env = make_env(robot_config(twin))
    with ServoTwin() as leader_twin, FeetechBus(leader_twin.port) as leader_bus:
        cal = read_calibration(twin.calibration)
        leader = SO101Arm(leader_bus, cal)
        leader.connect()  # torque off: a hand moves it
        try:
            env.reset(seed=0)
            base = env.unwrapped
            goal = base.target + np.array([0.03, -0.02, 0.01])
            q, _ = base.ik.solve(goal, 0.0, base.arm.commanded[:5], 100)
            for k, joint in enumerate(JOINTS[:5]):
                leader_twin.set_actual(k + 1, JointMap().to_steps(joint, q[k], cal[joint]))
            leader_twin.set_actual(6, JointMap().to_steps("gripper", 0.0, cal["gripper"]))  # squeezed shut
            held = [False]
            device = LeaderArm(leader, base.ik, lambda: base.target, env.unwrapped.config.action_scale,
                               takeover=lambda: held[0])
            assert not device.step(np.zeros(4)).active  # not held: the policy acts
            held[0] = True
            for _ in range(4):
                action, intervened = resolve(np.zeros(4, np.float32), device.step(np.zeros(4)))
                assert intervened and np.all(np.abs(action[:3]) <= 1.0)
                obs, *_ = env.step(action)
            time.sleep(0.05)
            reached = base.ik.fingertip(base.arm.joints()[:5])[0]
            assert np.linalg.norm(reached - goal) < 0.004 and obs["state"][15] == 1.0  # there, gripper closed
        finally:
            env.close()


def test_robot_check_reports_ports_motors_calibration_and_camera_frames(twin, video, tmp_path, capsys):
    from hilserl.cli import main

    sets = [f"env.robot.port={twin.port}", f"env.robot.calibration={twin.calibration}",
            'env.cameras=[{"name": "front", "size": 64, "render_size": 640, "crop": [0, 480, 80, 560], '
            f'"source": "{video}", "loop": true}}]']
    assert main(["robot", "check", "--move", "--out", str(tmp_path / "check")] + [a for s in sets for a in ("--set", s)]) == 0
    out = capsys.readouterr().out
    assert "shoulder_pan (id 1) model 777" in out and "gripper (id 6) model 777" in out
    assert "elbow_flex    range 0..4095, now 2047 (-0.0 deg from the middle)" in out
    assert "moved wrist_flex by +5.7 deg and back" in out
    assert (tmp_path / "check" / "camera_front.png").exists()
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())
    twin.silent.add(6)
    assert main(["robot", "check", "--out", str(tmp_path / "check")] + [a for s in sets for a in ("--set", s)]) == 5
    assert "gripper (id 6)" in capsys.readouterr().err


def test_calibrate_on_the_command_line_writes_lerobots_file(twin, tmp_path, monkeypatch, capsys):
    import builtins

    from hilserl.cli import main
    from hilserl.envs.so101.calibration import read_calibration

    answers = iter(["", ""])  # Enter after centring; Enter after sweeping

    def person(prompt=""):
        if "swept" in prompt:
            for span in (-500, 500):  # every joint swept by hand
                for i in range(1, 7):
                    twin.set_actual(i, CENTRE + span)
                time.sleep(0.1)
        return next(answers)

    monkeypatch.setattr(builtins, "input", person)
    assert main(["calibrate", "--port", twin.port, "--arm-id", "desk_arm", "--root", str(tmp_path)]) == 0
    cal = read_calibration(tmp_path / "robots" / "so_follower" / "desk_arm.json")
    assert (cal["elbow_flex"].range_min, cal["elbow_flex"].range_max) == (CENTRE - 500, CENTRE + 500)
    assert cal["wrist_roll"].range_max == 4095 and "LeRobot reads it too" in capsys.readouterr().out


@pytest.mark.slow
def test_training_with_leader_arm_interventions_on_the_twin(twin, tmp_path):
    """`hilserl train --teleop leader`: a second twin is the leader arm, driving every step (takeover
    always, as when recording demonstrations); its steps reach the learner as interventions."""
    with ServoTwin() as leader:
        leader.set_actual(2, CENTRE + 200)  # the leader held a little away from the follower
        from hilserl.cli import main

        sets = ["env.kind=so101", f"env.robot.port={twin.port}", f"env.robot.calibration={twin.calibration}",
                f"env.robot.leader_port={leader.port}", f"env.robot.leader_calibration={twin.calibration}",
                "env.robot.leader_takeover=always", "env.state_only=true", "train.demo_episodes=0",
                "train.env_steps=40", "train.learning_starts=20", "env.episode_seconds=2", "agent.hidden_dims=[16]",
                "agent.batch_size=8", "train.checkpoint_every=1000"]
        args = ["train", "--teleop", "leader", "--run-dir", str(tmp_path / "run"), "--eval-seeds", "0"]
        assert main(args + [a for s in sets for a in ("--set", s)]) == 0
        summary = json.loads((tmp_path / "run" / "learner_summary.json").read_text())
        assert summary["buffer_composition"]["intervention_steps"] == 40 and summary["env_steps"] == 40
        assert all(s.get("Torque_Enable") == 0 for s in [*twin.servos.values(), *leader.servos.values()])


def test_on_the_physics_twin_the_arm_lands_where_the_simulation_does(tmp_path):
    """The twin's servos driven by the SO-101's MuJoCo model (gravity, actuators, the table): the same
    seeded reset and actions on the real-arm env and on the simulation end within a few millimetres."""
    from hilserl.envs.grasp_env import GraspCubeEnv

    actions = [np.array([0.0, 0.5, -0.5, -1.0], np.float32)] * 4  # sideways and down, closing
    sim = GraspCubeEnv(EnvConfig(state_only=True))
    _, info = sim.reset(seed=3)
    for a in actions:
        _, _, _, _, info = sim.step(a)
    with ServoTwin(physics=True) as twin:
        (tmp_path / "cal.json").write_text(json.dumps(CALIBRATION))
        twin.calibration = tmp_path / "cal.json"
        env = make_env(robot_config(twin, control_hz=10.0))
        try:
            env.reset(seed=3)
            for a in actions:
                env.step(a)
                time.sleep(0.1)  # the control period
            time.sleep(0.6)  # settled, with a margin for a loaded machine
            base = env.unwrapped
            reached = base.ik.fingertip(base.arm.joints()[:5])[0]
            assert np.linalg.norm(reached - info["ee_pos"]) < 0.006
            assert base.arm.joints()[5] < 0.2  # the gripper closed on nothing
        finally:
            env.close()


@pytest.mark.slow
def test_an_actor_that_loses_its_learner_stops_the_arm(twin, tmp_path):
    import threading

    from hilserl.config import load_config
    from hilserl.distributed.actor_process import run_actor
    from hilserl.distributed.learner_process import run_learner
    from hilserl.envs.so101.faults import RobotFault

    cfg = load_config(None, ["env.kind=so101", f"env.robot.port={twin.port}",
                             f"env.robot.calibration={twin.calibration}", "env.robot.learner_timeout_s=1.5",
                             "env.state_only=true", "human.strategy=none", "train.demo_episodes=0",
                             "train.env_steps=400", "train.learning_starts=20", "env.episode_seconds=2",
                             "agent.hidden_dims=[16]", "agent.batch_size=8", "threads=1"])
    port_file, stop = tmp_path / "port", threading.Event()
    learner = threading.Thread(target=run_learner, args=(cfg, tmp_path / "run"), daemon=True,
                               kwargs=dict(port=0, port_file=port_file, progress=False, tensorboard=False, stop=stop))
    learner.start()
    while not port_file.exists():
        time.sleep(0.05)
    threading.Timer(3.0, stop.set).start()  # the learner goes away mid-run
    with pytest.raises(RobotFault, match=r"the learner has not answered for \d+ s"):
        run_actor(f"127.0.0.1:{port_file.read_text()}", realtime=True, progress=False, threads=1, patience_s=2.0)
    assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())
    learner.join(timeout=10)  # (only the timeout raises this fault: without it the actor runs its 400 steps)


def test_keys_label_success_and_failure_and_the_emergency_stop_turns_the_torque_off(twin):
    from hilserl.teleop.robot_keys import EmergencyStop, KeyLabels

    class Held:  # what the person holds down, read at each step
        keys: set = set()

        def held(self):
            return set(self.keys)

        def poll(self):
            return set(self.keys), set()

    keys = Held()
    from hilserl.config import RewardConfig

    env = make_env(robot_config(twin, reward=RewardConfig(min_steps_before_success=2)))
    env.unwrapped.labels = KeyLabels(keys)
    try:
        env.reset(seed=0)
        keys.keys = {"l"}
        _, reward, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert not terminated  # too early: the success rule's minimum steps
        _, reward, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert terminated and reward == 1.0 and info["is_success"]
        env.reset(seed=1)
        keys.keys = {"f"}
        _, reward, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert truncated and not terminated and info["failure_label"]
        keys.keys = {"esc"}
        with pytest.raises(EmergencyStop, match="emergency stop"):
            env.step(np.zeros(4, np.float32))
        assert all(s.get("Torque_Enable") == 0 for s in twin.servos.values())
    finally:
        env.close()


def test_demonstrations_recorded_with_the_leader_arm_keep_the_successes(twin, tmp_path):
    from hilserl.collect.demos import record_teleop_demos
    from hilserl.config import RewardConfig
    from hilserl.data.episodes import read_meta
    from hilserl.teleop.select import make_intervention

    with ServoTwin() as leader:
        leader.set_actual(2, CENTRE + 150)  # the person holds the leader a little forward
        cfg = robot_config(twin, reward=RewardConfig(min_steps_before_success=3))
        cfg = cfg.__class__(**{**cfg.__dict__, "robot": RobotConfig(
            port=twin.port, calibration=str(twin.calibration), leader_port=leader.port,
            leader_calibration=str(twin.calibration))})
        env = make_env(cfg)
        outcomes = iter(["failure", "success", "success"])

        class Person:  # labels each episode as it ends: the first one failed, the others succeeded
            current = None

            def poll(self):
                if env.unwrapped.elapsed_steps == 1:
                    self.current = next(outcomes)
                return self.current

        env.unwrapped.labels = Person()
        try:
            device = make_intervention("leader", env, cfg, takeover=lambda: True)
            assert record_teleop_demos(cfg, 2, tmp_path / "demos", device, env=env) == 2
        finally:
            env.close()
    assert read_meta(tmp_path / "demos")["episodes"] == 2 and read_meta(tmp_path / "demos")["complete"]
    with np.load(tmp_path / "demos" / "episode_000000.npz") as ep:
        assert ep["intervention"].all() and ep["next.success"][-1] and len(ep["action"]) == 3
        assert np.abs(ep["action"][:, :3]).max() > 0.1  # the follower driven towards the leader


def test_bounds_recorded_by_hand_and_a_degenerate_box_refused(twin, tmp_path, monkeypatch, capsys):
    import builtins

    from hilserl.cli import main
    from hilserl.envs.so101.arm import JointMap, SO101Arm
    from hilserl.envs.so101.bounds import DegenerateBounds, record_bounds
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import read_calibration
    from hilserl.envs.so101_model import HOME_GUESS

    cal = read_calibration(twin.calibration)
    poses = [HOME_GUESS + d for d in (np.zeros(5), [0.15, 0.0, 0.0, 0.0, 0.0], [-0.15, 0.2, -0.2, 0.0, 0.0],
                                      [0.0, -0.3, 0.1, -0.4, 0.0])]

    def hand(pose):
        for k, joint in enumerate(JOINTS[:5]):
            twin.set_actual(k + 1, JointMap().to_steps(joint, pose[k], cal[joint]))

    with FeetechBus(twin.port) as bus:
        arm = SO101Arm(bus, cal)
        moves = iter(poses)

        def done():
            pose = next(moves, None)
            if pose is None:
                return True
            hand(pose)
            return False

        low, high = record_bounds(arm, done, poll_s=0.01, say=lambda line: None)
        assert all(h - lo >= 0.02 for lo, h in zip(low, high))
        hand(HOME_GUESS)
        with pytest.raises(DegenerateBounds, match=r"too narrow \(x 0\.000 m, y 0\.000 m, z 0\.000 m"):
            record_bounds(arm, lambda: True, say=lambda line: None)  # the arm never moved

    answered = iter(poses)

    def person(prompt=""):
        for pose in answered:
            hand(pose)
            time.sleep(0.25)  # held a moment, as a hand does
        return ""

    monkeypatch.setattr(builtins, "input", person)
    args = ["robot", "bounds", "--set", f"env.robot.port={twin.port}", "--set", f"env.robot.calibration={twin.calibration}"]
    assert main(args) == 0
    assert "use them: --set 'env.ee_bounds=" in capsys.readouterr().out


def test_the_leader_follows_the_follower_until_the_person_takes_over(twin):
    from hilserl.teleop.select import make_intervention

    with ServoTwin() as leader:
        cfg = robot_config(twin)
        cfg = cfg.__class__(**{**cfg.__dict__, "robot": RobotConfig(
            port=twin.port, calibration=str(twin.calibration), leader_port=leader.port,
            leader_calibration=str(twin.calibration), leader_follows=True)})
        env = make_env(cfg)
        held = [False]
        try:
            env.reset(seed=2)
            device = make_intervention("leader", env, cfg, takeover=lambda: held[0])
            for _ in range(12):  # the policy moves the follower; the leader keeps up
                assert not device.step(np.zeros(4)).active
                env.step(np.array([0.5, 0.5, 0.0, 0.0], np.float32))
                time.sleep(0.02)  # the control period (50 Hz here)
            device.step(np.zeros(4))
            time.sleep(0.05)
            follower = env.unwrapped.arm.commanded
            assert np.abs(device.leader.joints() - follower).max() < 0.03
            assert all(s.get("Torque_Enable") == 1 for s in leader.servos.values())
            held[0] = True
            assert device.step(np.zeros(4)).active
            assert all(s.get("Torque_Enable") == 0 for s in leader.servos.values())  # limp for the hand
        finally:
            env.close()


def test_a_file_camera_read_slowly_is_not_taken_for_a_stopped_one(video):
    """A loaded machine delays the reader of a file camera (the twin's, a replay's): its frames then
    age past a live camera's limit, but the file has not ended, so the camera has not stopped. Here the
    reader is slowed on purpose (1 frame per second)."""
    from hilserl.envs.so101.cameras import MAX_AGE_S, Camera, CameraSpec

    camera = Camera(CameraSpec("front", str(video), 64, crop=(0, 480, 80, 560), fps=1.0, loop=True))
    try:
        time.sleep(MAX_AGE_S + 0.4)
        assert camera.latest().shape == (64, 64, 3)
    finally:
        camera.close()
