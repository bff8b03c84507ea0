"""SO-101 calibration in LeRobot's file format, so that an arm calibrated with LeRobot is not calibrated
again, and the positions it gives, normalised as LeRobot normalises them.

A file is ``{motor: {"id", "drive_mode", "homing_offset", "range_min", "range_max"}}`` (JSON) under
``$HF_LEROBOT_CALIBRATION/robots/<robot>/<arm id>.json`` (leaders under ``teleoperators/``), the root
defaulting to ``~/.cache/huggingface/lerobot/calibration``; the robot folder is ``so_follower`` in
recent LeRobot and ``so101_follower`` in older releases: both are searched.

Normalisation of a raw ``Present_Position`` ``v`` with the motor's ``range_min``/``range_max``:

- ``range_m100_100`` (the arm's joints): ``(clamp(v) - min) / (max - min) * 200 - 100``, negated
  with ``drive_mode``;
- ``range_0_100`` (the gripper): ``(clamp(v) - min) / (max - min) * 100``, ``100 - x`` with
  ``drive_mode``;
- ``degrees``: ``(v - (min + max) / 2) * 360 / 4095``, neither clamped nor inverted: 0 degrees is
  the middle of the recorded range, not the kinematic model's zero.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from hilserl.config import RobotConfig
from hilserl.envs.so101.protocol import STEPS_PER_TURN

NormMode = Literal["range_m100_100", "range_0_100", "degrees"]
ROBOT_FOLDERS = ("so_follower", "so101_follower")
LEADER_FOLDERS = ("so_leader", "so101_leader")
MAX_RESOLUTION = STEPS_PER_TURN - 1
DEFAULT_ROOT = Path("~/.cache/huggingface/lerobot/calibration")
FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


class CalibrationError(ValueError):
    """A calibration file that is missing, malformed, or holds an unusable range; named."""


@dataclass(frozen=True)
class MotorCalibration:
    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


def calibration_root() -> Path:
    return Path(os.environ.get("HF_LEROBOT_CALIBRATION", str(DEFAULT_ROOT))).expanduser()


def find_calibration(arm_id: str, leader: bool = False, root: Path | None = None) -> Path:
    """The calibration file of arm ``arm_id``, in either robot folder; CalibrationError naming where it
    looked."""
    base = (root or calibration_root()) / ("teleoperators" if leader else "robots")
    tried = [base / folder / f"{arm_id}.json" for folder in (LEADER_FOLDERS if leader else ROBOT_FOLDERS)]
    for path in tried:
        if path.exists():
            return path
    raise CalibrationError(f"no calibration for arm {arm_id!r}: looked at {', '.join(str(p) for p in tried)} "
                           "(calibrate with `hilserl calibrate`, or with LeRobot; HF_LEROBOT_CALIBRATION sets the root)")


def calibration_file(robot: RobotConfig, leader: bool = False) -> Path:
    """The file ``env.robot`` names for the follower (or the leader): given, or found by the arm's id."""
    given, arm_id = (robot.leader_calibration, robot.leader_arm_id) if leader else (robot.calibration, robot.arm_id)
    return Path(given) if given else find_calibration(arm_id, leader=leader)


def read_calibration(path: Path) -> dict[str, MotorCalibration]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot be read as JSON ({exc})") from None
    out = {}
    for motor, fields in data.items():
        missing = [f for f in FIELDS if f not in fields]
        if missing:
            raise CalibrationError(f"{path}: motor {motor!r} lacks {missing}")
        cal = MotorCalibration(**{f: int(fields[f]) for f in FIELDS})
        if cal.range_max <= cal.range_min:
            raise CalibrationError(f"{path}: motor {motor!r} has range_min {cal.range_min} >= range_max "
                                   f"{cal.range_max}: calibrate it again, sweeping the joint through its range")
        out[motor] = cal
    return out


def write_calibration(path: Path, calibration: dict[str, MotorCalibration]) -> Path:
    """In LeRobot's layout, written by a rename (a reader sees the whole file or the previous one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({m: asdict(c) for m, c in calibration.items()}, indent=4) + "\n")
    os.replace(tmp, path)
    return path


def normalize(value: int, cal: MotorCalibration, mode: NormMode) -> float:
    """A raw position in LeRobot's normalised units (the module's docstring)."""
    lo, hi = cal.range_min, cal.range_max
    if mode == "degrees":
        return (value - (lo + hi) / 2) * 360 / MAX_RESOLUTION
    bounded = min(hi, max(lo, value))
    if mode == "range_m100_100":
        norm = (bounded - lo) / (hi - lo) * 200 - 100
        return -norm if cal.drive_mode else norm
    norm = (bounded - lo) / (hi - lo) * 100
    return 100 - norm if cal.drive_mode else norm


def unnormalize(norm: float, cal: MotorCalibration, mode: NormMode) -> int:
    """The raw position of a normalised one (clamped to the range for the range modes)."""
    lo, hi = cal.range_min, cal.range_max
    if mode == "degrees":
        return int(round(norm * MAX_RESOLUTION / 360 + (lo + hi) / 2))
    if mode == "range_m100_100":
        norm = -norm if cal.drive_mode else norm
        return int(round((min(100.0, max(-100.0, norm)) + 100) / 200 * (hi - lo) + lo))
    norm = 100 - norm if cal.drive_mode else norm
    return int(round(min(100.0, max(0.0, norm)) / 100 * (hi - lo) + lo))
