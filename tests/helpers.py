"""Shared test helpers."""

from __future__ import annotations

import torch

import cnnlab
from cnnlab.registry import model_card


def small_model(name: str, **overrides):
    """A registered model at its card's test options, with the matching input batch."""
    card = model_card(name)
    kwargs = {**card.test_kwargs, **overrides}
    model = cnnlab.create_model(name, **kwargs)
    size = card.test_input_size or card.input_size
    size = (model.in_chans, *size[1:])
    return model, torch.randn(2, *size)


def meta_model(name: str, **kwargs):
    """A registered model on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return cnnlab.create_model(name, **kwargs)
