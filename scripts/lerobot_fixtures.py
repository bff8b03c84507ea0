"""Writes the LeRobotDataset fixtures in ``tests/data/lerobot/`` with LeRobot's own code.

Run it in the LeRobot side environment (``bash scripts/setup.sh --lerobot`` makes ``.venv-lerobot``)::

    .venv-lerobot/bin/python scripts/lerobot_fixtures.py            # every fixture
    .venv-lerobot/bin/python scripts/lerobot_fixtures.py --only wide_camera

Each fixture is a dataset folder written by LeRobot's writer beside ``source.npz``: exactly what was
handed to LeRobot (per feature, per episode, and each camera's frames as uint8 height x width x 3),
so that the tests check every imported value against it. The frames are smooth gradients whose red
channel grows along the width, green along the height and blue with the frame's index, so that a
transposed, channel-swapped or misnumbered frame cannot pass.

- ``recorder_chw``: the layout of LeRobot's HIL-SERL recorder (``lerobot.rl.gym_manipulator``,
  record mode): cameras as (3, 128, 128) tensors in [0, 1] named ``[channels, height, width]``, the
  gripper a class in [0, 2], ``complementary_info.discrete_penalty``.
- ``buffer_images``: what LeRobot's learner writes from its replay buffer
  (``ReplayBuffer.to_lerobot_dataset``): images stored in the parquet, channel first, and every
  ``complementary_info`` key, the intervention flag among them.
- ``channel_last``: a camera given as (96, 96, 3) uint8 named ``[height, width, channels]``, an
  intervention column and two task strings.
- ``wide_camera``: one 480x640 camera.
- ``v21``: the v2.1 layout (one file per episode, ``meta/episodes.jsonl``) of LeRobot 0.3.x, channel
  first cameras named as the recorder names them. LeRobot 0.4 writes only v3.0, so this one is written
  by LeRobot 0.3.3 put in front of the side environment's own::

      .venv-lerobot/bin/pip install --no-deps --target .lerobot-0.3.3 lerobot==0.3.3
      PYTHONPATH=.lerobot-0.3.3 .venv-lerobot/bin/python scripts/lerobot_fixtures.py --only v21
- ``export_schema``: the features of ``hilserl export-lerobot`` written by LeRobot, the reference
  for the export's tables (tests/test_lerobot_schema.py).
- ``sac_config_default.json`` and ``sac_config_guide.json``: LeRobot's ``TrainRLServerPipelineConfig``
  with ``SACConfig()`` untouched, and with the settings of LeRobot's HIL-SERL guide, as LeRobot saves a
  run's ``train_config.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

FPS = 10
TASK = "pick up the cube"
ROOT = Path(__file__).resolve().parents[1] / "tests" / "data" / "lerobot"


def pattern(frame: int, height: int, width: int) -> np.ndarray:
    """A uint8 (height, width, 3) frame: red along the width, green along the height, blue by frame."""
    out = np.empty((height, width, 3), np.uint8)
    out[..., 0] = np.linspace(16, 240, width, dtype=np.float64)[None, :].round().astype(np.uint8)
    out[..., 1] = np.linspace(16, 240, height, dtype=np.float64)[:, None].round().astype(np.uint8)
    out[..., 2] = np.uint8(30 + 25 * (frame % 8))
    return out


def _save_source(folder: Path, episodes: list[dict[str, np.ndarray]], tasks: list[str]) -> None:
    """Every value handed to LeRobot; a camera's frames as the indices that :func:`pattern` draws."""
    arrays = {}
    for i, ep in enumerate(episodes):
        for k, v in ep.items():
            if v.ndim == 4:
                arrays[f"{i}/{k}/size"] = np.array(v.shape[1:3])
            elif k != "pattern_index":
                arrays[f"{i}/{k}"] = v
        arrays[f"{i}/pattern_index"] = ep["pattern_index"]
    np.savez_compressed(folder / "source.npz", **arrays, tasks=np.array(tasks))


def _fresh(name: str) -> Path:
    folder = ROOT / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def _episode(lengths_start: int, length: int, state_dims: int, success: bool, cams: dict[str, tuple[int, int]],
             intervention: bool = False) -> dict[str, np.ndarray]:
    t = np.arange(length)
    index = lengths_start + t
    ep = {
        "observation.state": (index[:, None] * 0.5 + np.arange(state_dims)[None, :] * 0.01).astype(np.float32),
        "action": np.stack([0.02 * ((index % 3) - 1), np.full(length, 0.01), np.full(length, -0.005),
                            (index % 3).astype(np.float64)], axis=1).astype(np.float32),
        "next.reward": np.zeros(length, np.float32),
        "next.done": t == length - 1,
        "complementary_info.discrete_penalty": np.where(index % 3 == 0, -0.02, 0.0).astype(np.float32),
    }
    ep["next.reward"][-1] = 1.0 if success else 0.0
    if intervention:
        ep["complementary_info.is_intervention"] = (t % 2 == 0)
    ep["pattern_index"] = index
    for key, (h, w) in cams.items():
        ep[key] = np.stack([pattern(int(i), h, w) for i in index])
    return ep


def _write(folder: Path, features: dict, episodes: list[dict[str, np.ndarray]], tasks: list[str],
           frame_of, robot_type: str | None = None, source: bool = True) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create(f"hilserl/{folder.name}", FPS, root=folder / "dataset", features=features,
                               robot_type=robot_type, use_videos=True)
    for ep, task in zip(episodes, tasks):
        for t in range(len(ep["action"])):
            ds.add_frame({**frame_of(ep, t), "task": task})
        ds.save_episode()
    ds.finalize()
    if source:
        _save_source(folder, episodes, tasks)


def _scalar(value) -> np.ndarray:
    return np.asarray([value])


def recorder_chw() -> None:
    import torch

    folder = _fresh("recorder_chw")
    cams = {"observation.images.front": (128, 128), "observation.images.wrist": (128, 128)}
    episodes = [_episode(0, 6, 18, False, cams), _episode(6, 4, 18, True, cams)]
    features = {  # as lerobot.rl.gym_manipulator.control_loop declares them
        "action": {"dtype": "float32", "shape": (4,), "names": ["delta_x", "delta_y", "delta_z", "gripper"]},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
        "complementary_info.discrete_penalty": {"dtype": "float32", "shape": (1,), "names": ["discrete_penalty"]},
        "observation.state": {"dtype": "float32", "shape": (18,), "names": None},
        **{k: {"dtype": "video", "shape": (3, 128, 128), "names": ["channels", "height", "width"]} for k in cams},
    }

    def frame(ep, t):  # the recorder hands LeRobot torch tensors, images channel first in [0, 1]
        out = {"observation.state": torch.from_numpy(ep["observation.state"][t]),
               "action": torch.from_numpy(ep["action"][t]),
               "next.reward": _scalar(ep["next.reward"][t]).astype(np.float32),
               "next.done": _scalar(ep["next.done"][t]).astype(bool),
               "complementary_info.discrete_penalty": _scalar(ep["complementary_info.discrete_penalty"][t])
               .astype(np.float32)}
        for k in cams:
            out[k] = torch.from_numpy(ep[k][t]).permute(2, 0, 1).float() / 255.0
        return out

    _write(folder, features, episodes, [TASK, TASK], frame)


def buffer_images() -> None:
    import torch
    from lerobot.rl.buffer import ReplayBuffer

    folder = _fresh("buffer_images")
    cams = {"observation.images.front": (64, 64)}
    episodes = [_episode(0, 5, 6, False, cams, intervention=True), _episode(5, 3, 6, True, cams, intervention=True)]
    transitions = []
    for ep in episodes:
        n = len(ep["action"])
        for t in range(n):
            state = {"observation.state": torch.from_numpy(ep["observation.state"][t])[None],
                     "observation.images.front": torch.from_numpy(ep["observation.images.front"][t])
                     .permute(2, 0, 1).float()[None] / 255.0}
            nxt = t + 1 if t + 1 < n else t
            next_state = {"observation.state": torch.from_numpy(ep["observation.state"][nxt])[None],
                          "observation.images.front": torch.from_numpy(ep["observation.images.front"][nxt])
                          .permute(2, 0, 1).float()[None] / 255.0}
            transitions.append({
                "state": state, "action": torch.from_numpy(ep["action"][t])[None],
                "reward": float(ep["next.reward"][t]), "next_state": next_state,
                "done": bool(ep["next.done"][t]), "truncated": False,
                "complementary_info": {
                    "discrete_penalty": torch.tensor([float(ep["complementary_info.discrete_penalty"][t])]),
                    "is_intervention": torch.tensor([float(ep["complementary_info.is_intervention"][t])])},
            })
    buffer = ReplayBuffer(capacity=64, device="cpu", state_keys=list(transitions[0]["state"]), storage_device="cpu",
                          optimize_memory=False)
    for tr in transitions:
        buffer.add(**tr)
    buffer.to_lerobot_dataset("hilserl/buffer_images", fps=FPS, root=folder / "dataset", task_name=TASK)
    _save_source(folder, episodes, [TASK, TASK])


def channel_last() -> None:
    folder = _fresh("channel_last")
    cams = {"observation.images.top": (96, 96)}
    episodes = [_episode(0, 4, 6, True, cams, intervention=True), _episode(4, 5, 6, False, cams, intervention=True)]
    features = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": [f"joint_{i}" for i in range(6)]},
        "observation.images.top": {"dtype": "video", "shape": (96, 96, 3), "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (4,), "names": ["delta_x", "delta_y", "delta_z", "gripper"]},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
        "complementary_info.discrete_penalty": {"dtype": "float32", "shape": (1,), "names": None},
        "complementary_info.is_intervention": {"dtype": "bool", "shape": (1,), "names": None},
    }

    def frame(ep, t):
        out = {k: ep[k][t] for k in ("observation.state", "action", "observation.images.top")}
        for k in ("next.reward", "complementary_info.discrete_penalty"):
            out[k] = _scalar(ep[k][t]).astype(np.float32)
        for k in ("next.done", "complementary_info.is_intervention"):
            out[k] = _scalar(ep[k][t]).astype(bool)
        return out

    _write(folder, features, episodes, ["pick up the cube", "place the cube in the bowl"], frame, robot_type="so101")


def wide_camera() -> None:
    folder = _fresh("wide_camera")
    cams = {"observation.images.front": (480, 640)}
    episodes = [_episode(0, 3, 6, True, cams)]
    features = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": None},
        "observation.images.front": {"dtype": "video", "shape": (480, 640, 3),
                                     "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (4,), "names": None},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
        "complementary_info.discrete_penalty": {"dtype": "float32", "shape": (1,), "names": None},
    }

    def frame(ep, t):
        out = {k: ep[k][t] for k in ("observation.state", "action", "observation.images.front")}
        out["next.reward"] = _scalar(ep["next.reward"][t]).astype(np.float32)
        out["complementary_info.discrete_penalty"] = _scalar(ep["complementary_info.discrete_penalty"][t]) \
            .astype(np.float32)
        out["next.done"] = _scalar(ep["next.done"][t]).astype(bool)
        return out

    _write(folder, features, episodes, [TASK], frame)


def v21() -> None:
    from lerobot.datasets import lerobot_dataset

    if lerobot_dataset.CODEBASE_VERSION != "v2.1":
        raise SystemExit("v21: needs LeRobot 0.3.x, which writes v2.1 (see this script's docstring)")
    folder = _fresh("v21")
    cams = {"observation.images.front": (96, 96)}
    episodes = [_episode(0, 4, 6, False, cams), _episode(4, 3, 6, True, cams)]
    features = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": None},
        "observation.images.front": {"dtype": "video", "shape": (3, 96, 96), "names": ["channels", "height", "width"]},
        "action": {"dtype": "float32", "shape": (4,), "names": ["delta_x", "delta_y", "delta_z", "gripper"]},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
        "complementary_info.discrete_penalty": {"dtype": "float32", "shape": (1,), "names": None},
    }
    ds = lerobot_dataset.LeRobotDataset.create("hilserl/v21", FPS, root=folder / "dataset", features=features,
                                               use_videos=True)
    for ep in episodes:
        for t in range(len(ep["action"])):
            frame = {"observation.state": ep["observation.state"][t], "action": ep["action"][t],
                     "observation.images.front": np.ascontiguousarray(ep["observation.images.front"][t]
                                                                      .transpose(2, 0, 1)),
                     "next.reward": _scalar(ep["next.reward"][t]).astype(np.float32),
                     "next.done": _scalar(ep["next.done"][t]).astype(bool),
                     "complementary_info.discrete_penalty": _scalar(ep["complementary_info.discrete_penalty"][t])
                     .astype(np.float32)}
            ds.add_frame(frame, task=TASK)
        ds.save_episode()
    _save_source(folder, episodes, [TASK, TASK])


def export_schema() -> None:
    """hilserl's export of two simulated demos, re-written frame by frame by LeRobot."""
    import tempfile

    from hilserl.collect.demos import record_demos
    from hilserl.config import EnvConfig
    from hilserl.data.lerobot_convert import export_lerobot
    from hilserl.data.lerobot_dataset import LeRobotReader

    folder = _fresh("export_schema")  # its tables are the reference, its values are not checked: no source.npz
    with tempfile.TemporaryDirectory() as tmp:
        record_demos(EnvConfig(), 2, Path(tmp) / "demos", seed=0)
        export_lerobot(Path(tmp) / "demos", Path(tmp) / "export")
        reader = LeRobotReader(Path(tmp) / "export")
        features = {k: v for k, v in reader.features.items()
                    if k not in ("timestamp", "frame_index", "episode_index", "index", "task_index")}
        for f in features.values():
            f.pop("info", None)
            f["shape"] = tuple(f["shape"])  # LeRobot's frame check compares tuples
        episodes = []
        for ep in reader:
            cols = {k: ep.columns[k] for k in features if k in ep.columns}
            episodes.append({**cols, **ep.videos})

    def frame(ep, t):
        out = {}
        for k, f in features.items():
            v = np.asarray(ep[k][t])
            out[k] = v if f["dtype"] == "video" else v.reshape(f["shape"]).astype(f["dtype"])
        return out

    _write(folder, features, episodes, [TASK] * len(episodes), frame, robot_type="so101", source=False)


def sac_configs() -> None:
    """LeRobot's SAC train config as it saves it: untouched, and with what LeRobot's HIL-SERL guide
    (docs/source/hilserl.mdx) tells a user to set: temperature_init 1e-2 ("a good starting point"),
    10 fps, 128x128 images, IK steps of 0.02 m, the ResNet-10 encoder, a reward classifier at 0.7."""
    import draccus
    from lerobot.configs.default import DatasetConfig
    from lerobot.configs.train import TrainRLServerPipelineConfig
    from lerobot.envs.configs import (
        GripperConfig,
        HILSerlProcessorConfig,
        HILSerlRobotEnvConfig,
        ImagePreprocessingConfig,
        InverseKinematicsConfig,
        ResetConfig,
        RewardClassifierConfig,
    )
    from lerobot.policies.sac.configuration_sac import SACConfig

    dataset = DatasetConfig(repo_id="user/pick_lift_cube")
    default = TrainRLServerPipelineConfig(policy=SACConfig(), dataset=dataset, env=HILSerlRobotEnvConfig())
    processor = HILSerlProcessorConfig(
        image_preprocessing=ImagePreprocessingConfig(crop_params_dict={}, resize_size=(128, 128)),
        gripper=GripperConfig(use_gripper=True, gripper_penalty=0.0),
        reset=ResetConfig(reset_time_s=5.0, control_time_s=20.0, terminate_on_success=True),
        inverse_kinematics=InverseKinematicsConfig(end_effector_step_sizes={"x": 0.02, "y": 0.02, "z": 0.02}),
        reward_classifier=RewardClassifierConfig(pretrained_path="user/reward_classifier", success_threshold=0.7,
                                                 success_reward=1.0))
    guide = TrainRLServerPipelineConfig(
        policy=SACConfig(temperature_init=1e-2, vision_encoder_name="helper2424/resnet10"), dataset=dataset,
        env=HILSerlRobotEnvConfig(fps=10, processor=processor))
    for name, cfg in (("sac_config_default.json", default), ("sac_config_guide.json", guide)):
        with open(ROOT / name, "w") as f, draccus.config_type("json"):  # as LeRobot saves train_config.json
            draccus.dump(cfg, f, indent=4)
        json.loads((ROOT / name).read_text())


FIXTURES = {"recorder_chw": recorder_chw, "buffer_images": buffer_images, "channel_last": channel_last,
            "wide_camera": wide_camera, "export_schema": export_schema, "sac_configs": sac_configs, "v21": v21}
NEEDS_LEROBOT_03 = ("v21",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(FIXTURES), help="write these fixtures only")
    args = parser.parse_args(argv)
    try:
        import lerobot
    except ImportError:
        print("lerobot_fixtures: run this in the LeRobot side environment (bash scripts/setup.sh --lerobot, then "
              ".venv-lerobot/bin/python scripts/lerobot_fixtures.py)", file=sys.stderr)
        return 2
    print(f"writing fixtures with LeRobot at {Path(lerobot.__file__).parent} into {ROOT}")
    for name in args.only or [n for n in FIXTURES if n not in NEEDS_LEROBOT_03]:
        FIXTURES[name]()
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
