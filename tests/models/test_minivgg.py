"""MiniVGGNet (Rosebrock 2017, Starter Bundle): the book's table, Keras' counting, options."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params
from cnnlab.errors import ConfigError, InputShapeError
from tests.helpers import meta_model


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_per_layer_params_from_the_table():
    # CONV: 3*3*C_in*K weights + K biases; BN: K scales + K shifts (Keras keeps conv biases).
    m = meta_model("minivgg")
    expected = {
        "conv1": 3 * 3 * 3 * 32 + 32 + 2 * 32,
        "conv2": 3 * 3 * 32 * 32 + 32 + 2 * 32,
        "conv3": 3 * 3 * 32 * 64 + 64 + 2 * 64,
        "conv4": 3 * 3 * 64 * 64 + 64 + 2 * 64,
        "fc1": 8 * 8 * 64 * 512 + 512 + 2 * 512,
        "fc2": 512 * 10 + 10,
    }
    assert {k: _own_params(getattr(m, k)) for k in expected} == expected
    assert sum(expected.values()) == 2_169_770 == count_params(m)


def test_keras_summary_counts_the_batchnorm_moving_statistics():
    m = meta_model("minivgg")
    stats = sum(
        mod.running_mean.numel() + mod.running_var.numel()
        for mod in m.modules()
        if isinstance(mod, nn.modules.batchnorm._BatchNorm)
    )
    assert stats == 2 * (32 + 32 + 64 + 64 + 512) == 1_408
    assert count_params(m) + stats == 2_171_178  # Keras' "Total params"
    assert "2,171,178" in cnnlab.model_card("minivgg").paper_params


def test_row_output_shapes():
    m = meta_model("minivgg").eval()
    seen = {}
    names = ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "fc1", "fc2")
    for name in names:
        getattr(m, name).register_forward_hook(lambda mod, a, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    m(torch.empty(1, 3, 32, 32, device="meta"))
    assert seen == {
        "conv1": (32, 32, 32),
        "conv2": (32, 32, 32),
        "pool1": (32, 16, 16),
        "conv3": (64, 16, 16),
        "conv4": (64, 16, 16),
        "pool2": (64, 8, 8),
        "fc1": (512,),
        "fc2": (10,),
    }


def test_order_option_moves_batchnorm_and_keeps_the_count():
    book = meta_model("minivgg")
    assert [n for n, _ in book.conv1.named_children()] == ["conv", "act", "bn"]
    assert [n for n, _ in book.fc1.named_children()] == ["linear", "act", "bn"]
    other = meta_model("minivgg", order="conv-bn-act")
    assert [n for n, _ in other.conv3.named_children()] == ["conv", "bn", "act"]
    assert [n for n, _ in other.fc1.named_children()] == ["linear", "bn", "act"]
    assert count_params(other) == 2_169_770
    assert all(getattr(other, f"conv{i}").conv.bias is not None for i in range(1, 5))


def test_order_changes_the_function():
    torch.manual_seed(0)
    a = cnnlab.create_model("minivgg").eval()
    b = cnnlab.create_model("minivgg", order="conv-bn-act").eval()
    b.load_state_dict(a.state_dict())
    # Shift the BN statistics so BN before ReLU and after ReLU cannot agree.
    for m in (a, b):
        m.conv1.bn.running_mean.fill_(0.3)
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(a(x), b(x))


def test_unknown_order_is_refused():
    with pytest.raises(ConfigError, match="'bn-act-conv'.*conv-act-bn, conv-bn-act"):
        cnnlab.create_model("minivgg", order="bn-act-conv")


@pytest.mark.parametrize(
    "options, message", [({"bn_eps": -1e-3}, "bn_eps.*-0.001"), ({"bn_momentum": 2}, "bn_momentum.*2")]
)
def test_bad_batchnorm_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        cnnlab.create_model("minivgg", **options)


def test_keras_batchnorm_dropout_and_init():
    m = cnnlab.create_model("minivgg")
    bns = [mod for mod in m.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 5 and all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)
    assert [m.dropout1.p, m.dropout2.p, m.dropout3.p] == [0.25, 0.25, 0.5]
    for layer in (m.conv2.conv, m.fc1.linear, m.fc2):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))  # glorot_uniform
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0
    m.reset_classifier(5)
    assert torch.count_nonzero(m.fc2.bias) == 0


def test_fixed_fc_rejects_other_sizes():
    m = cnnlab.create_model("minivgg")
    with pytest.raises(InputShapeError, match="fc1"):
        m(torch.randn(1, 3, 64, 64))
