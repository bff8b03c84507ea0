"""Calibrating an SO-101 the way LeRobot does, so that either tool's file serves both.

With the torque off: the person centres every joint (the middle of its travel) and the homing offset
is set so that the servo reads 2047 there (``Present = Actual - Homing_Offset``); then the person
sweeps every joint through its whole travel and the least and greatest positions become
``range_min`` and ``range_max``. The wrist roll turns all the way round: its range is the whole turn,
0 to 4095, not swept.

The homing offset is stored in 11 bits and a sign: an offset whose magnitude would pass 2047 (a
joint centred near the encoder's wrap, LeRobot's "Magnitude exceeds 2047" crash on the wrist roll)
is wrapped by a whole turn into range instead, which names the same position.
"""

from __future__ import annotations

import time
from typing import Callable

from hilserl.envs.so101.arm import CENTRE, JOINTS
from hilserl.envs.so101.bus import FeetechBus
from hilserl.envs.so101.calibration import CalibrationError, MotorCalibration
from hilserl.envs.so101.protocol import STEPS_PER_TURN

FULL_TURN_JOINTS = ("wrist_roll",)
MAX_OFFSET = 2047
SWEEP_POLL_S = 0.02
MIN_SWEEP_STEPS = 100
"""A joint swept less than this (about 9 degrees) was not swept: the calibration is refused."""


def homing_offset(raw: int) -> int:
    """The offset that makes ``raw`` read as the centre, wrapped into what the register holds."""
    offset = raw - CENTRE
    if offset > MAX_OFFSET:
        offset -= STEPS_PER_TURN
    elif offset < -MAX_OFFSET:
        offset += STEPS_PER_TURN
    return max(-MAX_OFFSET, min(MAX_OFFSET, offset))


def calibrate(bus: FeetechBus, centred: Callable[[], None], swept: Callable[[], bool],
              say: Callable[[str], None] = print, poll_s: float = SWEEP_POLL_S) -> dict[str, MotorCalibration]:
    """Run the procedure: ``centred()`` returns once the person has centred the arm; ``swept()`` says,
    polled while they sweep, whether they are done. Writes the offsets and limits to the motors."""
    bus.sync_write("Torque_Enable", dict.fromkeys(JOINTS, 0))
    for joint in JOINTS:
        bus.write(joint, "Homing_Offset", 0)
        bus.write(joint, "Min_Position_Limit", 0)
        bus.write(joint, "Max_Position_Limit", STEPS_PER_TURN - 1)
    say("torque off: move every joint to the middle of its travel, then confirm")
    centred()
    raw = bus.sync_read("Present_Position", list(JOINTS))
    offsets = {j: homing_offset(raw[j]) for j in JOINTS}
    for joint, offset in offsets.items():
        bus.write(joint, "Homing_Offset", offset)
    say("now move every joint but the wrist roll through its whole travel, then confirm")
    low = dict.fromkeys(JOINTS, STEPS_PER_TURN)
    high = dict.fromkeys(JOINTS, -1)
    while True:
        now = bus.sync_read("Present_Position", list(JOINTS))
        for joint, value in now.items():
            low[joint], high[joint] = min(low[joint], value), max(high[joint], value)
        if swept():
            break
        time.sleep(poll_s)
    calibration = {}
    for motor_id, joint in enumerate(JOINTS, start=1):
        lo, hi = (0, STEPS_PER_TURN - 1) if joint in FULL_TURN_JOINTS else (low[joint], high[joint])
        if lo < 0 or hi >= STEPS_PER_TURN:
            raise CalibrationError(f"{joint} read {lo}..{hi} during the sweep, past the encoder's turn: centre it "
                                   "better (the middle of its travel) and calibrate again")
        if hi - lo < MIN_SWEEP_STEPS:
            raise CalibrationError(f"{joint} moved {hi - lo} steps during the sweep (under {MIN_SWEEP_STEPS}): "
                                   "sweep every joint through its whole travel and calibrate again")
        calibration[joint] = MotorCalibration(motor_id, 0, offsets[joint], lo, hi)
        bus.write(joint, "Min_Position_Limit", lo)
        bus.write(joint, "Max_Position_Limit", hi)
    return calibration
