"""Images converted to the channels a model reads: grey replicated to RGB, RGB reduced to
luma. Used by training (fine-tunes), evaluation and transfer alike."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .datasets import ImageTensors

# ITU-R 601-2 luma, as PIL's convert("L") computes it.
LUMA = (0.299, 0.587, 0.114)


def channel_conversion(have: int, channels: int, model: str = "the model", dataset: str = "the dataset") -> str | None:
    """``None`` when the channels match, ``"replicate"`` (grey to RGB), ``"luma"`` (RGB to grey)."""
    if have == channels:
        return None
    if (have, channels) == (1, 3):
        return "replicate"
    if (have, channels) == (3, 1):
        return "luma"
    raise ConfigError(
        f"{dataset} has {have}-channel images and {model} reads {channels}; cnnlab converts only grey <-> RGB"
    )


def match_channels(data: Any, channels: int) -> Any:
    """``data`` with images converted to ``channels`` (see :func:`channel_conversion`);
    unchanged when they already match. In-memory sets only: folder sets are read as RGB."""
    if not isinstance(data, ImageTensors):
        if channels != 3:
            raise ConfigError(
                f"{data.info.name} is read from disk as RGB and the model reads {channels} channel(s); "
                "convert the images, or start from a 3-channel model"
            )
        return data
    conversion = channel_conversion(data.images.shape[1], channels, dataset=data.info.name)
    if conversion is None:
        return data
    if conversion == "replicate":
        return ImageTensors(data.images.expand(-1, 3, -1, -1).contiguous(), data.labels, data.info)
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    grey = torch.empty((data.images.shape[0], 1, *data.images.shape[2:]), dtype=torch.uint8)
    for start in range(0, len(grey), 8192):  # bounded float memory for 50,000 images
        chunk = (data.images[start : start + 8192].float() * weights).sum(1, keepdim=True)
        grey[start : start + 8192] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return ImageTensors(grey, data.labels, data.info)
