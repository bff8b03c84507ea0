"""``hilserl robot table``: the table calibration, with the arm as the measuring tool.

With the torque off, the person moves the fingertip (the point between the jaw tips) to each suggested
point in turn, on the table and raised above it; at each, the arm's joints give the fingertip's position
through the SO-101 model's kinematics, and a click on the front camera's frame gives its pixel. A camera
model is fitted (``table_camera``), its error reported in millimetres, and saved beside the arm's
calibration. Then the cube's colour is taken from a click on the cube, and its detected pose shown.

The person's part comes in as two functions, so that the same procedure runs against the digital twin:
``placed`` (the fingertip is at a target: a prompt on the arm, a hand on the twin) and ``click`` (the
fingertip's pixel in a frame, or None to skip the point).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hilserl.envs.so101.arm import SO101Arm
from hilserl.envs.so101.cube_pose import CubeColour, CubeDetector, CubePose
from hilserl.envs.so101.table_camera import TableCamera, check_spread, fit_table_camera
from hilserl.envs.so101_model import kinematics

Placed = Callable[[np.ndarray, int, int], None]
"""Called with the target (x, y, z in metres), its number and the count; returns once the fingertip is there."""
Click = Callable[..., "tuple[float, float] | None"]
"""Called with a BGR frame, the pixel the model fitted so far expects (None before it has one) and a
prompt (``FINGERTIP`` or ``CUBE``); returns the pixel clicked, or None to skip."""
FINGERTIP = "click the fingertip (the point between the jaw tips), then Enter; s skips, Esc stops"
CUBE = "click the cube's top, then Enter"
PUT_CUBE = "put the cube on the table, in the camera's view, and move the arm out of the way; then press Enter "


def measure_points(arm: SO101Arm, frame: Callable[[], np.ndarray], targets: np.ndarray, placed: Placed,
                   click: Click, say: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Each target's measured fingertip (N x 3) and clicked pixel (N x 2), and the frames' size."""
    ik = kinematics()
    xyz, pixels, size = [], [], (0, 0)
    for i, target in enumerate(targets):
        placed(np.asarray(target, float), i, len(targets))
        tip = ik.fingertip(arm.joints()[:5])[0]
        image = frame()
        size = (image.shape[1], image.shape[0])
        hint = None
        if len(xyz) >= 6:
            try:
                hint = fit_table_camera(np.array(xyz), np.array(pixels), *size).project(tip)[0]
            except ValueError:
                pass  # not spread enough yet to predict
        pixel = click(image, hint, FINGERTIP)
        if pixel is None:
            say(f"point {i + 1}/{len(targets)}: skipped")
            continue
        xyz.append(tip)
        pixels.append(np.asarray(pixel, float))
        say(f"point {i + 1}/{len(targets)}: fingertip at ({tip[0] * 1000:.0f}, {tip[1] * 1000:.0f}, "
            f"{tip[2] * 1000:.0f}) mm, pixel ({pixel[0]:.0f}, {pixel[1]:.0f})")
    return np.array(xyz).reshape(-1, 3), np.array(pixels).reshape(-1, 2), size


def calibrate_table(arm: SO101Arm, frame: Callable[[], np.ndarray], targets: np.ndarray, placed: Placed,
                    click: Click, say: Callable[[str], None] = print) -> TableCamera:
    """Measure the points, then fit the front camera's model to them."""
    xyz, pixels, size = measure_points(arm, frame, targets, placed, click, say)
    check_spread(xyz)
    camera = fit_table_camera(xyz, pixels, *size)
    say(f"fitted to {camera.points} points: {camera.error_mm_rms:.1f} mm rms, {camera.error_mm_max:.1f} mm at worst "
        f"({camera.error_px_rms:.1f} px rms)")
    return camera


class WindowClicker:
    """The person's clicks in an OpenCV window: a left click marks the pixel (the expected one is drawn in
    green once there is a model), Enter or space accepts it, ``s`` skips the point, Esc stops."""

    def __init__(self, title: str = "hilserl robot table"):
        import os

        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ValueError("robot table shows the front camera to click on: it needs a display (run it on the "
                             "computer at the arm, or with ssh -X)")
        self.title = title

    def __call__(self, frame: np.ndarray, hint: np.ndarray | None, prompt: str = FINGERTIP) -> tuple[float, float] | None:
        import cv2

        marked: list[tuple[int, int]] = []
        cv2.namedWindow(self.title)
        cv2.setMouseCallback(self.title, lambda event, u, v, *_: marked.append((u, v))
                             if event == cv2.EVENT_LBUTTONDOWN else None)
        print(prompt, flush=True)
        while True:
            shown = frame.copy()
            if hint is not None:
                cv2.circle(shown, (int(hint[0]), int(hint[1])), 6, (0, 200, 0), 1)
            if marked:
                cv2.drawMarker(shown, marked[-1], (0, 0, 255), cv2.MARKER_CROSS, 16, 1)
            cv2.imshow(self.title, shown)
            key = cv2.waitKey(30) & 0xFF
            if key in (13, 32) and marked:
                return float(marked[-1][0]), float(marked[-1][1])
            if key == ord("s"):
                return None
            if key == 27:
                cv2.destroyWindow(self.title)
                raise KeyboardInterrupt("stopped at the person's Esc")

    def close(self) -> None:
        import cv2

        cv2.destroyAllWindows()


def prompt_placed(target: np.ndarray, i: int, n: int) -> None:
    """Ask the person to put the fingertip at ``target`` and wait for Enter."""
    x, y, z = (target * 1000).round()
    input(f"point {i + 1}/{n}: move the fingertip to about x {x:.0f}, y {y:.0f} mm, {z:.0f} mm above the table "
          "(the exact place matters less than holding it still), then press Enter ")


def cube_colour(frame: Callable[[], np.ndarray], camera: TableCamera, click: Click, cube_size: float,
                put_cube: Callable[[], None], say: Callable[[str], None] = print) -> tuple[CubeColour, CubePose]:
    """The cube's colour from a click on it (once ``put_cube`` returns: the person has put it in view),
    checked by detecting the cube with it."""
    put_cube()
    image = frame()
    pixel = click(image, None, CUBE)
    if pixel is None:
        raise ValueError("no click on the cube: its colour is needed to find it (run again, or configure it)")
    colour = CubeColour.from_click(image, (int(round(pixel[0])), int(round(pixel[1]))))
    pose = CubeDetector(camera, colour, cube_size).detect(frame())
    if pose is None:
        raise ValueError("the cube's colour picks no blob out of the frame: is the cube in view and lit?")
    say(f"cube found at ({pose.x * 1000:.0f}, {pose.y * 1000:.0f}) mm, turned {np.degrees(pose.yaw):+.0f} deg, "
        f"confidence {pose.confidence:.2f}")
    return colour, pose
