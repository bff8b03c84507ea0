"""On a real SO-101 only (skipped unless ``--port`` is given): the same checks as the twin's, on the arm.

    pytest -m hardware --port /dev/ttyACM0 --arm-id desk_arm

The arm must be calibrated (hilserl calibrate, or LeRobot) and free to move a few degrees.
"""

import numpy as np
import pytest

from hilserl.envs.so101.arm import JOINTS, SO101Arm
from hilserl.envs.so101.bus import FeetechBus
from hilserl.envs.so101.calibration import find_calibration, read_calibration

pytestmark = pytest.mark.hardware


@pytest.fixture
def arm(request):
    cal = read_calibration(find_calibration(request.config.getoption("--arm-id")))
    with FeetechBus(request.config.getoption("--port")) as bus, SO101Arm(bus, cal) as a:
        a.connect()
        yield a


def test_every_motor_is_an_sts3215_and_reads_inside_its_calibrated_range(arm):
    assert arm.bus.check_models() == dict.fromkeys(JOINTS, 777)
    q = arm.joints()
    assert np.all(q >= arm.low - 0.05) and np.all(q <= arm.high + 0.05)


def test_a_small_move_and_back_then_torque_off(arm):
    arm.enable()
    start = arm.commanded.copy()
    target = start.copy()
    target[0] += 0.1 if start[0] + 0.1 <= arm.high[0] else -0.1
    arm.move_to(target, period_s=0.1)
    assert abs(arm.joints()[0] - target[0]) < 0.05
    arm.move_to(start, period_s=0.1)
    arm.disable()
    assert all(arm.bus.read(j, "Torque_Enable") == 0 for j in JOINTS)
