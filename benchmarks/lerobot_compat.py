"""hilserl's LeRobot export checked by LeRobot's own code, and the two installed together.

Run in the LeRobot side environment (``bash scripts/setup.sh --lerobot`` makes ``.venv-lerobot``: hilserl
and LeRobot 0.4.4 in one virtual environment), not in CI::

    MUJOCO_GL=egl .venv-lerobot/bin/python -m benchmarks.lerobot_compat

It records simulated demos, exports them with ``hilserl export-lerobot`` and then, with LeRobot:

1. loads the export with ``LeRobotDataset`` and reads every frame: actions, states, rewards and flags
   equal to the demos', the task string, ``meta.get_task_index``;
2. appends an episode with ``add_frame`` and ``save_episode`` (what resuming a recording does);
3. deletes an episode with ``lerobot-edit-dataset`` (its command line);
4. merges two exports with ``merge_datasets``;
5. and reads what LeRobot wrote in 2-4 back with hilserl's importer.

Last, ``pip install --dry-run -e . lerobot==<version>`` in a fresh virtual environment shows that the
two resolve together. The result goes to ``benchmarks/results/lerobot_compat.json``; the exit status
is non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from benchmarks.common import write_result

ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "hilserl/export"


def _record_and_export(folder: Path, episodes: int, seed: int) -> Path:
    from hilserl.collect.demos import record_demos
    from hilserl.config import EnvConfig
    from hilserl.data.lerobot_convert import export_lerobot

    record_demos(EnvConfig(), episodes, folder / "demos", seed=seed)
    export_lerobot(folder / "demos", folder / "export")
    return folder / "export"


def _demo(folder: Path, i: int) -> dict[str, np.ndarray]:
    with np.load(folder / "demos" / f"episode_{i:06d}.npz") as ep:
        return {k: ep[k] for k in ep.files}


def check_load(work: Path, dataset_cls) -> str:
    """Every frame of the export through LeRobotDataset, against the demos it came from."""
    from hilserl.data.lerobot_convert import DEFAULT_TASK

    ds = dataset_cls(REPO_ID, root=work / "a" / "export", video_backend="pyav")
    assert ds.meta.get_task_index(DEFAULT_TASK) == 0, ds.meta.get_task_index(DEFAULT_TASK)
    demos = [_demo(work / "a", i) for i in range(ds.meta.total_episodes)]
    assert len(ds) == sum(len(d["action"]) for d in demos), (len(ds), [len(d["action"]) for d in demos])
    row = 0
    for demo in demos:
        for t in range(len(demo["action"])):
            item = ds[row]
            assert item["task"] == DEFAULT_TASK, item["task"]
            action = demo["action"][t].copy()
            action[-1] += 1.0  # the gripper as LeRobot's class
            assert np.allclose(item["action"].numpy(), action), (row, item["action"], action)
            assert np.allclose(item["observation.state"].numpy(), demo["observation.state"][t])
            assert float(item["next.reward"]) == float(demo["next.reward"][t])
            assert bool(item["complementary_info.is_intervention"]) == bool(demo["intervention"][t])
            image = item["observation.images.front"]
            assert tuple(image.shape) == (3, 128, 128), image.shape
            row += 1
    stats = ds.meta.stats
    assert {"q01", "q99"} <= set(stats["action"]), sorted(stats["action"])
    return f"{row} frames read, task {DEFAULT_TASK!r} at index 0, stats with quantiles"


def check_append(work: Path, dataset_cls) -> str:
    """One more episode appended with LeRobot's writer, as resuming a recording does."""
    root = work / "appended"
    shutil.copytree(work / "a" / "export", root)
    ds = dataset_cls(REPO_ID, root=root, video_backend="pyav")
    before_episodes, before_frames = ds.meta.total_episodes, ds.meta.total_frames
    source = dataset_cls(REPO_ID, root=work / "a" / "export", video_backend="pyav")
    start, end = (int(source.meta.episodes[0][k]) for k in ("dataset_from_index", "dataset_to_index"))
    for i in range(start, end):
        item = source[i]
        frame = {k: item[k] for k in ds.meta.features if k not in
                 ("timestamp", "frame_index", "episode_index", "index", "task_index")}
        for key in ds.meta.video_keys:
            frame[key] = frame[key].permute(1, 2, 0)  # as a camera gives it, height x width x channels
        for key, feature in ds.meta.features.items():
            if key in frame and feature["dtype"] != "video" and tuple(feature["shape"]) == (1,):
                frame[key] = frame[key].reshape(1)
        ds.add_frame({**frame, "task": item["task"]})
    ds.save_episode()
    ds.finalize()
    again = dataset_cls(REPO_ID, root=root, video_backend="pyav")
    assert again.meta.total_episodes == before_episodes + 1, again.meta.total_episodes
    assert again.meta.total_frames == before_frames + (end - start), again.meta.total_frames
    assert again[len(again) - 1]["task"] == source[0]["task"]
    return f"{before_episodes} -> {again.meta.total_episodes} episodes, {before_frames} -> {again.meta.total_frames} frames"


def check_delete(work: Path, dataset_cls) -> str:
    """Episode 0 deleted with lerobot-edit-dataset, into a new dataset."""
    root = work / "to_delete"
    shutil.copytree(work / "a" / "export", root)
    before = dataset_cls(REPO_ID, root=root, video_backend="pyav").meta
    command = [str(Path(sys.executable).parent / "lerobot-edit-dataset"), f"--repo_id={REPO_ID}", f"--root={root}",
               "--new_repo_id=hilserl/deleted", "--operation.type=delete_episodes", "--operation.episode_indices=[0]"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = root / "hilserl" / "deleted"
    after = dataset_cls("hilserl/deleted", root=out, video_backend="pyav").meta
    first = int(before.episodes[0]["length"])
    assert after.total_episodes == before.total_episodes - 1, after.total_episodes
    assert after.total_frames == before.total_frames - first, after.total_frames
    shutil.move(str(out), str(work / "deleted"))
    return f"{before.total_episodes} -> {after.total_episodes} episodes, {before.total_frames} -> {after.total_frames} frames"


def check_merge(work: Path, dataset_cls) -> str:
    """Two exports merged with merge_datasets."""
    from lerobot.datasets.dataset_tools import merge_datasets

    a = dataset_cls(REPO_ID, root=work / "a" / "export", video_backend="pyav")
    b = dataset_cls("hilserl/export_b", root=work / "b" / "export", video_backend="pyav")
    merged = merge_datasets([a, b], output_repo_id="hilserl/merged", output_dir=work / "merged")
    assert merged.meta.total_episodes == a.meta.total_episodes + b.meta.total_episodes
    assert merged.meta.total_frames == a.meta.total_frames + b.meta.total_frames
    last = merged[len(merged) - 1]
    b_last = b[len(b) - 1]
    assert np.allclose(last["action"].numpy(), b_last["action"].numpy())
    return f"{a.meta.total_episodes} + {b.meta.total_episodes} episodes -> {merged.meta.total_episodes}"


def check_read_back(work: Path) -> str:
    """What LeRobot's tools wrote, read with hilserl's importer."""
    from hilserl.data.lerobot_convert import import_lerobot

    counts = {}
    for name in ("appended", "deleted", "merged"):
        report = import_lerobot(work / name, work / f"{name}_imported")
        counts[name] = report.episodes
    return ", ".join(f"{k}: {v} episodes" for k, v in counts.items())


def check_resolution(lerobot_version: str) -> str:
    """``pip install --dry-run -e . lerobot==VERSION`` in a fresh virtual environment."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "venv", f"{tmp}/venv"], check=True)
        done = subprocess.run([f"{tmp}/venv/bin/python", "-m", "pip", "install", "--dry-run", "--quiet", "--report",
                               f"{tmp}/report.json", "-e", str(ROOT), f"lerobot=={lerobot_version}"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(Path(f"{tmp}/report.json").read_text())
    versions = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    return f"resolves: hilserl {versions.get('hilserl')}, lerobot {versions.get('lerobot')}, torch {versions.get('torch')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-resolution", action="store_true", help="leave out the pip dry run (needs PyPI)")
    args = parser.parse_args(argv)
    try:
        import lerobot
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
    except ImportError:
        print("lerobot_compat: run it in the LeRobot side environment: bash scripts/setup.sh --lerobot, then "
              "MUJOCO_GL=egl .venv-lerobot/bin/python -m benchmarks.lerobot_compat", file=sys.stderr)
        return 2
    import torch

    checks: dict[str, dict] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("recording and exporting two demo sets ...", flush=True)
        _record_and_export(work / "a", 3, seed=0)
        _record_and_export(work / "b", 2, seed=1)
        steps = [("load", lambda: check_load(work, LeRobotDataset)),
                 ("append", lambda: check_append(work, LeRobotDataset)),
                 ("delete", lambda: check_delete(work, LeRobotDataset)),
                 ("merge", lambda: check_merge(work, LeRobotDataset)),
                 ("read_back", lambda: check_read_back(work))]
        if not args.skip_resolution:
            steps.append(("resolution", lambda: check_resolution(lerobot.__version__)))
        for name, step in steps:
            try:
                detail, ok = step(), True
            except Exception as exc:  # a failed check is recorded, and the next one still runs
                detail, ok = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}", False
            checks[name] = {"ok": ok, "detail": detail}
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    result = {"lerobot": lerobot.__version__, "torch": torch.__version__, "python": platform.python_version(),
              "checks": checks, "wall_seconds": round(time.perf_counter() - started, 1),
              "passed": all(c["ok"] for c in checks.values())}
    write_result("lerobot_compat", result)
    print(f"{sum(c['ok'] for c in checks.values())} of {len(checks)} checks passed")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
