"""Shape traces that run on the meta device.

Everything here runs the model with meta-device stand-ins for its weights
(:func:`cnnlab.tracing.substituted`), so a 140M-parameter network costs no memory and no
arithmetic, and the model itself is never written into.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..tracing import left_as_found, meta_call


class LeafRow(NamedTuple):
    """One call of a leaf module during a forward pass."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """``sum(p.numel())`` over the parameters (BatchNorm running statistics are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def leaf_trace(model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1, aux: bool = False) -> list[LeafRow]:
    """Every leaf-module call of one eval-mode forward pass, in execution order; with
    ``aux=True``, of one training-mode ``forward_aux`` pass (auxiliary heads included)."""
    names = {m: n for n, m in model.named_modules()}
    rows: list[LeafRow] = []

    def record(module: nn.Module, args: tuple, out: object) -> None:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LeafRow(names[module], type(module).__name__, shape[1:], own))

    with left_as_found(model):  # the user's hooks stay out; ours go when it ends
        model.train(aux)
        for m in model.modules():
            if not list(m.children()):
                m.register_forward_hook(record)
        x = torch.empty((batch_size, *input_size), device="meta")
        meta_call(model, model.forward_aux if aux else model, x)
    return rows
