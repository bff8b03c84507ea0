"""hilserl's episode datasets to and from LeRobotDatasets, the way LeRobot's HIL-SERL recorder writes them.

A LeRobot row is a frame: the observation at step t, the action taken, ``next.reward`` and
``next.done`` after it, and ``complementary_info.discrete_penalty`` (the grasp penalty). Its gripper
command is a class in [0, 2] (0 close, 1 stay, 2 open), hilserl's a value in [-1, 1]. hilserl's
episodes also keep the observation after the last step; a LeRobot episode has none, so an import
repeats the last frame there (its value is masked when the episode ended on success).

What maps onto what is a :class:`Mapping`, written as ``lerobot_mapping.json`` beside the imported
demos for the user to check and edit (then ``--mapping`` that file): camera keys and names, their
crop and size, the state's columns, the action's arm dimensions and scale, the gripper, the reward,
done and intervention columns.

A camera's height and width come from its feature's names (LeRobot's HIL-SERL recorder writes
channel-first frames). A square frame is only resized. A frame that is not square is never cut
silently: the import says what it keeps and draws the crop on a preview PNG per camera, and it
refuses a crop that drops more than :data:`MAX_UNASKED_LOSS` of the frame unless the user chose how
to fit it (``fit``: a centre square crop, or the whole frame squashed to a square as a live camera
without a crop is) or wrote the crop in a mapping.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from hilserl.config import EnvConfig, from_dict
from hilserl.data.episodes import IMAGE_PREFIX, EpisodeWriter, read_meta
from hilserl.data.frames import CONTENT as FRAMES_CONTENT
from hilserl.data.lerobot_dataset import (
    Episode,
    EpisodeRows,
    LeRobotFormatError,
    LeRobotReader,
    write_lerobot,
)
from hilserl.data.transition import Transition
from hilserl.envs.contract import grasp_penalties
from hilserl.envs.factory import task_layout

MAPPING_FILE = "lerobot_mapping.json"
STATE = "observation.state"
VIDEO_PREFIX = "observation.images."
PENALTY = "complementary_info.discrete_penalty"
INTERVENTION = "complementary_info.is_intervention"
SUCCESS = "next.success"
DEFAULT_IMAGE_SIZE = 128
"""Images are resized to this by default (HIL-SERL's and hilserl's camera size)."""
GRIPPER_CLASSES = (0.0, 1.0, 2.0)
DEFAULT_TASK = "grasp the cube"
FITS = ("crop", "squash")
"""How a frame that is not square becomes the agent's square image: ``crop`` keeps the centre square,
``squash`` resizes the whole frame (the aspect changes, nothing is lost)."""
MAX_UNASKED_LOSS = 0.05
"""The largest share of a frame a default crop may drop without the user's say."""
PREVIEW_PREFIX = "preview_"


@dataclass
class CameraMapping:
    key: str
    """The LeRobot video feature, e.g. ``observation.images.front``."""
    name: str
    """hilserl's camera name (the env's)."""
    crop: list[int] | None = None
    """(row0, row1, col0, col1) of the LeRobot frame, before the resize."""
    size: int = DEFAULT_IMAGE_SIZE


@dataclass
class Mapping:
    cameras: list[CameraMapping]
    state: list[str] = field(default_factory=lambda: [STATE])
    """Columns concatenated into hilserl's ``state``."""
    action: str = "action"
    arm_dims: int = 3
    action_scale: float = 1.0
    """hilserl's arm action = LeRobot's / action_scale (LeRobot's deltas in metres: the env's step size)."""
    gripper: bool = True
    """The action's last dimension is a gripper class in [0, 2]."""
    reward: str = "next.reward"
    done: str = "next.done"
    intervention: str | None = None
    """A bool column marking human steps; None: every step is a demonstration (a human's)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Mapping":
        data = json.loads(text)
        data["cameras"] = [CameraMapping(**c) for c in data.get("cameras", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := set(data) - known:
            raise LeRobotFormatError(f"mapping: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class ImportReport:
    episodes: int
    frames: int
    successes: int
    clipped_actions: int
    mapping_file: Path
    cameras: list[str] = field(default_factory=list)
    """Per camera, what of the frame is kept and where its preview is."""

    def lines(self) -> list[str]:
        out = [f"imported {self.episodes} episodes, {self.frames} frames, {self.successes} ending in success",
               *self.cameras,
               f"mapping written to {self.mapping_file} (check it; edit and pass it with --mapping to import again)"]
        if self.clipped_actions:
            out.append(f"warning: {self.clipped_actions} arm action values fell outside [-1, 1] after the scale and were "
                       "clipped: check action_scale in the mapping")
        return out


class CropNeedsConsent(LeRobotFormatError):
    """A default crop would drop more of a camera's frame than :data:`MAX_UNASKED_LOSS`."""


def centre_square(height: int, width: int) -> list[int]:
    side = min(height, width)
    r0, c0 = (height - side) // 2, (width - side) // 2
    return [r0, r0 + side, c0, c0 + side]


def kept_share(crop: list[int] | None, height: int, width: int) -> float:
    if crop is None:
        return 1.0
    r0, r1, c0, c1 = crop
    return (min(r1, height) - max(r0, 0)) * (min(c1, width) - max(c0, 0)) / (height * width)


def default_mapping(reader: LeRobotReader, fit: str | None = None) -> Mapping:
    """What the dataset's features suggest: every camera (video or image feature) named after its key,
    resized to 128 and, when not square, fitted as ``fit`` says (by default a centre square crop,
    which :func:`import_lerobot` refuses to apply unasked when it drops much); ``observation.state``;
    an action whose last column holds only 0, 1 and 2 read as a gripper; the intervention column if
    there is one."""
    if fit is not None and fit not in FITS:
        raise LeRobotFormatError(f"fit {fit!r}: choose one of {', '.join(FITS)}")
    feats = reader.features
    cameras = []
    for key in reader.camera_keys:
        h, w = reader.camera_sizes[key]
        crop = None if h == w or fit == "squash" else centre_square(h, w)
        cameras.append(CameraMapping(key, key.removeprefix(VIDEO_PREFIX), crop, min(h, w, DEFAULT_IMAGE_SIZE)))
    if "action" not in feats:
        raise LeRobotFormatError(f"{reader.root}: no 'action' feature; features: {sorted(feats)}")
    dims = int(np.prod(feats["action"].get("shape", [1])))
    first = next(iter(reader))
    last = first.columns["action"].reshape(len(first), -1)[:, -1]
    gripper = dims >= 2 and bool(np.isin(last, GRIPPER_CLASSES).all())
    return Mapping(cameras, [STATE] if STATE in feats else [], "action", dims - int(gripper), 1.0, gripper,
                   intervention=INTERVENTION if INTERVENTION in feats else None)


def _image(frame: np.ndarray, cam: CameraMapping) -> np.ndarray:
    """The crop, then a resize to ``size`` x ``size`` (which squashes a crop that is not square)."""
    if cam.crop is not None:
        r0, r1, c0, c1 = cam.crop
        frame = frame[r0:r1, c0:c1]
    if frame.shape[:2] != (cam.size, cam.size):
        frame = np.asarray(Image.fromarray(np.ascontiguousarray(frame)).resize((cam.size, cam.size), Image.BILINEAR))
    return frame


def _describe(cam: CameraMapping, height: int, width: int, preview: Path) -> str:
    if cam.crop is None:
        fitted = "the whole frame" + (", squashed to a square" if height != width else "")
    else:
        r0, r1, c0, c1 = cam.crop
        fitted = f"rows {r0}:{r1}, columns {c0}:{c1} ({kept_share(cam.crop, height, width):.0%} of the frame)"
    return f"camera {cam.name} <- {cam.key}: {height}x{width}, {fitted}, resized to {cam.size}x{cam.size} " \
           f"(preview: {preview})"


def write_preview(frame: np.ndarray, cam: CameraMapping, path: Path) -> None:
    """The frame as recorded, the crop's box drawn on it, and beside it the image the agent gets."""
    image = Image.fromarray(np.ascontiguousarray(frame))
    if cam.crop is not None:
        r0, r1, c0, c1 = cam.crop
        ImageDraw.Draw(image).rectangle([c0, r0, c1 - 1, r1 - 1], outline=(0, 200, 255),
                                   width=max(1, frame.shape[0] // 100))
    agent = Image.fromarray(_image(frame, cam)).resize((frame.shape[0], frame.shape[0]), Image.NEAREST)
    sheet = Image.new("RGB", (image.width + 8 + agent.width, image.height), (255, 255, 255))
    sheet.paste(image, (0, 0))
    sheet.paste(agent, (image.width + 8, 0))
    sheet.save(path)


def _steps(ep: Episode, m: Mapping) -> tuple[list[Transition], int]:
    """The episode's transitions in hilserl's terms, and how many arm values were clipped."""
    for name in [*m.state, m.action, m.reward, m.done, *([m.intervention] if m.intervention else [])]:
        if name not in ep.columns:
            raise LeRobotFormatError(f"episode {ep.index}: no column {name!r} (the mapping asks for it)")
    length = len(ep)
    state = np.concatenate([ep.columns[c].reshape(length, -1) for c in m.state], axis=1).astype(np.float32) \
        if m.state else np.zeros((length, 0), np.float32)
    images = {cam.name: np.stack([_image(f, cam) for f in ep.cameras[cam.key]]) for cam in m.cameras}
    raw = ep.columns[m.action].reshape(length, -1).astype(np.float32)
    if raw.shape[1] != m.arm_dims + int(m.gripper):
        raise LeRobotFormatError(f"episode {ep.index}: {m.action!r} has {raw.shape[1]} values, the mapping reads "
                                 f"{m.arm_dims} arm dims{' and a gripper' if m.gripper else ''}")
    arm = raw[:, :m.arm_dims] / m.action_scale
    clipped = int((np.abs(arm) > 1.0).sum())
    action = np.concatenate([np.clip(arm, -1, 1), raw[:, m.arm_dims:] - 1.0], axis=1) if m.gripper else np.clip(arm, -1, 1)
    reward = ep.columns[m.reward].astype(np.float32).reshape(length)
    done = ep.columns[m.done].astype(bool).reshape(length)
    human = ep.columns[m.intervention].astype(bool).reshape(length) if m.intervention else np.ones(length, bool)
    obs = [{"state": state[t], **{c: v[t] for c, v in images.items()}} for t in range(length)]
    steps = []
    for t in range(length):
        last = t == length - 1 or done[t]
        success = bool(last and reward[t] > 0)
        nxt = obs[t + 1] if t + 1 < length else obs[t]
        steps.append(Transition(obs[t], action[t], float(reward[t]), nxt, success, bool(last and not success),
                                bool(human[t]), success))
        if done[t]:
            break
    return steps, clipped


def import_lerobot(root: Path, out: Path, mapping: Mapping | None = None, fit: str | None = None) -> ImportReport:
    """Read a LeRobot dataset into a hilserl episode dataset at ``out`` (see the module's docstring).
    The mapping and a preview per camera are written first, so that a refused crop can be looked at."""
    reader = LeRobotReader(root)
    asked = mapping is not None or fit is not None
    mapping = mapping or default_mapping(reader, fit)
    for cam in mapping.cameras:
        if cam.key not in reader.camera_keys:
            raise LeRobotFormatError(f"{root}: no camera feature {cam.key!r}; it has {reader.camera_keys}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mapping_file = out / MAPPING_FILE
    mapping_file.write_text(mapping.to_json())
    first = next(iter(reader)) if mapping.cameras else None
    described, too_much = [], []
    for cam in mapping.cameras:
        height, width = reader.camera_sizes[cam.key]
        preview = out / f"{PREVIEW_PREFIX}{cam.name}.png"
        write_preview(first.cameras[cam.key][0], cam, preview)
        described.append(_describe(cam, height, width, preview))
        if 1.0 - kept_share(cam.crop, height, width) > MAX_UNASKED_LOSS:
            too_much.append((cam, height, width, preview))
    if too_much and not asked:
        lines = [f"{cam.key} is {h}x{w}: a centre square crop keeps {kept_share(cam.crop, h, w):.0%} of it "
                 f"(preview: {preview})" for cam, h, w, preview in too_much]
        raise CropNeedsConsent("; ".join(lines) + ". Choose: --fit crop (keep the centre square), --fit squash "
                               f"(the whole frame resized to a square, as a live camera without a crop), or "
                               f"--mapping {mapping_file} with the crop box you want")
    state_dim = sum(int(np.prod(reader.features[c].get("shape", [1]))) for c in mapping.state)
    cameras = {c.name: (c.size, c.size, 3) for c in mapping.cameras}
    writer = EpisodeWriter(out, cameras, state_dim, reader.fps, source=f"LeRobot dataset {Path(root).name}",
                           env={"lerobot_mapping": dataclasses.asdict(mapping)})
    episodes = frames = successes = clipped = 0
    for ep in reader:
        steps, c = _steps(ep, mapping)
        clipped += c
        for t in steps:
            writer.add(t)
        writer.end_episode()
        episodes += 1
        frames += len(steps)
        successes += int(steps[-1].success)
    writer.finish()
    return ImportReport(episodes, frames, successes, clipped, mapping_file, described)


def export_lerobot(demos: Path, out: Path, task: str = DEFAULT_TASK) -> dict[str, Any]:
    """Write a hilserl episode dataset as a LeRobotDataset v3.0 with HIL-SERL's columns: demos with the
    gripper as a class in [0, 2] and its penalty when the recording env has a discrete gripper;
    classifier frames with their label as ``next.reward`` (as LeRobot's reward-classifier data)."""
    meta = read_meta(demos)
    if meta.get("content") == FRAMES_CONTENT:
        return _export_frames(Path(demos), meta, Path(out), task)
    env_cfg = from_dict(EnvConfig, meta["env"]) if meta.get("env") and "lerobot_mapping" not in meta["env"] else None
    gripper = task_layout(env_cfg).action.gripper if env_cfg is not None else \
        bool(meta.get("env", {}).get("lerobot_mapping", {}).get("gripper", False))
    penalty_cfg = env_cfg if env_cfg is not None else EnvConfig()
    episodes = []
    for i in range(meta["episodes"]):
        with np.load(Path(demos) / f"episode_{i:06d}.npz") as ep:
            arrays = {k: ep[k] for k in ep.files}
        steps = len(arrays["action"])
        action = arrays["action"].astype(np.float32).copy()
        columns = {STATE: arrays[STATE][:steps].astype(np.float32)}
        if gripper:
            columns[PENALTY] = grasp_penalties(action, action.shape[1] - 1, penalty_cfg.grasp_penalty,
                                               penalty_cfg.grasp_penalty_on)
            action[:, -1] += 1.0  # -1 / 0 / +1 -> LeRobot's classes 0 / 1 / 2
        columns["action"] = action
        columns["next.reward"] = arrays["next.reward"].astype(np.float32)
        columns["next.done"] = np.zeros(steps, bool)
        columns["next.done"][-1] = bool(arrays["next.terminated"][-1] or arrays["next.truncated"][-1])
        columns[SUCCESS] = arrays["next.success"].astype(bool)
        columns[INTERVENTION] = arrays["intervention"].astype(bool)
        videos = {VIDEO_PREFIX + cam: arrays[IMAGE_PREFIX + cam][:steps] for cam in meta["cameras"]}
        episodes.append(EpisodeRows(columns, videos, task))
    return write_lerobot(out, episodes, float(meta["fps"]), robot_type="so101" if env_cfg is not None else None)


def _export_frames(root: Path, meta: dict[str, Any], out: Path, task: str) -> dict[str, Any]:
    """Labelled frames: one LeRobot episode per recorded episode, a row per kept frame; the label is
    ``next.reward`` (1 success, 0 not), the step it was taken at and what produced it kept beside."""
    episodes = []
    for i in range(meta["episodes"]):
        with np.load(root / f"episode_{i:06d}.npz") as ep:
            arrays = {k: ep[k] for k in ep.files}
        labels = arrays["label"].astype(bool)
        columns = {STATE: arrays[STATE].astype(np.float32), "next.reward": labels.astype(np.float32),
                   "next.done": np.zeros(len(labels), bool), "complementary_info.frame_step":
                   arrays["frame_index"].astype(np.int64)}
        columns["next.done"][-1] = True
        videos = {VIDEO_PREFIX + cam: arrays[IMAGE_PREFIX + cam] for cam in meta["cameras"]}
        episodes.append(EpisodeRows(columns, videos, task))
    return write_lerobot(out, episodes, float(meta["fps"]))
