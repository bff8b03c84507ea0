"""LeRobotDataset import and export, and LeRobot's SAC config in the audit."""

import json

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hilserl.cli import main
from hilserl.config import EnvConfig
from hilserl.data.lerobot_convert import Mapping, export_lerobot, import_lerobot
from hilserl.data.lerobot_dataset import LeRobotFormatError, LeRobotReader
from hilserl.data.video import psnr
from hilserl.envs.contract import grasp_penalties

PSNR_FLOOR_DB = 28.0
"""H.264 (crf 18, yuv420p) on the simulation's 128x128 frames decodes at 30.4-32.2 dB here (these two
demos, both cameras). yuv420p's halved colour resolution costs most of it: yuv444p would reach 40 dB,
but browsers (the Hub's viewer, LeRobot's visualiser) play yuv420p, as LeRobot writes it."""


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    from hilserl.collect.demos import record_demos

    root = tmp_path_factory.mktemp("demos")
    record_demos(EnvConfig(), 2, root, seed=0)
    return root


def _episode(root, i):
    with np.load(root / f"episode_{i:06d}.npz") as ep:
        return {k: ep[k] for k in ep.files}


def test_a_round_trip_keeps_episodes_actions_rewards_and_flags_exactly(demos, tmp_path):
    export_lerobot(demos, tmp_path / "lerobot")
    table = pq.read_table(tmp_path / "lerobot" / "data" / "chunk-000" / "file-000.parquet")
    gripper = np.stack(table.column("action").to_numpy(zero_copy_only=False))[:, 3]
    assert set(np.unique(gripper)) <= {0.0, 1.0, 2.0}  # LeRobot's classes
    first = _episode(demos, 0)
    penalty = np.asarray(table.column("complementary_info.discrete_penalty").to_numpy())[:len(first["action"])]
    assert np.array_equal(penalty, grasp_penalties(first["action"], 3, EnvConfig().grasp_penalty))
    info = json.loads((tmp_path / "lerobot" / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["features"]["observation.images.wrist"]["dtype"] == "video"

    report = import_lerobot(tmp_path / "lerobot", tmp_path / "back")
    assert (report.episodes, report.successes) == (2, 2)
    for i in range(2):
        a, b = _episode(demos, i), _episode(tmp_path / "back", i)
        steps = len(a["action"])
        for key in ("action", "next.reward", "next.terminated", "next.truncated", "next.success", "intervention"):
            assert np.array_equal(a[key], b[key]), key
        assert np.array_equal(a["observation.state"][:steps], b["observation.state"][:steps])
        for cam in ("wrist", "front"):
            got = psnr(a[f"observation.images.{cam}"][:steps], b[f"observation.images.{cam}"][:steps])
            assert got >= PSNR_FLOOR_DB, f"{cam}: {got:.1f} dB"
        # the observation after the last step, which LeRobot does not store, repeats the last one
        assert np.array_equal(b["observation.state"][steps], b["observation.state"][steps - 1])


def test_training_runs_from_imported_demos(demos, tmp_path):
    export_lerobot(demos, tmp_path / "lerobot")
    assert main(["import-lerobot", str(tmp_path / "lerobot"), "--out", str(tmp_path / "imported")]) == 0
    args = ["train", "--single-process", "--run-dir", str(tmp_path / "run"), "--eval-seeds", "0"]
    sets = [f"train.demo_dir={json.dumps(str(tmp_path / 'imported'))}", "train.env_steps=60", "train.learning_starts=40",
            "env.episode_seconds=3", "agent.hidden_dims=[16]", "agent.batch_size=8", "agent.cache_crops=1",
            "agent.encoder.image_latent_dim=16"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["demo_transitions"] == sum(len(_episode(demos, i)["action"]) for i in range(2))
    assert summary["updates"] > 0


def _video(path, frames, fps):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_by_hand(root, lengths=(5, 4), fps=10, drop=None, state_dims=6):
    """A LeRobotDataset v3.0 as LeRobot documents it, written with pyarrow and PyAV here (not by the
    exporter): two episodes in one data file and one video file, the second starting at its
    ``from_timestamp``; 96x128 frames of one grey level per frame (10 x the dataset index); actions of
    3 deltas in metres (0.02 per unit) and a gripper class; success on the second episode only."""
    rows, episodes, start = {k: [] for k in ("observation.state", "action", "next.reward", "next.done",
                                             "complementary_info.discrete_penalty", "timestamp", "frame_index",
                                             "episode_index", "index", "task_index")}, [], 0
    frames = []
    for e, n in enumerate(lengths):
        for t in range(n):
            i = start + t
            rows["observation.state"].append([float(i)] * state_dims)
            rows["action"].append([0.02 * ((i % 3) - 1), 0.01, -0.005, float(i % 3)])
            rows["next.reward"].append(1.0 if (e == 1 and t == n - 1) else 0.0)
            rows["next.done"].append(t == n - 1)
            rows["complementary_info.discrete_penalty"].append(0.0)
            rows["timestamp"].append(t / fps)
            rows["frame_index"].append(t)
            rows["episode_index"].append(e)
            rows["index"].append(i)
            rows["task_index"].append(0)
            frames.append(np.full((96, 128, 3), 10 * i, np.uint8))
        episodes.append({"episode_index": e, "tasks": ["pick"], "length": n, "data/chunk_index": 0,
                         "data/file_index": 0, "dataset_from_index": start, "dataset_to_index": start + n,
                         "videos/observation.images.front/chunk_index": 0,
                         "videos/observation.images.front/file_index": 0,
                         "videos/observation.images.front/from_timestamp": start / fps,
                         "videos/observation.images.front/to_timestamp": (start + n) / fps})
        start += n
    if drop:
        rows.pop(drop)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(rows), root / "data" / "chunk-000" / "file-000.parquet")
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(episodes), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    _video(root / "videos" / "observation.images.front" / "chunk-000" / "file-000.mp4", np.stack(frames), fps)
    scalar = {"dtype": "float32", "shape": [1], "names": None}
    features = {"observation.state": {"dtype": "float32", "shape": [6], "names": None},
                "action": {"dtype": "float32", "shape": [4], "names": None}, "next.reward": scalar,
                "next.done": {"dtype": "bool", "shape": [1], "names": None},
                "complementary_info.discrete_penalty": scalar,
                "observation.images.front": {"dtype": "video", "shape": [96, 128, 3],
                                             "names": ["height", "width", "channels"]},
                "timestamp": scalar, **{k: {"dtype": "int64", "shape": [1], "names": None}
                                        for k in ("frame_index", "episode_index", "index", "task_index")}}
    info = {"codebase_version": "v3.0", "robot_type": "so101_follower", "total_episodes": len(lengths),
            "total_frames": start, "total_tasks": 1, "chunks_size": 1000, "fps": fps, "splits": {"train": "0:2"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": features}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    return root


def test_a_dataset_written_to_lerobots_documented_layout_imports(tmp_path):
    src = write_by_hand(tmp_path / "src")
    with pytest.raises(LeRobotFormatError, match="96x128: a centre square crop keeps 75%"):
        import_lerobot(src, tmp_path / "unasked")
    default = import_lerobot(src, tmp_path / "default", fit="crop")
    mapping = Mapping.from_json(default.mapping_file.read_text())
    assert mapping.gripper and mapping.arm_dims == 3 and mapping.cameras[0].crop == [0, 96, 16, 112]
    mapping.action_scale = 0.02  # the deltas are in metres: the mapping file is the user's to edit
    mapping.cameras[0].size = 64
    report = import_lerobot(src, tmp_path / "out", mapping)
    assert (report.episodes, report.frames, report.successes, report.clipped_actions) == (2, 9, 1, 0)
    first, second = _episode(tmp_path / "out", 0), _episode(tmp_path / "out", 1)
    assert np.allclose(first["action"][:, 0], [-1, 0, 1, -1, 0]) and np.allclose(first["action"][:, 3], [-1, 0, 1, -1, 0])
    assert np.allclose(first["action"][:, 1:3], [0.5, -0.25])
    assert first["next.truncated"][-1] and not first["next.terminated"].any()  # ended without success
    assert second["next.terminated"][-1] and second["next.reward"][-1] == 1.0
    # each frame is the one of its own row, the second episode's read from its from_timestamp on
    grey = second["observation.images.front"][:4].mean(axis=(1, 2, 3))
    assert second["observation.images.front"].shape[1:] == (64, 64, 3)
    assert np.allclose(grey, [50, 60, 70, 80], atol=3)


@pytest.mark.parametrize("damage, message", [
    ("no info", "no meta/info.json"),
    ("missing column", "lacks the column 'next.reward'"),
    ("wrong shape", r"column 'observation.state' has rows of \(5,\), info.json declares \(6,\)"),
    ("truncated video", "file-000.mp4"),
])
def test_a_malformed_dataset_is_refused_naming_what_is_wrong(tmp_path, damage, message):
    src = write_by_hand(tmp_path / "src", drop="next.reward" if damage == "missing column" else None,
                        state_dims=5 if damage == "wrong shape" else 6)
    if damage == "no info":
        (src / "meta" / "info.json").unlink()
    if damage == "truncated video":
        video = src / "videos" / "observation.images.front" / "chunk-000" / "file-000.mp4"
        video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    with pytest.raises(LeRobotFormatError, match=message):
        import_lerobot(src, tmp_path / "out")
    assert main(["import-lerobot", str(src), "--out", str(tmp_path / "cli")]) == 2


def test_exported_classifier_frames_carry_their_labels(tmp_path):
    from hilserl.collect.classifier_data import record_classifier_data
    from hilserl.config import ClassifierConfig, load_config

    cfg = load_config(None, ['env.cameras=[{"name": "front"}]'])
    record_classifier_data(cfg.env, ClassifierConfig(positives=6, negatives=10), tmp_path / "frames", progress=False)
    export_lerobot(tmp_path / "frames", tmp_path / "lerobot")
    reader = LeRobotReader(tmp_path / "lerobot")
    labels = np.concatenate([ep.columns["next.reward"] for ep in reader])
    assert (labels == 1).sum() == 6 and (labels == 0).sum() == 10


def test_a_v2_1_dataset_imports_too(tmp_path):
    """v2.1, still common on the Hub: one parquet and one mp4 per episode, meta/episodes.jsonl."""
    root, fps = tmp_path / "v21", 10
    lines = []
    for e, n in enumerate((3, 4)):
        rows = {"observation.state": [[float(e), float(t)] for t in range(n)],
                "action": [[0.5, -0.5, 0.0, 2.0]] * n, "next.reward": [0.0] * (n - 1) + [float(e)],
                "next.done": [False] * (n - 1) + [True], "timestamp": [t / fps for t in range(n)],
                "frame_index": list(range(n)), "episode_index": [e] * n, "index": list(range(n)), "task_index": [0] * n}
        (root / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows), root / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
        frames = np.stack([np.full((32, 32, 3), 40 * e + 10 * t, np.uint8) for t in range(n)])
        _video(root / "videos" / "chunk-000" / "observation.images.top" / f"episode_{e:06d}.mp4", frames, fps)
        lines.append(json.dumps({"episode_index": e, "tasks": ["reach"], "length": n}))
    (root / "meta").mkdir()
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    scalar = {"dtype": "float32", "shape": [1]}
    info = {"codebase_version": "v2.1", "fps": fps, "chunks_size": 1000,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": {"observation.state": {"dtype": "float32", "shape": [2]},
                         "action": {"dtype": "float32", "shape": [4]}, "next.reward": scalar,
                         "next.done": {"dtype": "bool", "shape": [1]}, "timestamp": scalar,
                         "observation.images.top": {"dtype": "video", "shape": [32, 32, 3]},
                         **{k: {"dtype": "int64", "shape": [1]} for k in ("frame_index", "episode_index", "index",
                                                                           "task_index")}}}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    report = import_lerobot(root, tmp_path / "out")
    assert (report.episodes, report.frames, report.successes) == (2, 7, 1)
    second = _episode(tmp_path / "out", 1)
    assert np.allclose(second["observation.state"][:4, 1], [0, 1, 2, 3]) and np.allclose(second["action"][:, 3], 1.0)
    assert np.allclose(second["observation.images.top"][:4].mean(axis=(1, 2, 3)), [40, 50, 60, 70], atol=3)


@pytest.mark.parametrize("images", [False, True])
def test_a_runs_transitions_export_episode_by_episode(tmp_path, images):
    from hilserl.config import load_config
    from hilserl.training.checkpoint import latest_checkpoint, read_checkpoint
    from hilserl.training.train import train

    sets = ["train.demo_episodes=1", "agent.hidden_dims=[16]", "agent.batch_size=8", "env.episode_seconds=3"]
    # images: the frames stored in the buffer are what is exported; two episodes, and no update but the
    # last step's (each costs half a second of per-batch encoding here)
    sets += ["agent.feature_cache=false", "agent.encoder.image_latent_dim=16", "agent.augmentation=false",
             "train.env_steps=60", "train.learning_starts=60"] if images else \
        ["env.state_only=true", "train.env_steps=100", "train.learning_starts=40"]
    result = train(load_config(None, sets), tmp_path / "run", progress=False, tensorboard=False)
    assert main(["export-lerobot", str(tmp_path / "run"), "--transitions", "--out", str(tmp_path / "out")]) == 0
    reader = LeRobotReader(tmp_path / "out")
    episodes = list(reader)
    assert len(episodes) == result.episodes and sum(len(e) for e in episodes) == result.env_steps
    folder = latest_checkpoint(tmp_path / "run")
    rewards = np.load(folder / "buffer_online.reward.npy")
    assert np.array_equal(np.concatenate([e.columns["next.reward"] for e in episodes]), rewards)
    assert read_checkpoint(folder)["actor"]["episode"] == len(episodes)
    if images:
        assert episodes[0].cameras["observation.images.wrist"].shape[1:] == (128, 128, 3)


def test_a_run_that_kept_encodings_says_its_transitions_cannot_be_exported(tmp_path, capsys):
    from hilserl.config import load_config
    from hilserl.training.train import train

    sets = ["train.env_steps=40", "train.learning_starts=40", "train.demo_episodes=1", "agent.hidden_dims=[16]",
            "agent.batch_size=8", "env.episode_seconds=4", "agent.cache_crops=1", "agent.encoder.image_latent_dim=16"]
    train(load_config(None, sets), tmp_path / "run", progress=False, tensorboard=False)
    assert main(["export-lerobot", str(tmp_path / "run"), "--transitions", "--out", str(tmp_path / "out")]) == 2
    assert "feature-cache encodings, not images" in capsys.readouterr().err
    assert main(["export-lerobot", str(tmp_path / "run"), "--out", str(tmp_path / "demos")]) == 0  # its demos do
