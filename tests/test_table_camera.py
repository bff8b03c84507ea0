"""The table in the front camera, measured with the arm, and the cube's pose from a frame: on the digital
twin, whose camera renders the SO-101's MuJoCo model as its servos move. The person is simulated: a hand
that moves the twin's joints to the point each prompt names, and clicks at where the rendering camera
puts the fingertip (or the cube), a pixel or so off."""

import builtins
import json
import re

import numpy as np
import pytest

from hilserl.cli import main
from hilserl.envs.so101.arm import JOINTS
from hilserl.envs.so101.calibration import read_calibration
from hilserl.envs.so101.cameras import CameraSpec
from hilserl.envs.so101.cube_pose import RED_CUBE, CubeColour, CubeDetector, yaw_error
from hilserl.envs.so101.table_camera import (
    TableCalibrationError,
    TableCamera,
    calibration_targets,
    fit_table_camera,
)
from hilserl.envs.so101.table_session import PUT_CUBE
from hilserl.envs.so101.twin import ServoTwin
from hilserl.envs.so101.twin_camera import OUT_OF_THE_WAY, SimulatedPerson, TwinCamera

CALIBRATION = {j: {"id": i + 1, "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 4095}
               for i, j in enumerate(JOINTS)}
REGION = ((0.16, -0.05), (0.26, 0.05))
CUBE_SIZE = 0.025
CLICK_NOISE_PX = 1.0


def person_at(twin, camera) -> SimulatedPerson:
    return SimulatedPerson(twin, camera, read_calibration(twin.calibration), CUBE_SIZE, CLICK_NOISE_PX)


def moved_by_the_prompt(person: SimulatedPerson):
    """``input`` as the person answers ``hilserl robot table``'s prompts: the hand goes to the point one
    names, or the person puts the cube in view."""
    def answer(prompt: str = "") -> str:
        if prompt == PUT_CUBE:
            person.put_cube()
            return ""
        x, y, z = (float(v) / 1000 for v in re.search(r"x (-?\d+), y (-?\d+) mm, (-?\d+) mm", prompt).groups())
        person.hand((x, y, z))
        return ""
    return answer


@pytest.fixture
def twin(tmp_path):
    with ServoTwin(physics=True) as t:
        (tmp_path / "cal.json").write_text(json.dumps(CALIBRATION))
        t.calibration = tmp_path / "cal.json"
        camera = TwinCamera(t, CameraSpec("front", "twin"))
        yield t, camera
        camera.close()


def test_exact_points_give_back_the_rendering_camera(twin):
    _, camera = twin
    P = camera.true_projection()
    xyz = calibration_targets(*REGION, table_z=0.008)
    h = np.c_[xyz, np.ones(len(xyz))] @ P.T
    fitted = fit_table_camera(xyz, h[:, :2] / h[:, 2:], camera.width, camera.height)
    assert fitted.error_mm_max < 0.01 and fitted.error_px_rms < 0.01
    probe = np.array([[0.3, -0.1, 0.0], [0.15, 0.08, 0.03]])
    assert np.allclose(fitted.project(probe), (np.c_[probe, np.ones(2)] @ P.T)[:, :2] / (np.c_[probe, np.ones(2)] @ P.T)[:, 2:], atol=0.01)
    assert np.allclose(fitted.to_plane(fitted.project(probe[:1]), 0.0), probe[:1, :2], atol=1e-6)


@pytest.mark.parametrize("points, problem", [
    (calibration_targets(*REGION, table_z=0.008)[:9], "in height"),  # all on the table
    (calibration_targets(*REGION, table_z=0.008)[:5], "needs 6"),
    (calibration_targets(*REGION, table_z=0.008) * [0.1, 0.1, 1.0], "spread them"),
])
def test_points_that_cannot_give_a_camera_are_refused_in_words(points, problem):
    with pytest.raises(TableCalibrationError, match=problem):
        fit_table_camera(points, np.zeros((len(points), 2)) + np.arange(len(points))[:, None], 640, 480)


def test_robot_table_on_the_twin_fits_the_camera_and_finds_the_cube(twin, tmp_path, monkeypatch, capsys):
    t, camera = twin
    person = person_at(t, camera)
    monkeypatch.setattr(builtins, "input", moved_by_the_prompt(person))
    monkeypatch.setattr("hilserl.envs.so101.table_session.WindowClicker", lambda: person)
    monkeypatch.setattr("hilserl.envs.so101.cameras.open_camera", lambda cam: camera)
    monkeypatch.setattr(camera, "close", lambda: None)  # the fixture closes it
    args = ["robot", "table", "--set", f"env.robot.port={t.port}", "--set", f"env.robot.calibration={t.calibration}",
            "--set", 'env.cameras=[{"name": "front", "source": "0"}]']
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "point 14/14: fingertip at" in out and "fitted to 14 points" in out
    table = TableCamera.load(tmp_path / "cal.table.json")
    assert table.points == 14 and table.error_mm_rms < 3.0  # a pixel of click noise is about a millimetre
    colour = CubeColour.load(tmp_path / "cal.cube.json")
    found = re.search(r"cube found at \((-?\d+), (-?\d+)\) mm, turned ([+-]\d+) deg", out)
    x, y, yaw = (float(v) for v in found.groups())
    assert abs(x / 1000 - person.cube[0]) < 0.005 and abs(y / 1000 - person.cube[1]) < 0.005
    assert np.degrees(yaw_error(np.radians(yaw), person.cube[2])) < 5
    assert colour.hue[0] > colour.hue[1]  # red: the range wraps through 0


def test_cubes_placed_at_known_poses_are_found_within_a_centimetre_and_ten_degrees(twin):
    """The issue's tolerance; ``benchmarks.cube_detection`` measures the errors over 120 poses."""
    t, camera = twin
    person = person_at(t, camera)
    detector = CubeDetector(person.calibrate_table(calibration_targets(*REGION, table_z=0.008)), RED_CUBE, CUBE_SIZE)
    person.hand(OUT_OF_THE_WAY)
    rng = np.random.default_rng(1)
    for _ in range(12):
        x, y = rng.uniform(REGION[0], REGION[1])
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        person.place_cube(x, y, yaw)
        pose = detector.detect(camera.frame())
        assert pose is not None and pose.confidence > 0.6
        assert np.hypot(pose.x - x, pose.y - y) < 0.01 and np.degrees(yaw_error(pose.yaw, yaw)) < 10
    person.place_cube(1.0, 1.0, 0.0)  # off the table's view
    assert detector.detect(camera.frame()) is None


def test_guided_resets_drive_a_training_and_the_grid_evaluation_on_the_twin(twin, tmp_path, monkeypatch, capsys):
    """The real arm's env with guided placement, on the twin: training resets put cubes drawn over the
    region, and ``eval --guided`` puts the grid's, then writes the success map as in simulation."""
    t, camera = twin
    person = person_at(t, camera)
    person.calibrate_table(calibration_targets(*REGION, table_z=0.008)).save(tmp_path / "cal.table.json")
    RED_CUBE.save(tmp_path / "cal.cube.json")
    monkeypatch.setattr("hilserl.envs.so101.cameras.open_camera", lambda cam: camera)
    monkeypatch.setattr(camera, "close", lambda: None)  # the fixture closes it
    monkeypatch.setattr("hilserl.envs.so101.guided_placement.WindowPerson", lambda: person)
    monkeypatch.setattr("hilserl.cli._label_keys", lambda env, cfg: None)  # nobody presses a key here
    run = tmp_path / "run"
    sets = ["env.kind=so101", f"env.robot.port={t.port}", f"env.robot.calibration={t.calibration}",
            "env.state_only=true", 'env.cameras=[{"name": "front", "source": "0"}]', "env.robot.guided_placement=true",
            "human.strategy=none", "train.demo_episodes=0", "train.env_steps=10", "train.learning_starts=5",
            "env.control_hz=10", "env.episode_seconds=0.5", "agent.hidden_dims=[16]", "agent.batch_size=4"]
    assert main(["train", "--single-process", "--run-dir", str(run), "--eval-seeds", "0",
                 *[a for o in sets for a in ("--set", o)]]) == 0
    episodes = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2 and person.placements >= 2
    low, high = REGION
    for e in episodes:  # where the cube was detected, drawn over the region
        assert low[0] - 0.01 < e["cube_x"] < high[0] + 0.01 and low[1] - 0.01 < e["cube_y"] < high[1] + 0.01
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--guided", "--nx", "2", "--ny", "2", "--nyaw", "1", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "success over the grid: 0% (4 cells x 1 seeds" in out  # nobody labels a success on the twin
    summary = json.loads((run / "success_map.json").read_text())
    assert set(summary["by_region"]) == {"front", "back"} and (run / "success_map.png").stat().st_size > 0
    placed = person.placements
    assert main(["eval", "--checkpoint", str(run), "--guided", "--episodes", "3"]) == 0  # places drawn over the region
    assert re.search(r"success over 3 seeded resets: 0% \((front|back) 0%", capsys.readouterr().out)
    assert person.placements >= placed + 3
