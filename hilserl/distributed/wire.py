"""Conversions between the package's objects and the protocol's messages (``proto/learner.proto``).

Arrays travel as raw bytes with their dtype and shape; policy parameters as one safetensors blob cut
into chunks, so no message comes near the channel's size limit.
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from hilserl.data.transition import Observation, Transition
from hilserl.distributed.proto import learner_pb2 as pb

PARAMETER_CHUNK_BYTES = 1 << 20
"""1 MiB per parameters message."""
MAX_MESSAGE_BYTES = 8 << 20
"""The channel's message size limit, both ways: a transition with two 128x128 frames (obs and next
obs) is about 200 KB, a parameters chunk 1 MiB; anything near 8 MiB is malformed and refused."""
ALLOWED_DTYPES = {"uint8", "float32", "float16", "float64", "int64", "int32", "bool"}


class MalformedMessage(ValueError):
    pass


def tensor_to_pb(name: str, array: np.ndarray) -> pb.Tensor:
    array = np.ascontiguousarray(array)
    return pb.Tensor(name=name, dtype=array.dtype.str.lstrip("<|="), shape=list(array.shape), data=array.tobytes())


def tensor_from_pb(t: pb.Tensor) -> np.ndarray:
    dtype = np.dtype(t.dtype)
    if dtype.name not in ALLOWED_DTYPES:
        raise MalformedMessage(f"tensor {t.name!r}: dtype {t.dtype!r} is not allowed")
    expected = int(np.prod(t.shape, dtype=np.int64)) * dtype.itemsize
    if any(s < 0 for s in t.shape) or expected != len(t.data):
        raise MalformedMessage(f"tensor {t.name!r}: shape {list(t.shape)} of {t.dtype} needs {expected} bytes, got {len(t.data)}")
    return np.frombuffer(t.data, dtype=dtype).reshape(tuple(t.shape)).copy()


def _obs_to_pb(obs: Observation) -> list[pb.Tensor]:
    return [tensor_to_pb(k, v) for k, v in obs.items()]


def _obs_from_pb(tensors) -> Observation:
    return {t.name: tensor_from_pb(t) for t in tensors}


def transition_to_pb(t: Transition) -> pb.Transition:
    return pb.Transition(
        observation=_obs_to_pb(t.observation), next_observation=_obs_to_pb(t.next_observation),
        action=tensor_to_pb("action", np.asarray(t.action, np.float32)), reward=float(t.reward),
        terminated=t.terminated, truncated=t.truncated, intervened=t.intervened, success=t.success,
        grasp_penalty=float(t.grasp_penalty),
    )


def transition_from_pb(m: pb.Transition) -> Transition:
    return Transition(
        observation=_obs_from_pb(m.observation), action=tensor_from_pb(m.action), reward=float(m.reward),
        next_observation=_obs_from_pb(m.next_observation), terminated=m.terminated, truncated=m.truncated,
        intervened=m.intervened, success=m.success, grasp_penalty=float(m.grasp_penalty),
    )


def parameters_to_chunks(state: dict[str, torch.Tensor], version: int) -> list[pb.ParametersChunk]:
    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in state.items()})
    pieces = [blob[i:i + PARAMETER_CHUNK_BYTES] for i in range(0, len(blob), PARAMETER_CHUNK_BYTES)] or [b""]
    return [pb.ParametersChunk(version=version, index=i, total=len(pieces), data=p) for i, p in enumerate(pieces)]


def parameters_from_chunks(chunks: list[pb.ParametersChunk]) -> tuple[int, dict[str, torch.Tensor]]:
    if not chunks:
        raise MalformedMessage("no parameter chunks")
    chunks = sorted(chunks, key=lambda c: c.index)
    total, version = chunks[0].total, chunks[0].version
    if [c.index for c in chunks] != list(range(total)) or any(c.version != version for c in chunks):
        raise MalformedMessage(f"parameter chunks of version {version} are incomplete or mixed")
    return version, load_safetensors(b"".join(c.data for c in chunks))
