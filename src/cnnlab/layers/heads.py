"""Helpers for classifier heads."""

from __future__ import annotations

from torch import nn


def resized_like(layer: nn.Linear | nn.Conv2d, out_features: int) -> nn.Linear | nn.Conv2d:
    """A freshly initialised copy of a classifier layer with ``out_features`` outputs, on the
    old layer's device and dtype (what ``reset_classifier`` needs on a GPU or meta model)."""
    w = layer.weight
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.in_features, out_features, bias=layer.bias is not None, device=w.device, dtype=w.dtype)
    if isinstance(layer, nn.Conv2d):
        return nn.Conv2d(
            layer.in_channels,
            out_features,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            bias=layer.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
    raise TypeError(f"cannot resize a {type(layer).__name__}; expected nn.Linear or nn.Conv2d")
