"""Checkpoints that resume exactly: networks, targets, optimisers, temperature, counters, random
states, both buffers and the config.

A checkpoint is a folder ``ckpt_NNNNNNNN/``: ``state.pt`` (everything but the buffers: tensors and
plain data only, read with ``weights_only``, so a crafted file cannot run code), one ``.npy`` per
buffer field, streamed from the buffers' storage (a buffer of images must not be copied in memory to
be saved), and ``manifest.json``, each file's size and checksum, written last. It is written as
``ckpt_NNNNNNNN.tmp/`` and renamed into place, so a crash mid-write (even kill -9) leaves the
previous checkpoint whole; one that came after the manifest was written (the new checkpoint whole,
not yet renamed) leaves it for the resume to put in place. The last ``keep`` are kept. A checkpoint
damaged later (a truncated or altered file) fails its checksums and is skipped, with the file
named, for the newest one that passes. The policy alone (``policy.safetensors`` + ``policy.json``) is
exported beside them for acting and ``hilserl eval``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from hilserl.config import Config, to_dict
from hilserl.data.replay_buffer import ReplayBuffer

CHECKPOINT_PATTERN = re.compile(r"^ckpt_(\d{8})$")
STATE_FILE = "state.pt"
MANIFEST = "manifest.json"
POLICY_FILE = "policy.safetensors"
KEEP_LAST = 3

SHAPE_FIELDS = (
    "env.state_only", "env.cameras", "agent.hidden_dims", "agent.use_layer_norm", "agent.critic_ensemble_size",
    "agent.encoder.backbone", "agent.encoder.num_spatial_features", "agent.encoder.image_latent_dim",
    "agent.encoder.state_latent_dim",
)
"""Config fields that change the networks' shapes: a resume that changes them is refused."""
ENV_FIELDS = ("env.kind",)
"""Config fields that name another env: a resume that changes them is refused."""


class ResumeRefused(ValueError):
    pass


class CheckpointNotWritten(OSError):
    """A checkpoint could not be written (a full disk, a folder made read-only); the previous one is kept."""


class CheckpointDamaged(ValueError):
    """A checkpoint's file is missing, truncated, altered, or holds more than tensors and plain data."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: Path, updates: int) -> Path:
    """Where the checkpoint of a run at ``updates`` learner updates is (or would be) written."""
    return checkpoint_dir(run_dir) / f"ckpt_{updates:08d}"


def run_folder_of(path: Path) -> Path:
    """The run folder of what a user may name to evaluate: the run folder itself, one of its
    ``checkpoints/ckpt_*`` folders or its ``checkpoints/policy.safetensors``."""
    path = Path(path)
    return path if path.is_dir() and not (path / STATE_FILE).exists() else path.parent.parent


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (``.tmp`` and ``.discarded`` leftovers of a crash are
    ignored)."""
    folder = checkpoint_dir(run_dir)
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := CHECKPOINT_PATTERN.match(p.name)) and (p / STATE_FILE).exists()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(run_dir: Path, state: dict[str, Any], step: int, policy: dict[str, torch.Tensor],
                     cfg: Config, buffers: dict[str, ReplayBuffer] | None = None, keep: int = KEEP_LAST,
                     leave_newest: dict[str, int] | None = None) -> Path:
    """``leave_newest``: per buffer, the rows added last that the checkpoint leaves out (those of
    episodes not finished yet, which a resumed actor runs again)."""
    folder = checkpoint_dir(run_dir)
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(f"{final.name}.tmp")
    try:
        return _write_checkpoint(run_dir, folder, final, tmp, state, policy, cfg, buffers, keep, leave_newest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(run_dir)
        kept = f"the previous one, {previous}, is kept" if previous else "no earlier checkpoint exists"
        raise CheckpointNotWritten(f"checkpoint {final.name} could not be written ({exc.strerror or exc}); "
                                   f"{kept}") from exc


def _write_checkpoint(run_dir: Path, folder: Path, final: Path, tmp: Path, state: dict[str, Any],
                      policy: dict[str, torch.Tensor], cfg: Config, buffers: dict[str, ReplayBuffer] | None,
                      keep: int, leave_newest: dict[str, int] | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    for leftover in folder.glob("*.discarded"):  # a kill -9 while one was being removed
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir()
    with open(tmp / STATE_FILE, "wb") as f:
        torch.save({**state, "config": to_dict(cfg)}, f)
        f.flush()
        os.fsync(f.fileno())
    for name, buffer in (buffers or {}).items():
        buffer.save_rows(tmp, f"buffer_{name}", (leave_newest or {}).get(name, 0))
    for path in tmp.iterdir():
        _fsync(path)
    manifest = {"files": {p.name: {"bytes": p.stat().st_size, "blake2b": _digest(p)} for p in sorted(tmp.iterdir())}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    _fsync(tmp / MANIFEST)
    if final.exists():  # the same update checkpointed twice (a stop right after one)
        _discard(final)
    os.replace(tmp, final)
    export_policy(policy, cfg, folder / POLICY_FILE, state.get("layout"))
    for old in list_checkpoints(run_dir)[:-keep]:
        _discard(old)
    return final


def complete_interrupted(run_dir: Path, say: Callable[[str], None] = print) -> list[Path]:
    """Put in place each ``ckpt_N.tmp`` that was whole when its write was interrupted (its manifest
    written and every file matching it) and has no ``ckpt_N`` beside it: a kill between the manifest
    and the rename, or, when the same update was checkpointed twice, between removing the first and
    renaming the second. Only a run's writer may call it (the resume), never a reader beside a running
    learner, whose own rename would then fail. Returns the checkpoints put in place."""
    folder = checkpoint_dir(run_dir)
    done = []
    for tmp in sorted(folder.glob("ckpt_*.tmp")) if folder.exists() else []:
        final = tmp.with_name(tmp.name.removesuffix(".tmp"))
        if final.exists() or not CHECKPOINT_PATTERN.match(final.name) or not (tmp / MANIFEST).exists():
            continue
        if damage(tmp) is None:
            os.replace(tmp, final)
            say(f"checkpoint {final.name} was whole when its write was interrupted: put in place")
            done.append(final)
    return done


def _discard(folder: Path) -> None:
    """Delete a checkpoint folder so that no moment of it looks like a checkpoint: renamed out of the
    checkpoints' names first (atomic), then removed. Removed in place, a kill -9 midway left a folder
    with ``state.pt`` but no manifest and half its buffer files, which a resume took for whole."""
    gone = folder.with_name(f"{folder.name}.discarded")
    shutil.rmtree(gone, ignore_errors=True)
    os.replace(folder, gone)
    shutil.rmtree(gone, ignore_errors=True)


def _digest(path: Path) -> str:
    with open(path, "rb") as f:  # read in chunks: a buffer file is gigabytes
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def damage(folder: Path, only: tuple[str, ...] | None = None) -> str | None:
    """What is wrong with a checkpoint folder's files (or those named in ``only``) against its
    manifest, or None. A folder without a manifest (written by an older hilserl) is taken as it is."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.exists():
        return None
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError) as exc:
        return f"{manifest} is unreadable ({exc})"
    for name, expected in files.items():
        if only is not None and name not in only:
            continue
        path = folder / name
        if not path.exists():
            return f"{path} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{path} has {path.stat().st_size} bytes, {expected['bytes']} were written"
        if _digest(path) != expected["blake2b"]:
            return f"{path} does not match its checksum (altered since written)"
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``state.pt`` of a checkpoint folder (the buffers stay on disk until ``load_buffers``), as
    tensors and plain data only: anything else in it is refused, never run."""
    file = Path(path) / STATE_FILE
    try:
        return torch.load(file, weights_only=True, map_location="cpu")  # whatever device wrote it
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... on a bad file
        raise CheckpointDamaged(f"{file} cannot be read as a checkpoint: {str(exc).splitlines()[0]}") from exc


def usable_checkpoint(run_dir: Path, say: Callable[[str], None] = print,
                      only: tuple[str, ...] | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint whose files (or those named in ``only``) pass their checksums and whose
    state reads, with that state; each one skipped is named with what is wrong. None when no
    checkpoint is usable."""
    for folder in reversed(list_checkpoints(run_dir)):
        problem = damage(folder, only)
        if problem is None:
            try:
                return folder, read_checkpoint(folder)
            except CheckpointDamaged as exc:
                problem = str(exc)
        say(f"skipping checkpoint {folder.name}: {problem}")
    return None


def load_buffers(path: Path, buffers: dict[str, ReplayBuffer]) -> None:
    for name, buffer in buffers.items():
        try:
            buffer.load_rows(Path(path), f"buffer_{name}")
        except FileNotFoundError as exc:
            raise ResumeRefused(f"{path} holds its {name} buffer in another layout than this version of hilserl "
                                f"reads ({Path(exc.filename).name} is missing; buffers of older versions stored "
                                "each frame twice): continue it with the version that wrote it") from None


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` by a rename: a reader sees the whole file or none (a port file, say)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def export_policy(policy: dict[str, torch.Tensor], cfg: Config, path: Path,
                  layout: dict[str, Any] | None = None) -> Path:
    """The policy's parameters (safetensors, with the env's ``layout`` in its metadata) and the config
    to rebuild it (JSON beside it), each written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    metadata = {"layout": json.dumps(layout)} if layout else None
    save_file({k: v.detach().cpu().contiguous() for k, v in policy.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    write_atomically(path.with_suffix(".json"), json.dumps(to_dict(cfg), indent=2) + "\n")
    return path


def rng_state() -> dict[str, Any]:
    """The global torch and numpy random states, as tensors and plain data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: data}


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``field: stored -> current`` for every field that differs."""
    a, b = _flatten(stored), _flatten(current)
    return [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_resume(stored: dict[str, Any], current: Config, use: str = "a resume") -> list[str]:
    """The differences between a run's stored config and the one it resumes with (or that ``use``, an
    evaluation say, runs its checkpoint with); refused when one changes the env (its data would join
    another task's) or the networks' shapes (the checkpoint's weights would not fit)."""
    diffs = config_differences(stored, to_dict(current))

    def touching(fields: tuple[str, ...]) -> list[str]:
        return [d for d in diffs if any(d.startswith(f + ":") or d.startswith(f + ".") for f in fields)]

    if env := touching(ENV_FIELDS):
        raise ResumeRefused(f"the run was trained on another env ({'; '.join(env)}): {use} continues the "
                            "run's own env; start a new run (another --run-dir) for this one")
    if shape := touching(SHAPE_FIELDS):
        raise ResumeRefused(f"the config changes the networks' shapes, so the checkpoint cannot serve {use}: "
                            + "; ".join(shape))
    return diffs
