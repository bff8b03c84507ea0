"""Where the cube is on the table, from one front-camera frame: its centre in the arm's base frame (metres)
and its yaw modulo 90 degrees, with a confidence.

The cube's colour picks its pixels (HSV ranges, chosen from a click on the cube or configured); the
largest blob of them is the cube. A cube seen from the front shows its top and two sides, so the blob is
not the cube's footprint: the pose is the one whose projected box (through the fitted
:class:`~hilserl.envs.so101.table_camera.TableCamera`) best covers the blob, searched coarse to fine from
the blob's centre. The confidence is that overlap (intersection over union): a hand, the gripper or a
second cube in front of it lowers it. The same code reads the twin's rendered camera and the real one.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from hilserl.envs.so101.table_camera import TableCamera

MIN_PIXELS = 30
"""A blob smaller than this is not taken for the cube (noise, or a cube too far for this camera)."""
SEARCH = ((0.008, 0.002, np.radians(5.0)), (0.002, 0.0005, np.radians(1.0)))
"""Coarse then fine: (half-width of the x and y search, its step, the yaw step); the coarse pass
searches every yaw over 90 degrees, the fine one +-5 steps around the coarse best."""
YAW_PERIOD = np.pi / 2


@dataclass
class CubeColour:
    """HSV ranges (OpenCV's: hue 0-179) of the cube's pixels; a hue range whose low is above its high
    wraps through 0 (red)."""

    hue: tuple[int, int]
    saturation: tuple[int, int]
    value: tuple[int, int]

    def mask(self, bgr: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        (h0, h1), (s0, s1), (v0, v1) = self.hue, self.saturation, self.value
        if h0 <= h1:
            return cv2.inRange(hsv, (h0, s0, v0), (h1, s1, v1)) > 0
        return (cv2.inRange(hsv, (h0, s0, v0), (179, s1, v1)) | cv2.inRange(hsv, (0, s0, v0), (h1, s1, v1))) > 0

    @classmethod
    def from_click(cls, bgr: np.ndarray, pixel: tuple[int, int], hue_tolerance: int = 12,
                   saturation_floor: int = 90, value_floor: int = 50) -> CubeColour:
        """The colour around a clicked pixel of the cube (a 5x5 patch's median hue), with room for the
        shading of its faces; refused if the patch is too grey to tell from the table."""
        u, v = pixel
        patch = cv2.cvtColor(bgr[max(0, v - 2):v + 3, max(0, u - 2):u + 3], cv2.COLOR_BGR2HSV).reshape(-1, 3)
        hue, saturation = int(np.median(patch[:, 0])), int(np.median(patch[:, 1]))
        if saturation < saturation_floor:
            raise ValueError(f"the clicked pixel's colour is too grey (saturation {saturation} of 255) to pick the "
                             "cube out of the table: use a brightly coloured cube")
        return cls(((hue - hue_tolerance) % 180, (hue + hue_tolerance) % 180), (saturation_floor, 255),
                   (value_floor, 255))

    def save(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> CubeColour:
        data = json.loads(Path(path).read_text())
        return cls(tuple(data["hue"]), tuple(data["saturation"]), tuple(data["value"]))


RED_CUBE = CubeColour(hue=(170, 10), saturation=(120, 255), value=(40, 255))
"""The simulation's cube (and a red one on the real table)."""


@dataclass
class CubePose:
    x: float
    y: float
    yaw: float
    """Radians in [-45, 45) degrees: a cube looks the same turned by 90."""
    confidence: float
    """The fitted box's overlap with the cube's pixels (intersection over union, 0 to 1)."""
    pixel: tuple[float, float]
    """The blob's centre in the image."""


def cube_corners(x: float, y: float, yaw: float, size: float, table_z: float = 0.0) -> np.ndarray:
    """The 8 corners of a cube of edge ``size`` resting on the table at (x, y), turned by ``yaw``."""
    c, s, h = np.cos(yaw), np.sin(yaw), size / 2
    local = np.array(list(itertools.product((-h, h), (-h, h))))
    xy = local @ np.array([[c, s], [-s, c]]) + (x, y)
    return np.array([(px, py, table_z + z) for z in (0.0, size) for px, py in xy])


def wrap_yaw(yaw: float) -> float:
    """Into [-45, 45) degrees."""
    return float((yaw + YAW_PERIOD / 2) % YAW_PERIOD - YAW_PERIOD / 2)


def yaw_error(a: float, b: float) -> float:
    """The angle between two cube yaws, modulo 90 degrees (radians, 0 to 45 degrees)."""
    return abs(wrap_yaw(a - b))


class CubeDetector:
    def __init__(self, camera: TableCamera, colour: CubeColour, cube_size: float, table_z: float = 0.0):
        self.camera, self.colour, self.cube_size, self.table_z = camera, colour, cube_size, table_z

    def blob(self, bgr: np.ndarray) -> np.ndarray | None:
        """The cube's pixels: the largest connected blob of its colour, or None."""
        mask = self.colour.mask(bgr).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        if count < 2:
            return None
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[best, cv2.CC_STAT_AREA] < MIN_PIXELS:
            return None
        return labels == best

    def detect(self, bgr: np.ndarray) -> CubePose | None:
        """The cube's pose in ``bgr`` (a full front-camera frame, at the size the camera was fitted at)."""
        if bgr.shape[:2] != (self.camera.height, self.camera.width):
            raise ValueError(f"a {bgr.shape[1]}x{bgr.shape[0]} frame, but the table calibration was made at "
                             f"{self.camera.width}x{self.camera.height}: the same camera settings are needed")
        blob = self.blob(bgr)
        if blob is None:
            return None
        rows, cols = np.nonzero(blob)
        centre = (float(cols.mean()), float(rows.mean()))
        x, y = self.camera.to_plane(centre, self.table_z + self.cube_size / 2)[0]
        pad = 20
        r0, c0 = max(0, rows.min() - pad), max(0, cols.min() - pad)
        window = blob[r0:rows.max() + pad + 1, c0:cols.max() + pad + 1]
        yaws = np.arange(-YAW_PERIOD / 2, YAW_PERIOD / 2, SEARCH[0][2])
        best = (-1.0, x, y, 0.0)
        for reach, step, yaw_step in SEARCH:
            _, bx, by, byaw = best
            if best[0] >= 0:
                yaws = byaw + np.arange(-5, 6) * yaw_step
            offsets = np.arange(-reach, reach + step / 2, step)
            for yaw in yaws:
                for dx in offsets:
                    for dy in offsets:
                        score = self._overlap(window, (r0, c0), bx + dx, by + dy, yaw)
                        if score > best[0]:
                            best = (score, bx + dx, by + dy, yaw)
        score, x, y, yaw = best
        return CubePose(float(x), float(y), wrap_yaw(yaw), float(score), centre)

    def _overlap(self, window: np.ndarray, origin: tuple[int, int], x: float, y: float, yaw: float) -> float:
        pixels = self.camera.project(cube_corners(x, y, yaw, self.cube_size, self.table_z))
        hull = cv2.convexHull((pixels - (origin[1], origin[0])).astype(np.float32)).astype(np.int32)
        box = np.zeros(window.shape, np.uint8)
        cv2.fillConvexPoly(box, hull, 1)
        box = box.astype(bool)
        union = np.count_nonzero(box | window)
        return np.count_nonzero(box & window) / union if union else 0.0
