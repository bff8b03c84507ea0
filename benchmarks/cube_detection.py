"""The cube's pose from the front camera, measured on the digital twin (issue: the success map on the
real arm): the table calibrated as ``hilserl robot table`` does it (the fingertip on 14 points, clicked a
pixel or so off, ``--click-noise``), then the cube placed at ``--poses`` random poses over the
simulation's cube region and yaw range, and each detected pose compared with where it was put.

Usage: python -m benchmarks.cube_detection [--poses 120] [--click-noise 1.0] [--seed 0]
Writes benchmarks/results/cube_detection.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import hilserl  # noqa: F401  (MUJOCO_GL before mujoco)
from benchmarks.common import write_result
from hilserl.config import EnvConfig
from hilserl.envs.so101.arm import JOINTS
from hilserl.envs.so101.calibration import read_calibration
from hilserl.envs.so101.cameras import CameraSpec
from hilserl.envs.so101.cube_pose import RED_CUBE, CubeDetector, yaw_error
from hilserl.envs.so101.table_camera import calibration_targets
from hilserl.envs.so101.twin import ServoTwin
from hilserl.envs.so101.twin_camera import OUT_OF_THE_WAY, SimulatedPerson, TwinCamera

CALIBRATION = {j: {"id": i + 1, "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 4095}
               for i, j in enumerate(JOINTS)}


def summary(values: np.ndarray) -> dict:
    return {"mean": round(float(values.mean()), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "max": round(float(values.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poses", type=int, default=120)
    parser.add_argument("--click-noise", type=float, default=1.0, help="pixels, standard deviation (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env = EnvConfig()
    low, high = env.cube_region.low[:2], env.cube_region.high[:2]
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp, ServoTwin(physics=True) as twin:
        cal_file = Path(tmp) / "cal.json"
        cal_file.write_text(json.dumps(CALIBRATION))
        camera = TwinCamera(twin, CameraSpec("front", "twin"))
        person = SimulatedPerson(twin, camera, read_calibration(cal_file), env.cube_size, args.click_noise, args.seed)
        table = person.calibrate_table(calibration_targets(low, high, env.ee_bounds.low[2]))
        print(f"table: {table.points} points, {table.error_mm_rms:.2f} mm rms ({table.error_px_rms:.2f} px)")
        detector = CubeDetector(table, RED_CUBE, env.cube_size)
        person.hand(OUT_OF_THE_WAY)
        position_mm, yaw_deg, confidence, seconds, missed = [], [], [], [], 0
        for _ in tqdm(range(args.poses), desc="cube poses", unit="pose"):
            x, y = rng.uniform(low, high)
            yaw = rng.uniform(-env.cube_yaw_range, env.cube_yaw_range)
            person.place_cube(x, y, yaw)
            frame = camera.frame()
            start = time.perf_counter()
            pose = detector.detect(frame)
            seconds.append(time.perf_counter() - start)
            if pose is None:
                missed += 1
                continue
            position_mm.append(1000 * np.hypot(pose.x - x, pose.y - y))
            yaw_deg.append(np.degrees(yaw_error(pose.yaw, yaw)))
            confidence.append(pose.confidence)
        camera.close()
    position_mm, yaw_deg = np.array(position_mm), np.array(yaw_deg)
    figures = {"poses": args.poses, "detected": args.poses - missed, "click_noise_px": args.click_noise,
               "calibration": {"points": table.points, "error_mm_rms": round(table.error_mm_rms, 2),
                               "error_px_rms": round(table.error_px_rms, 2)},
               "position_error_mm": summary(position_mm), "yaw_error_deg": summary(yaw_deg),
               "confidence_min": round(float(np.min(confidence)), 3),
               "detect_ms_median": round(1000 * float(np.median(seconds)), 1),
               "within_1cm_and_10deg": int(np.sum((position_mm < 10) & (yaw_deg < 10)))}
    print(f"{figures['detected']}/{args.poses} found; position error mean {figures['position_error_mm']['mean']} mm, "
          f"max {figures['position_error_mm']['max']} mm; yaw error mean {figures['yaw_error_deg']['mean']} deg, "
          f"max {figures['yaw_error_deg']['max']} deg; {figures['within_1cm_and_10deg']} within 1 cm and 10 deg")
    write_result("cube_detection", figures)


if __name__ == "__main__":
    main()
