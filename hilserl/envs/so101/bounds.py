"""``hilserl robot bounds``: the end-effector box recorded by moving the arm by hand.

With the torque off, the person moves the fingertip through the space the task needs; the box
around every position reached (from the joints, through the same kinematic model as the
simulation) becomes ``env.ee_bounds``. A box narrower than ``MIN_WIDTH_M`` on any axis is refused:
an arm that could not move there (LeRobot's near-zero-width bounds, #1387, #1819) would only jitter.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from hilserl.envs.so101.arm import SO101Arm
from hilserl.envs.so101_model import kinematics

MIN_WIDTH_M = 0.02
POLL_S = 0.05


class DegenerateBounds(ValueError):
    """The recorded box is too narrow on an axis; the message names it."""


def record_bounds(arm: SO101Arm, done: Callable[[], bool], poll_s: float = POLL_S,
                  say: Callable[[str], None] = print) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(low, high) corners of the fingertip's positions until ``done()``; the torque stays off."""
    ik = kinematics()
    arm.disable()
    say("torque off: move the fingertip through the whole space the task needs, then confirm")
    points = []
    while True:
        points.append(ik.fingertip(arm.joints()[:5])[0])
        if done():
            break
        time.sleep(poll_s)
    pts = np.array(points)
    low, high = pts.min(0), pts.max(0)
    narrow = [f"{axis} {high[k] - low[k] :.3f} m" for k, axis in enumerate("xyz") if high[k] - low[k] < MIN_WIDTH_M]
    if narrow:
        raise DegenerateBounds(f"the recorded box is too narrow ({', '.join(narrow)}; at least {MIN_WIDTH_M} m "
                               "needed on every axis): move the arm through more of the space and record again")
    return tuple(round(float(v), 4) for v in low), tuple(round(float(v), 4) for v in high)
