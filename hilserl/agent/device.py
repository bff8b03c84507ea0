"""Where the learner's tensors live: ``agent.device`` resolved to a torch device, with a clear refusal
when the named accelerator is not there."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailable(ValueError):
    """``agent.device`` names an accelerator this machine or this torch build lacks."""


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA if present, else Apple's MPS if present, else the CPU."""
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceUnavailable(f"agent.device = 'cuda', but torch sees no CUDA device (torch {torch.__version__}, "
                                f"{build}): set agent.device=cpu or auto")
    if name == "mps" and not mps:
        raise DeviceUnavailable("agent.device = 'mps', but torch sees no Apple GPU: set agent.device=cpu or auto")
    if name not in DEVICES:
        raise DeviceUnavailable(f"agent.device = {name!r} is unknown; allowed {', '.join(DEVICES)}")
    return torch.device(name)
