"""The intervention device a command names (``--teleop``): keyboard, gamepad, or the SO-101 leader arm."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym

from hilserl.config import SIM, EnvConfig
from hilserl.envs.actions import ACTION_DIMS
from hilserl.teleop.interface import InterventionSource

TELEOP_KINDS = ("keyboard", "gamepad", "leader")
TAKEOVER_KEY = "space"


class TeleopUnavailable(ValueError):
    """The device named cannot drive this env; the message says why."""


def make_intervention(kind: str, env: gym.Env, env_cfg: EnvConfig,
                      takeover: Callable[[], bool] | None = None) -> InterventionSource:
    """``takeover`` overrides how a leader arm's takeover is read (``env.robot.leader_takeover``)."""
    if kind in ("keyboard", "gamepad"):
        dims = int(env.action_space.shape[0])
        yaw = env_cfg.jaw_yaw_action and env_cfg.kind == SIM
        if dims != ACTION_DIMS + int(yaw):
            raise TeleopUnavailable(f"--teleop {kind} drives [dx, dy, dz, gripper] (and a jaw yaw with "
                                    f"env.jaw_yaw_action), {ACTION_DIMS + int(yaw)} values; this env's action has "
                                    f"{dims}: drive it with its own scripted expert or the simulated human")
        from hilserl.teleop.devices import make_device

        device = make_device(kind, yaw)
        if kind == "keyboard":
            _label_with(env, device.backend)
        return device
    if kind != "leader":
        raise TeleopUnavailable(f"--teleop {kind!r} is unknown; known: {', '.join(TELEOP_KINDS)}")
    base: Any = env.unwrapped
    if not (hasattr(base, "target") and hasattr(base, "ik")):
        raise TeleopUnavailable("the leader arm drives the real SO-101 (env.kind=so101), whose fingertip it follows")
    from hilserl.envs.so101.arm import ArmLimits, SO101Arm
    from hilserl.envs.so101.bus import FeetechBus
    from hilserl.envs.so101.calibration import calibration_file, read_calibration
    from hilserl.teleop.leader_arm import LeaderArm

    robot = env_cfg.robot
    if not robot.leader_port:
        raise TeleopUnavailable("--teleop leader needs env.robot.leader_port (the leader arm's bus)")
    calibration = read_calibration(calibration_file(robot, leader=True))
    leader = SO101Arm(FeetechBus(robot.leader_port), calibration, limits=ArmLimits.of(robot))
    leader.connect()  # torque off: the person moves it
    if takeover is None:
        if robot.leader_takeover == "always":
            def takeover() -> bool:
                return True
        else:
            from hilserl.teleop.devices import PynputKeys

            keys = PynputKeys()
            _label_with(env, keys)

            def takeover() -> bool:
                return TAKEOVER_KEY in keys.held()
    follow = (lambda: base.arm.commanded) if robot.leader_follows else None
    return LeaderArm(leader, base.ik, lambda: base.target, env_cfg.action_scale, takeover, follow=follow)


def _label_with(env: gym.Env, keys: Any) -> None:
    """On the real arm, the same keyboard labels episodes and holds the emergency stop."""
    base = env.unwrapped
    if hasattr(base, "labels"):
        from hilserl.teleop.robot_keys import KeyLabels

        base.labels = KeyLabels(keys)
