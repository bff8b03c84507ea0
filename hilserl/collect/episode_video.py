"""A video of every failed episode, and a contact sheet of how each ended.

Each frame shows the cameras as the policy saw them, side by side and enlarged, over a strip that
says the step, the action (the arm's values, the gripper's command), the reward classifier's
probability against its threshold and the critic's value. ``index.json`` lists the videos with the
label of the episode (an evaluation cell, a seed) so that a report can point at them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hilserl.collect.rollout import EpisodeResult, Step, camera_images
from hilserl.data.video import PREVIEW_CRF, PREVIEW_PRESET, write_video
from hilserl.envs.contract import GRIPPER_CLOSE, GRIPPER_OPEN, gripper_class

SCALE = 2
"""Cameras are enlarged this much (nearest pixel): a 128-pixel frame is too small to read."""
LINE_HEIGHT = 14
GAP = 4
INDEX = "index.json"
CONTACT_SHEET = "contact_sheet.png"
FAILURES = "failures"
"""The folder beside the success map (or in the run) where an evaluation's failure videos go."""
LISTED_FAILURES = 8
"""Failure videos a report names one by one; the index lists them all."""
GRIPPER_WORDS = {GRIPPER_CLOSE: "close", GRIPPER_OPEN: "open"}


@dataclass
class Failure:
    label: str
    video: str
    """The file's name in the folder."""
    length: int
    last_frame: np.ndarray = field(repr=False)


def annotate(step: Step, value: float | None, gripper_index: int | None, threshold: float | None) -> np.ndarray:
    """One video frame: the step's cameras side by side, enlarged, above the lines that describe it."""
    images = list(camera_images(step.obs).values())
    if not images:
        raise ValueError("the observation holds no camera image to draw")
    height = max(i.shape[0] for i in images) * SCALE
    tiles = [Image.fromarray(i if i.shape[-1] == 3 else np.repeat(i, 3, axis=-1))
             .resize((i.shape[1] * SCALE, i.shape[0] * SCALE), Image.NEAREST) for i in images]
    action = np.asarray(step.action, np.float64)
    arm = np.delete(action, gripper_index) if gripper_index is not None else action
    lines = [f"step {step.index}" + ("   person in control" if step.intervened else ""),
             "arm " + " ".join(f"{a:+.2f}" for a in arm)]
    if gripper_index is not None:
        command = action[gripper_index]
        lines.append(f"gripper {command:+.0f} ({GRIPPER_WORDS.get(gripper_class(command), 'stay')})")
    if "classifier_prob" in step.info:
        against = f" / threshold {threshold:.2f}" if threshold is not None else ""
        lines.append(f"p(success) {float(step.info['classifier_prob']):.2f}{against}")
    if value is not None:
        lines.append(f"critic value {value:+.3f}")
    width = sum(t.width for t in tiles) + GAP * (len(tiles) - 1)
    strip = LINE_HEIGHT * len(lines) + GAP
    canvas = Image.new("RGB", (_even(width), _even(height + strip)), (20, 20, 20))
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + GAP
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for i, line in enumerate(lines):
        draw.text((4, height + GAP // 2 + i * LINE_HEIGHT), line, fill=(235, 235, 235), font=font)
    return np.asarray(canvas)


def _even(n: int) -> int:
    return n + n % 2  # H.264 in yuv420p needs even sides


class FailureVideos:
    """Keeps the current episode's steps; draws and writes them as an MP4 when it fails."""

    def __init__(self, folder: Path, fps: float, gripper_index: int | None = None, threshold: float | None = None):
        self.folder = Path(folder)
        self.fps = fps
        self.gripper_index = gripper_index
        self.threshold = threshold
        self.failures: list[Failure] = []
        self._steps: list[tuple[Step, float | None]] = []
        self._label = ""
        self._cleared = False

    def begin(self, label: str) -> None:
        self._label, self._steps = label, []

    def step(self, step: Step, value: float | None) -> None:
        self._steps.append((step, value))

    def end(self, result: EpisodeResult) -> None:
        steps, self._steps = self._steps, []
        if result.success or not steps:
            return
        frames = np.stack([annotate(step, value, self.gripper_index, self.threshold) for step, value in steps])
        name = f"failure_{len(self.failures):03d}.mp4"
        self._clear_once()
        write_video(self.folder / name, frames, self.fps, PREVIEW_CRF, PREVIEW_PRESET)
        self.failures.append(Failure(self._label, name, len(frames), frames[-1]))

    def _clear_once(self) -> None:
        """An earlier evaluation's videos go: the folder holds one evaluation's failures."""
        if not self._cleared:
            self.folder.mkdir(parents=True, exist_ok=True)
            for old in [*self.folder.glob("failure_*.mp4"), self.folder / INDEX, self.folder / CONTACT_SHEET]:
                old.unlink(missing_ok=True)
            self._cleared = True

    def finish(self) -> list[Path]:
        """The index and the contact sheet (nothing when no episode failed)."""
        if not self.failures:
            self._clear_once()
            return []
        index = [{"label": f.label, "video": f.video, "length": f.length} for f in self.failures]
        (self.folder / INDEX).write_text(json.dumps(index, indent=2) + "\n")
        sheet = contact_sheet([f.last_frame for f in self.failures], [f.label for f in self.failures])
        Image.fromarray(sheet).save(self.folder / CONTACT_SHEET)
        return [self.folder / INDEX, self.folder / CONTACT_SHEET]


def contact_sheet(frames: list[np.ndarray], labels: list[str], columns: int = 4) -> np.ndarray:
    """The frames in a grid, each under its label."""
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    rows = -(-len(frames) // columns)
    cols = min(columns, len(frames))
    sheet = Image.new("RGB", (cols * (w + GAP), rows * (h + LINE_HEIGHT + GAP)), (255, 255, 255))
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for i, (frame, label) in enumerate(zip(frames, labels)):
        x, y = (i % columns) * (w + GAP), (i // columns) * (h + LINE_HEIGHT + GAP)
        draw.text((x + 2, y), label, fill=(0, 0, 0), font=font)
        sheet.paste(Image.fromarray(frame), (x, y + LINE_HEIGHT))
    return np.asarray(sheet)


def read_index(folder: Path) -> list[dict]:
    path = Path(folder) / INDEX
    return json.loads(path.read_text()) if path.exists() else []


def failure_listing(folder: Path, heading: str = "failure videos") -> list[str]:
    """The lines that say where an evaluation's failure videos are, each by its episode's label (a
    grid cell and seed, or a seed); none when it filmed no failure."""
    folder = Path(folder)
    index = read_index(folder)
    if not index:
        return []
    lines = [f"{heading}: {len(index)} in {folder} (contact sheet: {folder / CONTACT_SHEET}; all listed in "
             f"{folder / INDEX})"]
    lines += [f"  {f['label']}: {folder / f['video']}" for f in index[:LISTED_FAILURES]]
    if len(index) > LISTED_FAILURES:
        lines.append(f"  ... and {len(index) - LISTED_FAILURES} more")
    return lines
