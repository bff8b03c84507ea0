"""Datasets written by LeRobot itself (tests/data/lerobot/, made by scripts/lerobot_fixtures.py in the
LeRobot side environment) imported with no hand edit, every value checked against what was handed to
LeRobot's writer."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hilserl.cli import main
from hilserl.data.lerobot_convert import CropNeedsConsent, Mapping, import_lerobot
from hilserl.data.lerobot_dataset import LeRobotFormatError, LeRobotReader, camera_size
from hilserl.data.video import psnr

FIXTURES = Path(__file__).parent / "data" / "lerobot"
_spec = importlib.util.spec_from_file_location("lerobot_fixtures", FIXTURES.parents[2] / "scripts" / "lerobot_fixtures.py")
lerobot_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lerobot_fixtures)  # the frames' pattern, as the script drew them

VIDEO_PSNR_FLOOR_DB = 35.0
"""LeRobot encodes with SVT-AV1 (crf 30); these smooth gradients decode at 42-44 dB (measured on the
fixtures), a channel-swapped or mirrored frame at 10-11 dB."""


def _source(name):
    with np.load(FIXTURES / name / "source.npz") as src:
        arrays = {k: src[k] for k in src.files}
    episodes = {}
    for key, value in arrays.items():
        if key != "tasks":
            index, _, rest = key.partition("/")
            episodes.setdefault(int(index), {})[rest] = value
    return [episodes[i] for i in sorted(episodes)], list(arrays["tasks"])


def _frames(src, key):
    """The frames handed to LeRobot for camera ``key``, drawn again."""
    h, w = src[f"{key}/size"]
    return np.stack([lerobot_fixtures.pattern(int(i), int(h), int(w)) for i in src["pattern_index"]])


def _imported(root, i):
    with np.load(root / f"episode_{i:06d}.npz") as ep:
        return {k: ep[k] for k in ep.files}


def _check_values(src, got, intervention_column):
    """Every per-step value of one episode against what LeRobot was given."""
    n = len(src["action"])
    assert len(got["action"]) == n
    assert np.array_equal(got["observation.state"][:n], src["observation.state"])
    assert np.array_equal(got["action"][:, :3], src["action"][:, :3])
    assert np.array_equal(got["action"][:, 3], src["action"][:, 3] - 1.0)  # class 0/1/2 -> close/stay/open
    assert np.array_equal(got["next.reward"], src["next.reward"])
    success = bool(src["next.reward"][-1] > 0)
    assert got["next.success"][-1] == success and not got["next.success"][:-1].any()
    assert got["next.terminated"][-1] == success and got["next.truncated"][-1] == (not success)
    expected_human = src[intervention_column].astype(bool) if intervention_column else np.ones(n, bool)
    assert np.array_equal(got["intervention"], expected_human)


@pytest.mark.parametrize("name, cameras, intervention", [
    ("recorder_chw", {"front": "observation.images.front", "wrist": "observation.images.wrist"}, None),
    ("buffer_images", {"front": "observation.images.front"}, "complementary_info.is_intervention"),
    ("channel_last", {"top": "observation.images.top"}, "complementary_info.is_intervention"),
    ("v21", {"front": "observation.images.front"}, None),  # written by LeRobot 0.3.3
])
def test_a_dataset_written_by_lerobot_imports_with_every_value_intact(name, cameras, intervention, tmp_path):
    report = import_lerobot(FIXTURES / name / "dataset", tmp_path)
    episodes, _ = _source(name)
    assert (report.episodes, report.frames) == (len(episodes), sum(len(e["action"]) for e in episodes))
    lossless = name == "buffer_images"  # images in the parquet as PNG; the others are AV1 video
    for i, src in enumerate(episodes):
        got = _imported(tmp_path, i)
        _check_values(src, got, intervention)
        n = len(src["action"])
        for cam, key in cameras.items():
            expected, frames = _frames(src, key), got[f"observation.images.{cam}"][:n]
            assert frames.shape == expected.shape  # height x width x 3, whichever order LeRobot kept
            if lossless:
                assert np.array_equal(frames, expected)
            else:
                assert psnr(frames, expected) >= VIDEO_PSNR_FLOOR_DB, (cam, psnr(frames, expected))


def test_the_recorders_channel_first_cameras_are_read_by_their_names():
    reader = LeRobotReader(FIXTURES / "recorder_chw" / "dataset")
    assert reader.features["observation.images.front"]["shape"] == [3, 128, 128]
    assert reader.camera_sizes == {"observation.images.front": (128, 128), "observation.images.wrist": (128, 128)}


@pytest.mark.parametrize("shape, names, size", [
    ([3, 96, 128], ["channels", "height", "width"], (96, 128)),
    ([96, 128, 3], ["height", "width", "channels"], (96, 128)),
    ([3, 96, 128], None, (96, 128)),
    ([96, 128, 3], None, (96, 128)),
    ([128, 3, 96], ["width", "channel", "height"], (96, 128)),
])
def test_a_cameras_height_and_width_follow_its_names_or_where_its_channels_are(shape, names, size):
    assert camera_size("cam", {"dtype": "video", "shape": shape, "names": names}) == size


@pytest.mark.parametrize("shape, names, words", [
    ([8, 8, 3], ["height", "width", "channels"], "too small"),
    ([3, 128, 128], ["height", "width", "channels"], "128 channels"),  # the misread that made 3x3 images
    ([3, 128, 3], None, "cannot tell"),
    ([3, 128, 128], ["a", "b", "c"], "do not say"),
    ([128, 128], None, "3 dimensions"),
    ([128, 128, 4], ["height", "width", "channels"], "4 channels"),
])
def test_a_camera_feature_that_cannot_be_a_frame_is_refused_by_name(shape, names, words):
    with pytest.raises(LeRobotFormatError, match=words) as err:
        camera_size("observation.images.side", {"dtype": "video", "shape": shape, "names": names})
    assert "observation.images.side" in str(err.value)


def test_frames_of_another_size_than_declared_are_refused(tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(FIXTURES / "channel_last" / "dataset", root)
    info = json.loads((root / "meta" / "info.json").read_text())
    info["features"]["observation.images.top"]["shape"] = [96, 80, 3]
    (root / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(LeRobotFormatError, match="96x96, meta/info.json declares 96x80"):
        next(iter(LeRobotReader(root)))


def test_a_wide_camera_is_not_cropped_without_the_users_say(tmp_path, capsys):
    source = FIXTURES / "wide_camera" / "dataset"
    with pytest.raises(CropNeedsConsent, match="480x640: a centre square crop keeps 75%"):
        import_lerobot(source, tmp_path / "asked")
    assert not (tmp_path / "asked" / "meta.json").exists()  # no demos written
    preview = np.asarray(Image.open(tmp_path / "asked" / "preview_front.png"))
    assert preview.shape == (480, 640 + 8 + 480, 3)  # the frame with its crop box, and the agent's image
    assert main(["import-lerobot", str(source), "--out", str(tmp_path / "cli")]) == 2
    assert "--fit crop" in capsys.readouterr().err

    src = _source("wide_camera")[0][0]
    whole = _frames(src, "observation.images.front")
    for fit, region in (("crop", whole[:, :, 80:560]), ("squash", whole)):
        report = import_lerobot(source, tmp_path / fit, fit=fit)
        assert any("480x640" in line for line in report.lines())
        got = _imported(tmp_path / fit, 0)
        _check_values(src, got, None)
        expected = np.stack([np.asarray(Image.fromarray(f).resize((128, 128), Image.BILINEAR)) for f in region])
        assert psnr(got["observation.images.front"][:3], expected) >= VIDEO_PSNR_FLOOR_DB, fit


def test_a_crop_written_in_the_mapping_is_the_users_say(tmp_path):
    source = FIXTURES / "wide_camera" / "dataset"
    with pytest.raises(CropNeedsConsent):
        import_lerobot(source, tmp_path / "first")
    mapping = Mapping.from_json((tmp_path / "first" / "lerobot_mapping.json").read_text())
    mapping.cameras[0].crop = [100, 400, 200, 500]
    report = import_lerobot(source, tmp_path / "mine", mapping)
    assert "rows 100:400, columns 200:500 (29% of the frame)" in "\n".join(report.lines())
    src = _source("wide_camera")[0][0]
    region = _frames(src, "observation.images.front")[:, 100:400, 200:500]
    expected = np.stack([np.asarray(Image.fromarray(f).resize((128, 128), Image.BILINEAR)) for f in region])
    assert psnr(_imported(tmp_path / "mine", 0)["observation.images.front"][:3], expected) >= VIDEO_PSNR_FLOOR_DB
