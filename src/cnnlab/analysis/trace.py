"""Shape traces and counts that run on the meta device.

Everything here runs the model through ``torch.func.functional_call`` with meta-device
stand-ins for its weights, so a 140M-parameter network costs no memory and no arithmetic.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ..models.base import _CHECKING, AuxForward, hooks_suspended, meta_state


class LeafRow(NamedTuple):
    """One call of a leaf module during a forward pass."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """``sum(p.numel())`` over the parameters (BatchNorm running statistics are buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _meta_run(model: nn.Module, input_size: tuple[int, ...], batch_size: int, aux: bool = False) -> None:
    x = torch.empty((batch_size, *input_size), device="meta")
    runner = AuxForward(model) if aux else model
    token = _CHECKING.set(True)  # the shape check would trace again
    try:
        functional_call(runner, meta_state(runner), (x,))
    finally:
        _CHECKING.reset(token)


def count_macs(model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1) -> int:
    """Conv and linear multiply-accumulates of one forward pass (what the ResNet paper calls
    "FLOPs (multiply-adds)"): ``torch.utils.flop_counter`` FLOPs / 2, on the meta device."""
    was_training = model.training
    model.eval()
    try:
        with hooks_suspended(model), FlopCounterMode(display=False) as counter:
            _meta_run(model, input_size, batch_size)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def leaf_trace(
    model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1, aux: bool = False
) -> list[LeafRow]:
    """Every leaf-module call of one eval-mode forward pass, in execution order; with
    ``aux=True``, of one training-mode ``forward_aux`` pass (auxiliary heads included)."""
    names = {m: n for n, m in model.named_modules()}
    rows: list[LeafRow] = []

    def record(module: nn.Module, args: tuple, out: object) -> None:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LeafRow(names[module], type(module).__name__, shape[1:], own))

    was_training = model.training
    model.train(aux)
    try:
        with hooks_suspended(model):  # the user's hooks stay out; ours go when it ends
            for m in model.modules():
                if not list(m.children()):
                    m.register_forward_hook(record)
            _meta_run(model, input_size, batch_size, aux=aux)
    finally:
        model.train(was_training)
    return rows
