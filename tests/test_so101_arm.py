"""The SO-101 arm's safety layer, the real classes over the bus, against the digital twin."""

import numpy as np
import pytest

from hilserl.envs.so101.arm import CENTRE, JOINTS, ArmLimits, JointMap, SafetyStop, SO101Arm
from hilserl.envs.so101.bus import BusError, FeetechBus
from hilserl.envs.so101.calibration import MotorCalibration
from hilserl.envs.so101.protocol import REGISTERS, SYNC_WRITE, decode
from hilserl.envs.so101.twin import ServoTwin

CAL = {j: MotorCalibration(i + 1, int(j == "elbow_flex"), 10 * (i + 1), 1000, 3100) for i, j in enumerate(JOINTS)}
"""Ranges of 2,100 steps around the centre; the elbow's drive mode inverted; small homing offsets."""


@pytest.fixture
def arm():
    with ServoTwin() as twin, FeetechBus(twin.port) as bus:
        for i, j in enumerate(JOINTS):
            twin.set_actual(i + 1, CENTRE + CAL[j].homing_offset)  # every joint at its calibrated centre
        a = SO101Arm(bus, CAL, limits=ArmLimits(max_step=0.05, jump_tolerance=0.3))
        a.connect()
        a.twin = twin
        yield a


def goals_sent(twin):
    """Per sync write of Goal_Position, the steps sent to each motor."""
    reg, out = REGISTERS["Goal_Position"], []
    for p in twin.received:
        if p[4] == SYNC_WRITE and p[5] == reg.address:
            params = p[5:-1]
            out.append({params[k]: decode(reg, params[k + 1:k + 3]) for k in range(2, len(params), 3)})
    return out


def test_the_joint_map_goes_both_ways_for_both_drive_modes():
    jm = JointMap(directions={**dict.fromkeys(JOINTS, 1), "wrist_flex": -1}, zeros={**dict.fromkeys(JOINTS, 0.0),
                                                                                     "shoulder_lift": 0.3})
    for joint in JOINTS:
        for drive in (0, 1):
            cal = MotorCalibration(1, drive, 0, 0, 4095)
            for steps in (0, 1000, CENTRE, 3500, 4095):
                assert jm.to_steps(joint, jm.to_radians(joint, steps, cal), cal) == steps
    cal = MotorCalibration(1, 0, 0, 0, 4095)
    assert jm.to_radians("shoulder_pan", CENTRE + 1024, cal) == pytest.approx(np.pi / 2)  # a quarter turn
    assert jm.to_radians("wrist_flex", CENTRE + 1024, cal) == pytest.approx(-np.pi / 2)
    assert jm.to_radians("shoulder_lift", CENTRE, cal) == pytest.approx(0.3)


def test_connect_writes_calibration_and_caps_and_enable_does_not_move(arm):
    servo = arm.twin.servos[3]
    assert (servo.get("Homing_Offset"), servo.get("Min_Position_Limit"), servo.get("Max_Position_Limit")) == (30, 1000, 3100)
    assert arm.twin.servos[6].get("Max_Torque_Limit") == 500 and arm.twin.servos[6].get("Protection_Current") == 250
    before = arm.joints()
    assert np.allclose(before, 0.0, atol=1e-9)  # the calibrated centre is the model's zero here
    arm.enable()
    assert all(s.get("Torque_Enable") == 1 for s in arm.twin.servos.values())
    assert np.allclose(arm.joints(), before)


def test_moves_are_interpolated_and_clipped_to_the_calibrated_range(arm):
    arm.enable()
    target = np.array([0.5, -0.4, 0.3, 9.0, 0.0, 0.2])  # wrist_flex far past its range
    arm.move_to(target, period_s=0.0)
    sent = goals_sent(arm.twin)
    steps = np.array([[g[i + 1] for i in range(6)] for g in sent], float)
    assert np.abs(np.diff(steps, axis=0)).max() * 2 * np.pi / 4096 <= 0.05 + 1e-3  # never a jump
    high = arm.high[3]
    assert arm.commanded[3] == pytest.approx(high) and high < 9.0  # clipped to the range
    assert np.allclose(arm.joints(), np.clip(target, arm.low, arm.high), atol=2 * np.pi / 4096)
    assert arm.commanded[2] == pytest.approx(0.3)  # the elbow's inverted drive mode still goes where told


def test_a_blocked_joint_stops_the_arm_with_torque_off(arm):
    arm.enable()
    arm.twin.blocked.add(2)
    with pytest.raises(SafetyStop, match=r"shoulder_lift is 0\.\d+ rad from its last command.*torque off"):
        for _ in range(40):
            arm.command(np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
    assert all(s.get("Torque_Enable") == 0 for s in arm.twin.servos.values())


def test_any_exception_and_a_silent_motor_turn_the_torque_off(arm):
    with pytest.raises(RuntimeError, match="boom"):
        with arm:
            arm.enable()
            raise RuntimeError("boom")
    assert all(s.get("Torque_Enable") == 0 for s in arm.twin.servos.values())
    arm.enable()
    arm.twin.silent.add(5)
    with pytest.raises(BusError, match="wrist_roll"):
        arm.command(np.zeros(6))
    assert [s.get("Torque_Enable") for i, s in arm.twin.servos.items() if i != 5] == [0] * 5
    with pytest.raises(SafetyStop, match="not enabled"):
        arm.command(np.zeros(6))


def test_a_calibration_without_every_joint_is_refused():
    with pytest.raises(SafetyStop, match=r"lacks \['gripper'\]"):
        SO101Arm(None, {j: c for j, c in CAL.items() if j != "gripper"})


def test_calibration_centres_at_2047_records_the_sweep_and_survives_the_wrist_roll_wrap(tmp_path):
    from hilserl.envs.so101.calibrate import calibrate, homing_offset
    from hilserl.envs.so101.calibration import (
        CalibrationError,
        normalize,
        read_calibration,
        write_calibration,
    )

    assert [homing_offset(r) for r in (2047, 3000, 10, 4090, 4095)] == [0, 953, -2037, 2043, -2047]
    raw_centre = {1: 1900, 2: 2400, 3: 1500, 4: 2100, 5: 4090, 6: 2600}  # wrist roll centred at the wrap
    travel = {1: 900, 2: 700, 3: 800, 4: 600, 5: 0, 6: 500}
    with ServoTwin() as twin, FeetechBus(twin.port) as bus:
        def centred():
            for i, raw in raw_centre.items():
                twin.set_actual(i, raw)

        sweep = iter(range(-1000, 1001, 50))

        def swept():  # the person moves every joint through its travel, then says done
            s = next(sweep, None)
            if s is None:
                return True
            for i, span in travel.items():
                twin.set_actual(i, raw_centre[i] + max(-span, min(span, s)))
            return False

        cal = calibrate(bus, centred, swept, say=lambda line: None, poll_s=0.0)
        for i, joint in enumerate(JOINTS, start=1):
            twin.set_actual(i, raw_centre[i])
            assert bus.read(joint, "Present_Position") == CENTRE  # the centre reads 2047
            assert normalize(CENTRE, cal[joint], "degrees") == pytest.approx(0.0, abs=0.1) or joint == "wrist_roll"
        assert (cal["shoulder_lift"].range_min, cal["shoulder_lift"].range_max) == (CENTRE - 700, CENTRE + 700)
        assert (cal["wrist_roll"].range_min, cal["wrist_roll"].range_max) == (0, 4095)
        assert twin.servos[2].get("Max_Position_Limit") == CENTRE + 700
        path = write_calibration(tmp_path / "robots" / "so_follower" / "arm.json", cal)
        assert read_calibration(path) == cal

        with pytest.raises(CalibrationError, match="elbow_flex moved 0 steps during the sweep"):
            travel[3] = 0
            sweep = iter(range(-1000, 1001, 50))
            calibrate(bus, centred, swept, say=lambda line: None, poll_s=0.0)
