"""MP4 video with PyAV: H.264 (``libx264``, yuv420p), which browsers, LeRobot's loaders and
hilserl's failure videos all play."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

VIDEO_CODEC = "libx264"
PIX_FMT = "yuv420p"
VIDEO_CRF = 18
"""Near-transparent: datasets keep what the cameras saw."""
PREVIEW_CRF = 23
PREVIEW_PRESET = "veryfast"
"""For videos a person watches once (the failure videos): a quarter of the size, faster to encode."""


class VideoError(ValueError):
    """A video file that is missing or cannot be decoded: the message names it."""


def write_video(path: Path, frames: np.ndarray, fps: float, crf: int = VIDEO_CRF, preset: str = "medium") -> None:
    """``frames`` (N, H, W, 3) uint8 as an H.264 mp4, every frame a key frame away from at most one
    other (short groups of pictures keep seeking cheap); ``crf`` and ``preset`` as x264's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(VIDEO_CODEC, rate=int(round(fps)))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = PIX_FMT
        stream.options = {"crf": str(crf), "preset": preset, "g": "2"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def read_video(path: Path) -> np.ndarray:
    """Every frame of an mp4, (N, H, W, 3) uint8; a missing or damaged file is named."""
    if not path.exists():
        raise VideoError(f"{path}: the video file is missing")
    try:
        with av.open(str(path)) as video:
            frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    except (av.error.FFmpegError, ValueError) as exc:
        raise VideoError(f"{path}: cannot be decoded ({exc})") from None
    if not frames:
        raise VideoError(f"{path}: holds no video frame")
    return np.stack(frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of uint8 images, in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
