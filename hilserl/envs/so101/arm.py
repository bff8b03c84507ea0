"""The SO-101 arm on its bus, with the safety every command goes through.

Joint angles are in the kinematic model's frame (radians), the same as the simulation's, so the
simulation's IK and reset carry over. A calibrated servo reads 2047 (``CENTRE``) at the middle of its
recorded range; the model's angle of a joint is then

    q = sign * (present - CENTRE) * 2 pi / 4096 + zero

with ``sign`` = -1 where the calibration's ``drive_mode`` is set (times the joint's own direction in
the model, ``JointMap.directions``) and ``zero`` the model's angle at the calibration's middle pose.
The gripper is a joint like the others.

Safety, in this order on every command: the target is clipped to the joint's calibrated range, then
moved at most ``max_step`` radians from the last command; before sending, the measured position must
be within ``jump_tolerance`` of the last command (a joint pushed, blocked or slipping stops the arm).
Any fault, exception or exit turns the torque off (:meth:`SO101Arm.__exit__`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from hilserl.config import RobotConfig
from hilserl.envs.so101.bus import MOTORS, BusError, FeetechBus
from hilserl.envs.so101.calibration import MotorCalibration
from hilserl.envs.so101.faults import RobotFault
from hilserl.envs.so101.protocol import STEPS_PER_TURN

CENTRE = STEPS_PER_TURN // 2 - 1
RAD_PER_STEP = 2 * math.pi / STEPS_PER_TURN
JOINTS = tuple(MOTORS)
"""shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper."""
SETUP = (("Return_Delay_Time", 0), ("Maximum_Acceleration", 254), ("Acceleration", 254), ("Operating_Mode", 0),
         ("P_Coefficient", 16), ("I_Coefficient", 0), ("D_Coefficient", 32))
"""Written to every motor on connect: answer at once, position mode, LeRobot's gains."""
GRIPPER_CAPS = (("Max_Torque_Limit", 500), ("Protection_Current", 250), ("Overload_Torque", 25))
"""The gripper squeezes a cube, never a finger at full torque."""


class SafetyStop(RobotFault):
    """The arm stopped itself (torque off): the message says which joint and why."""


@dataclass(frozen=True)
class JointMap:
    """Model angle <-> servo steps per joint (the module's docstring)."""

    directions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(JOINTS, 1))
    zeros: dict[str, float] = field(default_factory=lambda: dict.fromkeys(JOINTS, 0.0))

    def sign(self, joint: str, cal: MotorCalibration) -> int:
        return self.directions[joint] * (-1 if cal.drive_mode else 1)

    def to_radians(self, joint: str, steps: float, cal: MotorCalibration) -> float:
        return self.sign(joint, cal) * (steps - CENTRE) * RAD_PER_STEP + self.zeros[joint]

    def to_steps(self, joint: str, radians: float, cal: MotorCalibration) -> int:
        return int(round((radians - self.zeros[joint]) / (self.sign(joint, cal) * RAD_PER_STEP) + CENTRE))


@dataclass(frozen=True)
class ArmLimits:
    max_step: float = 0.25
    """Radians a joint may move per command (2.5 rad/s at 10 Hz): no jumps."""
    jump_tolerance: float = 0.5
    """Radians the measured position may lag the last command before the arm stops."""

    @classmethod
    def of(cls, robot: RobotConfig) -> "ArmLimits":
        return cls(robot.max_joint_step, robot.jump_tolerance)


class SO101Arm:
    def __init__(self, bus: FeetechBus, calibration: dict[str, MotorCalibration], joint_map: JointMap = JointMap(),
                 limits: ArmLimits = ArmLimits()):
        missing = [j for j in JOINTS if j not in calibration]
        if missing:
            raise SafetyStop(f"the calibration lacks {missing}: calibrate the arm first")
        self.bus, self.cal, self.map, self.limits = bus, calibration, joint_map, limits
        self.low = np.array([min(self._rad(j, calibration[j].range_min), self._rad(j, calibration[j].range_max))
                             for j in JOINTS])
        self.high = np.array([max(self._rad(j, calibration[j].range_min), self._rad(j, calibration[j].range_max))
                              for j in JOINTS])
        self.commanded: np.ndarray | None = None
        self.torque_on = False

    def _rad(self, joint: str, steps: float) -> float:
        return self.map.to_radians(joint, steps, self.cal[joint])

    # --------------------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Check every motor is an STS3215, write the set-up, homing offsets and limits, torque off."""
        self.bus.check_models()
        self.bus.sync_write("Torque_Enable", dict.fromkeys(JOINTS, 0))
        for joint in JOINTS:
            cal = self.cal[joint]
            for register, value in SETUP:
                self.bus.write(joint, register, value)
            self.bus.write(joint, "Homing_Offset", cal.homing_offset)
            self.bus.write(joint, "Min_Position_Limit", cal.range_min)
            self.bus.write(joint, "Max_Position_Limit", cal.range_max)
        for register, value in GRIPPER_CAPS:
            self.bus.write("gripper", register, value)

    def enable(self) -> None:
        """Hold the current pose, then torque on (never a move at switch-on), each motor checked: one
        that does not hold its joint leaves the arm off."""
        q = self.joints()
        self.bus.sync_write("Goal_Position", {j: self.map.to_steps(j, q[k], self.cal[j]) for k, j in enumerate(JOINTS)})
        self.bus.sync_write("Torque_Enable", dict.fromkeys(JOINTS, 1))
        try:
            for joint in JOINTS:  # a sync write is never answered: read each back
                if not self.bus.read(joint, "Torque_Enable"):
                    self.bus.write(joint, "Torque_Enable", 1)
        except BusError:
            self.disable()
            raise
        self.torque_on, self.commanded = True, q

    def disable(self) -> None:
        """Torque off: one sync write to all, then each motor checked and told again if it did not take
        it (a sync write is never answered); a motor that does not answer is skipped."""
        self.torque_on = False
        try:
            self.bus.sync_write("Torque_Enable", dict.fromkeys(JOINTS, 0))
        except OSError:
            pass
        for joint in JOINTS:
            try:
                if self.bus.read(joint, "Torque_Enable"):
                    self.bus.write(joint, "Torque_Enable", 0)
            except (BusError, OSError):
                pass

    def __enter__(self) -> "SO101Arm":
        return self

    def __exit__(self, *exc) -> None:
        self.disable()

    # ------------------------------------------------------------------------------ motion
    def joints(self) -> np.ndarray:
        """The measured joint angles (model frame, radians), shoulder_pan to gripper."""
        steps = self.bus.sync_read("Present_Position", list(JOINTS))
        return np.array([self._rad(j, steps[j]) for j in JOINTS])

    def command(self, target: np.ndarray) -> np.ndarray:
        """Send a joint target through the safety checks; returns what was sent. SafetyStop (torque
        off) when a joint is far from where it was told to be."""
        if not self.torque_on or self.commanded is None:
            raise SafetyStop("the arm is not enabled: call enable() first")
        try:
            measured = self.joints()
        except BusError:
            self.disable()
            raise
        lag = np.abs(measured - self.commanded)
        if (lag > self.limits.jump_tolerance).any():
            k = int(np.argmax(lag))
            self.disable()
            raise SafetyStop(f"{JOINTS[k]} is {lag[k]:.2f} rad from its last command (tolerance "
                             f"{self.limits.jump_tolerance} rad): pushed, blocked or slipping; torque off")
        clipped = np.clip(np.asarray(target, float), self.low, self.high)
        step = np.clip(clipped - self.commanded, -self.limits.max_step, self.limits.max_step)
        sent = self.commanded + step
        self.bus.sync_write("Goal_Position", {j: self.map.to_steps(j, sent[k], self.cal[j]) for k, j in enumerate(JOINTS)})
        self.commanded = sent
        return sent

    def move_to(self, target: np.ndarray, period_s: float, settle_steps: int = 3) -> None:
        """An interpolated path to ``target``: one command per ``period_s``, each within ``max_step``."""
        goal = np.clip(np.asarray(target, float), self.low, self.high)
        while self.commanded is None or np.abs(goal - self.commanded).max() > 1e-9:
            self.command(goal)
            time.sleep(period_s)
        for _ in range(settle_steps):
            self.command(goal)
            time.sleep(period_s)
