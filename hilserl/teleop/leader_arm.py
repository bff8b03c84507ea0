"""The SO-101 leader arm as an intervention device.

The person holds the leader (torque off) and takes over with a key or a pedal (``takeover``). While
they hold it, the action is where the leader's fingertip is minus where the follower is told to be,
in the follower's action units (``action_scale`` metres per unit), clipped to [-1, 1]: the follower
then moves towards the leader at most one full step per control period, never a jump. The leader's
gripper is quantised to close / stay / open by two thresholds with a dead band between them, so a
hand that rests on it does not chatter. Both arms share the kinematic model of the simulation.

With ``follow`` (the follower's joint angles), the leader follows the follower while nobody takes
over (its torque on, its own safety limits applied), so the person's hand finds it where the
follower is; taking over turns its torque off at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hilserl.envs.actions import make_action
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY
from hilserl.envs.ik import TopDownIK
from hilserl.envs.so101.arm import SO101Arm
from hilserl.teleop.interface import NO_INTERVENTION, Intervention


@dataclass(frozen=True)
class LeaderGripper:
    close_below: float = 0.2
    """Leader gripper angle (rad) under which the follower closes."""
    open_above: float = 0.5
    """Leader gripper angle (rad) over which the follower opens; between the two: stay."""


class LeaderArm:
    def __init__(self, leader: SO101Arm, kinematics: TopDownIK, follower_target: Callable[[], np.ndarray],
                 action_scale: float, takeover: Callable[[], bool], gripper: LeaderGripper = LeaderGripper(),
                 follow: Callable[[], np.ndarray] | None = None):
        """``follower_target``: the follower's commanded fingertip (``SO101Env.target``); ``takeover``:
        whether the person holds the takeover key or pedal now; ``follow``: the follower's joint
        angles, for the leader to follow meanwhile (None: the leader stays limp)."""
        self.leader, self.ik, self.follower_target = leader, kinematics, follower_target
        self.action_scale, self.takeover, self.gripper, self.follow = action_scale, takeover, gripper, follow

    def reset(self, episode: int) -> None:
        pass

    def action(self) -> np.ndarray:
        """The action that moves the follower towards the leader."""
        q = self.leader.joints()
        tip, _ = self.ik.fingertip(q[:5])
        arm = np.clip((tip - self.follower_target()) / self.action_scale, -1.0, 1.0)
        g = self.gripper
        cls = GRIPPER_CLOSE if q[5] < g.close_below else GRIPPER_OPEN if q[5] > g.open_above else GRIPPER_STAY
        return make_action(arm, cls)

    def step(self, policy_action: np.ndarray) -> Intervention:
        if self.takeover():
            if self.leader.torque_on:
                self.leader.disable()  # the hand moves it now
            return Intervention(self.action())
        if self.follow is not None:
            if not self.leader.torque_on:
                self.leader.enable()
            self.leader.command(self.follow())
        return NO_INTERVENTION
