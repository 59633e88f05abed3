"""BN-Inception: Figure 5's rows and the options that reach the paper's variants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.analysis import count_params
from cnnlab.errors import ConfigError
from cnnlab.models.bn_inception import (
    FIGURE5,
    OUTPUT_AS_BUILT,
    BNInception,
    Conv,
    InceptionBN,
    SeparableConv2d,
    module_name,
)
from tests.helpers import meta_model

# The built output of every row at 224, (C, H, W).
OUTPUTS = {
    "conv1": (64, 112, 112),
    "maxpool1": (64, 56, 56),
    "conv2": (192, 56, 56),
    "maxpool2": (192, 28, 28),
    "inception3a": (256, 28, 28),
    "inception3b": (320, 28, 28),
    "inception3c": (576, 14, 14),
    "inception4a": (576, 14, 14),
    "inception4b": (576, 14, 14),
    "inception4c": (608, 14, 14),
    "inception4d": (608, 14, 14),
    "inception4e": (1056, 7, 7),
    "inception5a": (1024, 7, 7),
    "inception5b": (1024, 7, 7),
    "avgpool": (1024, 1, 1),
}


def test_every_row_has_its_output_size():
    model = meta_model("bn_inception").eval()
    seen, hooks = {}, []
    for name in OUTPUTS:

        def rec(m, a, out, key=name):
            seen[key] = tuple(out.shape[1:])

        hooks.append(model.get_submodule(name).register_forward_hook(rec))
    assert model(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 1000)
    for h in hooks:
        h.remove()
    assert seen == OUTPUTS
    # Built = printed except where Figure 5's output column contradicts its filter columns.
    for row in FIGURE5:
        name = module_name(row)
        h, w, c = OUTPUT_AS_BUILT.get(name, row.output)
        assert seen[name] == (c, h, w), name
    assert set(OUTPUT_AS_BUILT) == {"inception3c", "inception4c", "inception4d", "inception4e"}


def _conv_output_channels() -> int:
    """Output channels of every convolution, from Figure 5's columns: the stem's conv1, conv2's
    "#3x3 reduce" and 3x3; per module #1x1, #3x3 reduce, #3x3, double #3x3 reduce, the two
    double-3x3 convs and the pool projection (none for "pass through")."""
    total = 0
    for row in FIGURE5:
        if isinstance(row, Conv):
            total += row.output[2] + (row.reduce or 0)
        elif isinstance(row, InceptionBN):
            total += row.n1x1 + row.n3x3_reduce + row.n3x3 + row.double3x3_reduce + 2 * row.double3x3
            total += row.pool_proj or 0
    return total


# conv1 as the Appendix's separable convolution with depth multiplier 8 instead of a plain
# 7x7x3 -> 64: depthwise 3 x 8 maps of 7x7 (no bias) + pointwise 24 -> 64, instead of 7x7x3x64
# weights; the 64 biases stay: 9,408 - (1,176 + 1,536) = 6,696 fewer.
SEPARABLE_SAVING = 7 * 7 * 3 * 64 - (3 * 8 * 7 * 7 + 3 * 8 * 64)
BASE = 11_295_240  # the card: conv biases (the Caffe port), plain conv1


def test_conv_output_channels_by_hand():
    # stem 64 + 64 + 192 = 320; 3a 64 + 64 + 64 + 64 + 2 x 96 + 32 = 480, 3b 544, 3c 544,
    # 4a 864, 4b 896, 4c 1024, 4d 1088, 4e 1024, 5a 1600, 5b 1632.
    assert _conv_output_channels() == 320 + 480 + 544 + 544 + 864 + 896 + 1024 + 1088 + 1024 + 1600 + 1632 == 10_016
    assert SEPARABLE_SAVING == 6_696


@pytest.mark.parametrize(
    "options, params",
    [
        ({}, BASE),
        # Sec. 3.2: no bias before BatchNorm, one fewer parameter per conv output channel.
        ({"conv_bias": False}, BASE - _conv_output_channels()),
        ({"conv1_depth_multiplier": 8}, BASE - SEPARABLE_SAVING),  # the Appendix's separable conv1
        # both, as the paper describes
        ({"conv_bias": False, "conv1_depth_multiplier": 8}, BASE - _conv_output_channels() - SEPARABLE_SAVING),
    ],
)
def test_exact_parameter_counts(options, params):
    assert count_params(meta_model("bn_inception", **options)) == params


def test_batchnorm_after_every_convolution_and_only_3x3_or_smaller_kernels():
    model = meta_model("bn_inception")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(bns) == 69
    assert all(c.bias is not None for c in convs)
    assert max(c.kernel_size[0] for c in convs if c is not model.conv1.conv) == 3
    assert not any(isinstance(m, (nn.LocalResponseNorm, nn.Dropout)) for m in model.modules())
    assert not hasattr(model, "forward_aux")  # Figure 5 lists no auxiliary classifiers
    no_bias = meta_model("bn_inception", conv_bias=False)
    assert all(c.bias is None for c in no_bias.modules() if isinstance(c, nn.Conv2d))


def test_module_branches_follow_the_columns():
    model = meta_model("bn_inception")
    for row in FIGURE5:
        if not isinstance(row, InceptionBN):
            continue
        block = model.get_submodule(module_name(row))
        assert hasattr(block, "branch1") == (row.n1x1 > 0)
        assert block.branch2[1].conv.out_channels == row.n3x3
        assert [m.conv.out_channels for m in block.branch3] == [row.double3x3_reduce, row.double3x3, row.double3x3]
        pool = block.branch4[0]
        assert isinstance(pool, nn.AvgPool2d if row.pool == "avg" else nn.MaxPool2d)
        assert (len(block.branch4) == 1) == (row.pool_proj is None)  # "pass through"
        assert block.branch2[1].conv.stride == block.branch3[2].conv.stride == (row.stride, row.stride)
    # "The number of 28x28 inception modules is increased from 2 to 3."
    assert [r.name for r in FIGURE5 if isinstance(r, InceptionBN) and r.output[:2] == (28, 28)] == ["3a", "3b", "3c"]


def test_separable_conv1():
    model = meta_model("bn_inception", conv1_depth_multiplier=8)
    sep = model.conv1.conv
    assert isinstance(sep, SeparableConv2d)
    assert (sep.depthwise.in_channels, sep.depthwise.out_channels, sep.depthwise.groups) == (3, 24, 3)
    assert sep.depthwise.kernel_size == (7, 7) and sep.depthwise.stride == (2, 2)
    assert (sep.pointwise.in_channels, sep.pointwise.out_channels) == (24, 64)
    assert model(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 1000)
    with pytest.raises(ConfigError, match="conv1_depth_multiplier"):
        meta_model("bn_inception", conv1_depth_multiplier=0)


@pytest.mark.parametrize("bad", [0, "no", None])
def test_conv_bias_must_be_a_bool(bad):
    with torch.device("meta"), pytest.raises(ConfigError, match=f"conv_bias.*{bad!r}"):
        BNInception(conv_bias=bad)


def test_reset_classifier_keeps_dtype():
    with torch.device("meta"):
        model = BNInception().double()
    model.reset_classifier(7)
    assert model.fc.weight.dtype == torch.float64 and model.fc.weight.is_meta


def test_reset_classifier_keeps_the_device():
    model = meta_model("bn_inception")
    model.reset_classifier(10)
    assert model.fc.weight.is_meta and model.fc.out_features == 10
    assert model(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 10)
