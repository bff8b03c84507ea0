"""The SO-101's servo bus, the real code over pyserial, against its digital twin on a pseudo-terminal;
LeRobot's calibration files and normalisation with golden values."""

import json

import pytest

from hilserl.envs.so101.bus import MOTORS, BusError, FeetechBus
from hilserl.envs.so101.calibration import (
    CalibrationError,
    MotorCalibration,
    find_calibration,
    normalize,
    read_calibration,
    unnormalize,
    write_calibration,
)
from hilserl.envs.so101.protocol import REGISTERS, ProtocolError, decode, encode, packet, parse_status
from hilserl.envs.so101.twin import ServoTwin


@pytest.fixture
def twin():
    with ServoTwin() as t:
        yield t


def test_packets_checksums_and_sign_magnitude():
    # LeRobot's documented example of a read of Present_Position (2 bytes at 56) from motor 1
    assert packet(1, 0x02, bytes([56, 2])).hex(" ") == "ff ff 01 04 02 38 02 be"
    status, rest = parse_status(bytes.fromhex("ff ff 01 04 00 00 08 f2") + b"\x99")
    assert (status.motor_id, status.error, decode(REGISTERS["Present_Position"], status.params), rest) == (1, 0, 2048, b"\x99")
    with pytest.raises(ProtocolError, match="checksum"):
        parse_status(bytes.fromhex("ff ff 01 04 00 00 08 f3"))
    homing = REGISTERS["Homing_Offset"]  # sign in bit 11
    assert encode(homing, -5) == (5 | 1 << 11).to_bytes(2, "little") and decode(homing, encode(homing, -5)) == -5
    with pytest.raises(ValueError, match="exceeds 2047"):  # LeRobot's wrist-roll calibration crash, as a message
        encode(homing, 2048)


def test_bus_reads_writes_and_sync_reads_the_twin(twin):
    with FeetechBus(twin.port) as bus:
        assert bus.check_models() == dict.fromkeys(MOTORS, 777)
        twin.set_actual(3, 3000)
        bus.write("elbow_flex", "Homing_Offset", 953)
        assert bus.read("elbow_flex", "Present_Position") == 2047  # Present = actual - Homing_Offset
        bus.write("wrist_roll", "Homing_Offset", -100)
        assert bus.read("wrist_roll", "Homing_Offset") == -100
        positions = bus.sync_read("Present_Position")
        assert positions["elbow_flex"] == 2047 and positions["wrist_roll"] == 2147 and len(positions) == 6
        bus.sync_write("Torque_Enable", dict.fromkeys(MOTORS, 1))
        bus.sync_write("Goal_Position", {"shoulder_pan": 2200, "gripper": 1500})
        for _ in range(200):
            got = bus.sync_read("Present_Position", ["shoulder_pan", "gripper"])
            if got == {"shoulder_pan": 2200, "gripper": 1500}:
                break
        assert got == {"shoulder_pan": 2200, "gripper": 1500}  # the twin moved to its goals, torque on


def test_corrupted_replies_are_asked_again_and_a_silent_motor_is_named(twin):
    with FeetechBus(twin.port, retries=3) as bus:
        twin.corrupt_replies = 2
        assert bus.read("gripper", "Present_Position") == 2047
        assert bus.stats.retries == 2
        twin.silent.add(4)
        with pytest.raises(BusError, match=r"reading Present_Position of wrist_flex: no valid answer from "
                                           r"wrist_flex \(id 4\) after 4 tries"):
            bus.read("wrist_flex", "Present_Position")
        with pytest.raises(BusError, match=r"sync-reading Present_Position: no valid answer from wrist_flex \(id 4\) "):
            bus.sync_read("Present_Position")
        assert bus.read("gripper", "Present_Position") == 2047  # the others still answer


def test_a_missing_port_is_named():
    with pytest.raises(BusError, match="cannot open the servo bus at /dev/nonexistent"):
        FeetechBus("/dev/nonexistent")


LEROBOT_FILE = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 157, "range_min": 100, "range_max": 3900},
    "elbow_flex": {"id": 3, "drive_mode": 1, "homing_offset": 1105, "range_min": 919, "range_max": 3177},
    "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": -2021, "range_min": 865, "range_max": 3210},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": -1444, "range_min": 0, "range_max": 4095},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": -1057, "range_min": 2023, "range_max": 3519},
}


def test_a_lerobot_calibration_file_is_found_read_and_normalised_as_lerobot_does(tmp_path, monkeypatch):
    path = tmp_path / "robots" / "so101_follower" / "my_arm.json"  # the older folder name
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(LEROBOT_FILE))
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path))
    assert find_calibration("my_arm") == path
    cal = read_calibration(path)
    # golden values by LeRobot's formulas, worked by hand
    assert normalize(2048, cal["shoulder_lift"], "range_m100_100") == pytest.approx(1948 / 3800 * 200 - 100)  # 2.526
    assert normalize(50, cal["shoulder_lift"], "range_m100_100") == pytest.approx(-100.0)  # clamped to the range
    assert normalize(2048, cal["elbow_flex"], "range_m100_100") == pytest.approx(-((1129 / 2258) * 200 - 100))
    assert normalize(2771, cal["gripper"], "range_0_100") == pytest.approx(748 / 1496 * 100)  # 50.0
    assert normalize(2048, cal["shoulder_lift"], "degrees") == pytest.approx((2048 - 2000) * 360 / 4095)  # 4.22
    for motor, mode in (("shoulder_lift", "range_m100_100"), ("elbow_flex", "range_m100_100"),
                        ("gripper", "range_0_100"), ("wrist_roll", "degrees")):
        for raw in (cal[motor].range_min + 7, 2048, cal[motor].range_max - 3):
            assert unnormalize(normalize(raw, cal[motor], mode), cal[motor], mode) == raw
    back = write_calibration(tmp_path / "copy.json", cal)
    assert json.loads(back.read_text()) == LEROBOT_FILE


def test_bad_calibration_files_are_named(tmp_path):
    with pytest.raises(CalibrationError, match="no calibration for arm 'nope'"):
        find_calibration("nope", root=tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"gripper": {"id": 6, "drive_mode": 0, "homing_offset": 0, "range_min": 3000,
                                           "range_max": 3000}}))
    with pytest.raises(CalibrationError, match="motor 'gripper' has range_min 3000 >= range_max 3000"):
        read_calibration(bad)
    bad.write_text(json.dumps({"gripper": {"id": 6}}))
    with pytest.raises(CalibrationError, match=r"lacks \['drive_mode'"):
        read_calibration(bad)
    assert MotorCalibration(1, 0, 0, 0, 4095).range_max == 4095
