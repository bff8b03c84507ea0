"""``hilserl robot check``: what a person checks before training on the arm, one line per finding.

The serial ports this machine has; every motor pinged (model 777, an STS3215); the calibration file
read, each joint's range and where it is now (degrees from the middle of its range); each camera's
cropped frame saved as a PNG to look at; on request, each joint moved a little and back (torque on
only for that, never a jump).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from serial.tools import list_ports

from hilserl.config import EnvConfig
from hilserl.envs.so101.arm import JOINTS, ArmLimits, SO101Arm
from hilserl.envs.so101.bus import FeetechBus
from hilserl.envs.so101.calibration import calibration_file, normalize, read_calibration
from hilserl.envs.so101.cameras import open_camera

WIGGLE_RAD = 0.1
"""How far ``--move`` moves each joint, and back."""


def serial_ports() -> list[str]:
    return sorted(f"{p.device} ({p.description})" for p in list_ports.comports())


def robot_check(cfg: EnvConfig, out: Path, move: bool = False, period_s: float = 0.1) -> list[str]:
    robot = cfg.robot
    lines = [f"serial ports: {', '.join(serial_ports()) or 'none found'}"]
    path = calibration_file(robot)
    calibration = read_calibration(path)
    lines.append(f"calibration: {path}")
    with FeetechBus(robot.port) as bus:
        models = bus.check_models()
        lines.append(f"motors on {robot.port}: {', '.join(f'{j} (id {bus.motors[j]}) model {m}' for j, m in models.items())}")
        present = bus.sync_read("Present_Position", list(JOINTS))
        for joint in JOINTS:
            cal = calibration[joint]
            lines.append(f"  {joint:<13} range {cal.range_min}..{cal.range_max}, now {present[joint]} "
                         f"({normalize(present[joint], cal, 'degrees'):+.1f} deg from the middle)")
        if move:
            with SO101Arm(bus, calibration, limits=ArmLimits.of(robot)) as arm:
                arm.connect()
                arm.enable()
                start = arm.commanded.copy()
                for k, joint in enumerate(JOINTS):
                    there = start.copy()
                    there[k] += WIGGLE_RAD if start[k] + WIGGLE_RAD <= arm.high[k] else -WIGGLE_RAD
                    arm.move_to(there, period_s)
                    arm.move_to(start, period_s)
                    lines.append(f"  moved {joint} by {np.degrees(there[k] - start[k]):+.1f} deg and back")
    out.mkdir(parents=True, exist_ok=True)
    for cam in cfg.cameras:
        if not cam.source:
            lines.append(f"camera {cam.name}: no source set (env.cameras[..].source)")
            continue
        camera = open_camera(cam)
        try:
            png = out / f"camera_{cam.name}.png"
            Image.fromarray(camera.latest()).save(png)
            lines.append(f"camera {cam.name} ({cam.source}): {cam.size}x{cam.size} after the crop {cam.crop}, wrote {png}")
        finally:
            camera.close()
    return lines
