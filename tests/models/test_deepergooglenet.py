"""DeeperGoogLeNet (Rosebrock 2017, Practitioner Bundle) and Keras' "same" max pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.layers.keras_compat import MaxPool2dSame
from tests.helpers import meta_model

ROW_SHAPES = {
    "block1": (64, 64, 64),
    "pool1": (64, 32, 32),
    "block2": (64, 32, 32),
    "block3": (192, 32, 32),
    "pool2": (192, 16, 16),
    "inception3a": (256, 16, 16),
    "inception3b": (480, 16, 16),
    "pool3": (480, 8, 8),
    "inception4a": (512, 8, 8),
    "inception4b": (512, 8, 8),
    "inception4c": (512, 8, 8),
    "inception4d": (528, 8, 8),
    "inception4e": (832, 8, 8),
    "pool4": (832, 4, 4),
    "pool5": (832, 1, 1),
}


def _shapes(model, names, size=64):
    seen = {}
    for name in names:
        getattr(model, name).register_forward_hook(
            lambda mod, a, o, name=name: seen.__setitem__(name, tuple(o.shape[1:]))
        )
    model.eval()(torch.empty(1, 3, size, size, device="meta"))
    return seen


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_row_output_shapes():
    m = meta_model("deepergooglenet")
    assert _shapes(m, ROW_SHAPES) == ROW_SHAPES
    assert m.fc.in_features == 832


def test_stem_and_stage3_params_by_hand():
    # conv module = C_in*k*k*K weights + K biases + 2K BatchNorm (Keras keeps the bias).
    m = meta_model("deepergooglenet")
    assert _params(m.block1) == 3 * 25 * 64 + 64 + 128 == 4_992
    assert _params(m.block2) == 64 * 64 + 64 + 128 == 4_288
    assert _params(m.block3) == 64 * 9 * 192 + 192 + 384 == 111_168
    # 3a on 192 channels: 12,480 + 18,720 + 110,976 + 3,120 + 12,896 + 6,240
    assert _params(m.inception3a) == 164_432
    # 3b on 256 channels: 33,152 + 33,152 + 221,760 + 8,288 + 77,088 + 16,576
    assert _params(m.inception3b) == 390_016
    assert _params(m.fc) == 832 * 200 + 200 == 166_600


def test_stage4_false_count_by_hand():
    # Stem 4,992 + 4,288 + 111,168 = 120,448; 3a 164,432; 3b 390,016; 3b's 16x16x480 map
    # through pool4 (8x8) and the 4x4 average pool (2x2): FC 1,920*200 + 200 = 384,200.
    # 120,448 + 164,432 + 390,016 + 384,200 = 1,059,096.
    m = meta_model("deepergooglenet", stage4=False)
    assert count_params(m) == 1_059_096
    assert not any(hasattr(m, n) for n in ("pool3", "inception4a", "inception4e"))
    assert _shapes(m, ("inception3b", "pool4", "pool5")) == {
        "inception3b": (480, 16, 16),
        "pool4": (480, 8, 8),
        "pool5": (480, 2, 2),
    }
    # Conv MACs: stem 137,101,312 + 3a 41,811,968 + 3b 99,352,576 + FC 384,000.
    assert count_macs(m, (3, 64, 64)) == 278_649_856
    assert [f.module for f in m.feature_info] == ["block1", "block3", "inception3b", "pool4"]


@pytest.mark.parametrize("order", ["conv-bn-act", "conv-act-bn"])
@pytest.mark.parametrize("act", ["relu", "elu"])
def test_order_and_act_options_keep_the_count(order, act):
    m = meta_model("deepergooglenet", order=order, act=act)
    assert count_params(m) == 3_657_992
    assert [n for n, _ in m.inception4c.third2.named_children()] == order.split("-")
    acts = {type(mod) for mod in m.modules() if isinstance(mod, (nn.ReLU, nn.ELU))}
    assert acts == {nn.ELU if act == "elu" else nn.ReLU}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"order": "bn-act-conv"}, "'bn-act-conv'"),
        ({"act": "tanh"}, "'tanh'.*relu, elu"),
        ({"stage4": "no"}, "stage4.*'no'"),
        ({"bn_eps": 0.0}, "bn_eps.*0.0"),
        ({"bn_momentum": 1.5}, "bn_momentum.*1.5"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(cnnlab.ConfigError, match=message):
        cnnlab.create_model("deepergooglenet", **options)


def test_keras_conventions():
    m = meta_model("deepergooglenet")
    bns = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    assert len(bns) == 3 + 6 * 7 and all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)
    assert all(mod.bias is not None for mod in m.modules() if isinstance(mod, nn.Conv2d))
    assert m.dropout.p == 0.4
    assert all(isinstance(getattr(m, n), MaxPool2dSame) for n in ("pool1", "pool2", "pool3", "pool4"))
    assert m.pool5.kernel_size == 4 and m.pool5.stride == 4


def test_pool_branch_keeps_the_size_and_padding_is_never_chosen():
    m = cnnlab.create_model("deepergooglenet").eval()
    x = -torch.rand(1, 192, 16, 16) - 1  # all negative: a zero pad would win the max
    with torch.no_grad():
        y = m.inception3a.pool(x)
    assert y.shape == x.shape and (y < -1).all()


@pytest.mark.parametrize("size", [64, 15, 8, 7])
def test_maxpool_same_matches_keras(size):
    x = torch.randn(2, 3, size, size)
    y = MaxPool2dSame(3, 2)(x)
    out = -(-size // 2)  # Keras "same": ceil(n / stride)
    total = max((out - 1) * 2 + 3 - size, 0)
    before, after = total // 2, total - total // 2  # TensorFlow puts the odd pixel after
    ref = F.max_pool2d(F.pad(x, (before, after, before, after), value=float("-inf")), 3, 2)
    assert y.shape == (2, 3, out, out) and torch.equal(y, ref)
    # Hand check of the first and last windows on the even 64 case: rows 0-2 and 62-63.
    if size == 64:
        assert torch.equal(y[..., 0, 0], x[..., 0:3, 0:3].amax((-2, -1)))
        assert torch.equal(y[..., -1, -1], x[..., 62:, 62:].amax((-2, -1)))
        # PyTorch's symmetric padding=1 has the same size but other windows.
        assert not torch.equal(y, F.max_pool2d(x, 3, 2, 1))
    # Odd 15: two pad pixels, one each side; 8 windows, rows -1..1 first and 13..15 last.
    if size == 15:
        assert torch.equal(y[..., 0, 0], x[..., 0:2, 0:2].amax((-2, -1)))
        assert torch.equal(y[..., -1, -1], x[..., 13:, 13:].amax((-2, -1)))
