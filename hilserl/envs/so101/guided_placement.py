"""Guided cube placement at the real arm's resets: hilserl draws where the cube goes (a cell of the
evaluation grid, or uniformly over the cube region), shows it as an outline on the front camera's live
image beside the cube it detects, and the episode starts once the person has put the cube there (within
a tolerance) and confirmed. The detected pose, not the drawn one, is what the episode records
(``cube_start``, ``cube_start_yaw``, ``region``): the success map is drawn from where the cube was.

Drawing the poses, rather than letting a person choose, keeps the places a person likes from shaping
what the policy learns and what its evaluation covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from hilserl.envs.so101.cube_pose import CubeDetector, CubePose, cube_corners, yaw_error

TARGET_BGR, FOUND_BGR = (0, 200, 0), (255, 120, 0)


@dataclass(frozen=True)
class Tolerance:
    position_m: float = 0.01
    yaw_deg: float = 10.0

    def holds(self, pose: CubePose, target: tuple[float, float, float]) -> bool:
        return (np.hypot(pose.x - target[0], pose.y - target[1]) <= self.position_m
                and np.degrees(yaw_error(pose.yaw, target[2])) <= self.yaw_deg)


class PlacementPerson(Protocol):
    """Who puts the cube: shown each overlay, says when they confirm (the real one: a window and a key)."""

    def confirm(self, overlay: np.ndarray, target: tuple[float, float, float], found: CubePose | None,
                within: bool) -> bool:
        """Show ``overlay``; True once the person confirms (only heeded when ``within``)."""


def overlay(frame: np.ndarray, detector: CubeDetector, target: tuple[float, float, float],
            found: CubePose | None, within: bool) -> np.ndarray:
    """The frame with the target's outline (green), the detected cube's (orange) and a line of text."""
    shown = frame.copy()
    camera, size = detector.camera, detector.cube_size
    for pose, colour in ((target, TARGET_BGR), (None if found is None else (found.x, found.y, found.yaw), FOUND_BGR)):
        if pose is None:
            continue
        pixels = camera.project(cube_corners(*pose, size, detector.table_z)).astype(np.int32)
        cv2.polylines(shown, [cv2.convexHull(pixels)], True, colour, 2)
    if found is None:
        text = "no cube found: put it on the green outline"
    else:
        dist = 1000 * np.hypot(found.x - target[0], found.y - target[1])
        text = (f"{dist:.0f} mm and {np.degrees(yaw_error(found.yaw, target[2])):.0f} deg off"
                + (": Enter starts the episode" if within else ": move it onto the green outline"))
    cv2.putText(shown, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return shown


class GuidedPlacement:
    def __init__(self, frame: Callable[[], np.ndarray], detector: CubeDetector, person: PlacementPerson,
                 tolerance: Tolerance = Tolerance()):
        self.frame, self.detector, self.person, self.tolerance = frame, detector, person, tolerance

    def close(self) -> None:
        close = getattr(self.person, "close", None)
        if close is not None:
            close()

    def place(self, target: tuple[float, float, float]) -> CubePose:
        """Until the person confirms a cube within tolerance of ``target``; returns it as detected."""
        while True:
            image = self.frame()
            found = self.detector.detect(image)
            within = found is not None and self.tolerance.holds(found, target)
            if self.person.confirm(overlay(image, self.detector, target, found, within), target, found, within) \
                    and within:
                return found


class WindowPerson:
    """The person at the arm: the overlay in an OpenCV window; Enter confirms, Esc stops (the arm's
    torque goes off as on any stop)."""

    def __init__(self, title: str = "hilserl: put the cube on the green outline"):
        import os

        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ValueError("guided placement shows the front camera with the cube's place on it: it needs a display")
        self.title = title

    def confirm(self, overlay: np.ndarray, target, found, within) -> bool:
        cv2.imshow(self.title, overlay)
        key = cv2.waitKey(50) & 0xFF
        if key == 27:
            raise KeyboardInterrupt("stopped at the person's Esc")
        return key in (13, 32)

    def close(self) -> None:
        cv2.destroyWindow(self.title)
