"""The paper's facts, asserted on the meta device (no memory even for VGG-19)."""

from __future__ import annotations

import pytest

import cnnlab
from tests.helpers import meta_model

MODELS = cnnlab.list_models()


# The exact parameter and multiply-add counts of every card are held, with the peer
# (FlopCounterMode on meta) and cnnlab's own analysis, in tests/analysis/test_capture.py.


@pytest.mark.parametrize("name", MODELS)
def test_default_input_runs_on_meta(name):
    card = cnnlab.model_card(name)
    model = meta_model(name).eval()
    import torch

    out = model(torch.empty(1, *card.input_size, device="meta"))
    assert out.shape == (1, card.num_classes)
