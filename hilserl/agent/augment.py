"""Random-crop augmentation with edge padding (HIL-SERL's ``batched_random_crop``, padding 4).

Padding by edge replication and cropping back to the original size is a random shift of up to
``padding`` pixels per axis, drawn per image. It is done by index gathering, so it works on uint8
images without a float copy.
"""

from __future__ import annotations

import torch


def crop_with_offsets(images: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """Shift each image (B, H, W, C) by ``offsets`` (B, 2) in [0, 2*padding], edges replicated."""
    b, h, w = images.shape[:3]
    offsets = offsets.to(images.device)
    rows = (torch.arange(h, device=images.device)[None] + offsets[:, :1] - padding).clamp(0, h - 1)
    cols = (torch.arange(w, device=images.device)[None] + offsets[:, 1:] - padding).clamp(0, w - 1)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return images[batch, rows[:, :, None], cols[:, None, :]]


def random_offsets(batch: int, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Offsets drawn on the generator's device (the CPU without one)."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(0, 2 * padding + 1, (batch, 2), generator=generator, device=device)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    if padding == 0:
        return images
    return crop_with_offsets(images, random_offsets(images.shape[0], padding, generator), padding)
