"""The paper's numbers, asserted on the meta device (no memory even for VGG-19)."""

from __future__ import annotations

import pytest

import cnnlab
from cnnlab.analysis import count_params
from tests.helpers import flop_counter_macs, meta_model

MODELS = cnnlab.list_models()


@pytest.mark.parametrize("name", MODELS)
def test_params_exact(name):
    card = cnnlab.model_card(name)
    model = meta_model(name)
    assert next(model.parameters()).is_meta
    assert count_params(model) == card.params


@pytest.mark.parametrize("name", [n for n in MODELS if cnnlab.model_card(n).macs is not None])
def test_macs_exact(name):
    """The card's figure, counted by the peer (FlopCounterMode on meta); cnnlab's own count
    equals both in tests/analysis/test_capture.py."""
    card = cnnlab.model_card(name)
    assert flop_counter_macs(meta_model(name), card.input_size) == card.macs


@pytest.mark.parametrize("name", MODELS)
def test_default_input_runs_on_meta(name):
    card = cnnlab.model_card(name)
    model = meta_model(name).eval()
    import torch

    out = model(torch.empty(1, *card.input_size, device="meta"))
    assert out.shape == (1, card.num_classes)
