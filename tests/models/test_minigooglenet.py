"""MiniGoogLeNet (Zhang et al. 2017 "Inception (small)", the course's Keras build)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params
from cnnlab.models.minigooglenet import MINIGOOGLENET_TABLE, Conv, Downsample, Inception
from tests.helpers import meta_model

# Output (channels, height, width) of every row on 32x32: "same" convs keep the size, the
# "valid" 3x3/2 downsampling gives (32 - 3) // 2 + 1 = 15 and (15 - 3) // 2 + 1 = 7.
ROW_SHAPES = {
    "conv1": (96, 32, 32),
    "inception1a": (64, 32, 32),
    "inception1b": (80, 32, 32),
    "downsample1": (160, 15, 15),
    "inception2a": (160, 15, 15),
    "inception2b": (160, 15, 15),
    "inception2c": (160, 15, 15),
    "inception2d": (144, 15, 15),
    "downsample2": (240, 7, 7),
    "inception3a": (336, 7, 7),
    "inception3b": (336, 7, 7),
}


def _conv_module(c_in: int, k: int, kernel: int) -> int:
    # Keras Conv2D weights + bias, BatchNormalization gamma + beta.
    return c_in * kernel * kernel * k + k + 2 * k


def test_layout_table_is_the_papers():
    kinds = [type(r).__name__[0] for r in MINIGOOGLENET_TABLE]  # Conv, Inception, Downsample
    assert "".join(kinds) == "CIIDIIIIDII"
    assert [tuple(r[1:]) for r in MINIGOOGLENET_TABLE if isinstance(r, Inception)] == [
        (32, 32),
        (32, 48),
        (112, 48),
        (96, 64),
        (80, 80),
        (48, 96),
        (176, 160),
        (176, 160),
    ]
    assert [r.k3x3 for r in MINIGOOGLENET_TABLE if isinstance(r, Downsample)] == [80, 96]
    assert MINIGOOGLENET_TABLE[0] == Conv("conv1", 96, 3)


def test_row_output_shapes():
    m = meta_model("minigooglenet").eval()
    seen = {}
    for name in ROW_SHAPES:
        getattr(m, name).register_forward_hook(lambda mod, a, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    out = m(torch.empty(1, 3, 32, 32, device="meta"))
    assert seen == ROW_SHAPES
    assert out.shape == (1, 10) and m.fc.in_features == 336


def test_per_module_params_from_the_table():
    m = meta_model("minigooglenet")
    c, total = 3, 0
    for row in MINIGOOGLENET_TABLE:
        if isinstance(row, Conv):
            want, c_out = _conv_module(c, row.k, row.kernel), row.k
        elif isinstance(row, Inception):
            want, c_out = _conv_module(c, row.k1x1, 1) + _conv_module(c, row.k3x3, 3), row.k1x1 + row.k3x3
        else:
            want, c_out = _conv_module(c, row.k3x3, 3), row.k3x3 + c
        assert sum(p.numel() for p in getattr(m, row.name).parameters()) == want, row.name
        total, c = total + want, c_out
    total += 336 * 10 + 10
    assert total == 1_652_826 == count_params(m)


def test_difference_from_zhang_table1_is_two_vectors_per_conv_channel():
    m = meta_model("minigooglenet")
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    channels = sum(conv.out_channels for conv in convs)
    assert channels == 1_712
    assert count_params(m) - 1_649_402 == 2 * channels == 3_424
    assert cnnlab.model_card("minigooglenet").paper_params.startswith("1,649,402")
    stats = sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert count_params(m) + stats == 1_656_250  # what Keras' summary would total


def test_downsample_module_is_conv_then_valid_pool():
    m = cnnlab.create_model("minigooglenet").eval()
    ds = m.downsample1
    assert ds.conv_3x3.conv.stride == (2, 2) and ds.conv_3x3.conv.padding == (0, 0)
    assert isinstance(ds.pool, nn.MaxPool2d) and ds.pool.padding == 0
    x = torch.randn(1, 80, 32, 32)
    with torch.no_grad():
        y = ds(x)
    # concatenation order: the conv branch's 80 maps, then the 80 pooled input maps
    assert torch.equal(y[:, 80:], nn.functional.max_pool2d(x, 3, 2))


def test_keras_batchnorm_and_dropout_options():
    m = meta_model("minigooglenet")
    bns = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    assert bns and all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)
    assert all(mod.bias is not None for mod in m.modules() if isinstance(mod, nn.Conv2d))
    assert m.dropout.p == 0.5
    other = meta_model("minigooglenet", drop_prob=0.2, bn_eps=1e-5, bn_momentum=0.1)
    assert other.dropout.p == 0.2 and other.conv1.bn.eps == 1e-5 and other.conv1.bn.momentum == 0.1
    assert count_params(other) == 1_652_826


def test_unknown_option_is_refused():
    with pytest.raises(cnnlab.ConfigError, match="drop_prob"):
        cnnlab.create_model("minigooglenet", p=0.3)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"drop_prob": 1.0}, "drop_prob.*1.0"),
        ({"bn_eps": 0}, "bn_eps.*0"),
        ({"bn_momentum": -0.1}, "bn_momentum.*-0.1"),
    ],
)
def test_bad_options_are_refused_by_the_class(options, message):
    from cnnlab.models.minigooglenet import MiniGoogLeNet

    with torch.device("meta"), pytest.raises(cnnlab.ConfigError, match=message):
        MiniGoogLeNet(**options)
