"""USB cameras through OpenCV: one background reader per camera keeping the latest frame, the user's
crop, then a resize to the agent's size. A live camera whose newest frame is older than ``max_age_s``
(it stopped, or its cable did) raises :class:`CameraError` naming it, which ends the episode safely. A
file source (the digital twin, replays) has stopped when its reader reached the file's end: its frames'
age on a busy machine says nothing about the file.

A source is a device index (``"0"``), a device path (``/dev/video2``) or, for the digital twin and
replays, a video file or an image sequence (``frames/%04d.png``), read at its own frame rate.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from hilserl.envs.so101.faults import RobotFault

FIRST_FRAME_TIMEOUT_S = 5.0
MAX_AGE_S = 0.5
"""A frame older than this (5 control periods at 10 Hz) means the camera has stopped."""


class CameraError(RobotFault):
    """A camera that cannot be opened, or whose frames stopped; the message names it."""


@dataclass(frozen=True)
class CameraSpec:
    name: str
    source: str
    size: int = 128
    crop: tuple[int, int, int, int] | None = None
    """(row0, row1, col0, col1) of the camera's frame, before the resize (e.g. [0:480, 80:560])."""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    loop: bool = False
    """For a file source: start again at its end (a live camera never ends)."""

    @classmethod
    def of(cls, cam) -> CameraSpec:
        """From the config's ``env.cameras`` entry (a ``CameraConfig``)."""
        return cls(cam.name, cam.source, cam.size, cam.crop, cam.capture_width or None, cam.capture_height or None,
                   cam.capture_fps or None, cam.loop)


class Camera:
    def __init__(self, spec: CameraSpec, max_age_s: float = MAX_AGE_S):
        self.spec, self.max_age_s = spec, max_age_s
        source: int | str = int(spec.source) if spec.source.isdigit() else spec.source
        self._file = not isinstance(source, int) and not str(source).startswith("/dev/")
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            raise CameraError(f"camera {spec.name!r}: cannot open {spec.source!r}")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, spec.width), (cv2.CAP_PROP_FRAME_HEIGHT, spec.height),
                            (cv2.CAP_PROP_FPS, spec.fps)):
            if value and not self._file:
                self._capture.set(prop, value)
        file_fps = self._capture.get(cv2.CAP_PROP_FPS) if self._file else 0.0
        self._period = 1.0 / (spec.fps or file_fps or 30.0) if self._file else 0.0
        self._frame: np.ndarray | None = None
        self._stamp = 0.0
        self.frames_read = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
        while self._frame is None:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.close()
                raise CameraError(f"camera {spec.name!r}: no frame from {spec.source!r} within {FIRST_FRAME_TIMEOUT_S} s")
            time.sleep(0.005)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            ok, frame = self._capture.read()
            if not ok:
                if self._file and self.spec.loop:
                    self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                return  # the camera stopped: the frame ages until latest() says so
            with self._lock:
                self._frame, self._stamp = frame, time.monotonic()
                self.frames_read += 1
            if self._period:
                self._stop.wait(self._period)

    def latest(self) -> np.ndarray:
        """The newest frame, cropped and resized to ``size`` (uint8 RGB)."""
        return prepare(self.frame(), self.spec)

    def frame(self) -> np.ndarray:
        """The newest frame as the camera gives it (uint8 BGR, full size): what the table calibration
        and the cube's detection read."""
        with self._lock:
            frame, age = self._frame, time.monotonic() - self._stamp
        if self._file:
            if frame is None or not self._thread.is_alive():
                raise CameraError(f"camera {self.spec.name!r} ({self.spec.source!r}): no new frame (the file "
                                  f"ended {age:.2f} s ago)")
        elif frame is None or age > self.max_age_s:
            raise CameraError(f"camera {self.spec.name!r} ({self.spec.source!r}): no new frame for {age:.2f} s")
        return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
        self._capture.release()


def prepare(bgr: np.ndarray, spec: CameraSpec) -> np.ndarray:
    """OpenCV's BGR frame as the agent's RGB image: the crop, then the resize."""
    frame = bgr
    if spec.crop is not None:
        r0, r1, c0, c1 = spec.crop
        frame = frame[r0:r1, c0:c1]
    if frame.shape[0] != spec.size or frame.shape[1] != spec.size:
        frame = cv2.resize(frame, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame[:, :, ::-1])


def open_camera(cam) -> Camera:
    """The camera of an ``env.cameras`` entry (a ``CameraConfig``)."""
    return Camera(CameraSpec.of(cam))
