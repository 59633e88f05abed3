"""ResNeXt (Xie et al. 2017): Table 1's ResNeXt-50 (32x4d), the cardinality and group-width
template, ResNeXt-101 (32x8d) and torchvision import."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError
from cnnlab.models.resnet import RESNET_TABLE1, remap_torchvision_resnet
from cnnlab.models.resnext import RESNEXT_TABLE1, resnext_stages
from tests.helpers import meta_model
from tests.models.test_resnet import RESNET_OUTER, bottleneck_macs

STAGES = ("conv2_x", "conv3_x", "conv4_x", "conv5_x")


def test_resnext50_counts_exact_and_as_table1_prints_them():
    model = meta_model("resnext50_32x4d")
    params, macs = count_params(model), count_macs(model, (3, 224, 224))
    assert params == 25_028_904
    assert macs == 4_230_479_872
    assert round(params / 1e6, 1) == 25.0  # "25.0 x 10^6"
    assert round(macs / 1e9, 1) == 4.2  # "4.2 x 10^9"


def test_resnext101_32x8d_counts():
    model = meta_model("resnext101_32x8d")
    assert count_params(model) == 88_791_336
    # By hand (see bottleneck_macs), not from the model code.
    expected = bottleneck_macs((3, 4, 23, 3), (256, 512, 1024, 2048), RESNET_OUTER, groups=32, stride_at="3x3")
    assert count_macs(model, (3, 224, 224)) == expected == cnnlab.model_card("resnext101_32x8d").macs


def test_template_rule_gives_table1_column():
    """Sec. 3.1: bottleneck width C x d, doubling per stage; the column as printed."""
    assert resnext_stages(RESNET_TABLE1["50-layer"], 32, 4) == RESNEXT_TABLE1["ResNeXt-50 (32x4d)"]


def test_blocks_are_grouped_bottlenecks():
    model = meta_model("resnext50_32x4d")
    for stage, width in zip(STAGES, (128, 256, 512, 1024)):
        block = model.get_submodule(f"{stage}.0")
        reduce, grouped, expand = block.conv1.conv, block.conv2.conv, block.conv3.conv
        assert (reduce.kernel_size, reduce.out_channels) == ((1, 1), width)
        assert (grouped.kernel_size, grouped.groups, grouped.out_channels) == ((3, 3), 32, width)
        assert expand.out_channels == 2 * width
        # Downsampling by the 3x3 (Sec. 4, after fb.resnet.torch); the projection shortcut too.
        expected = (1, 1) if stage == "conv2_x" else (2, 2)
        assert grouped.stride == expected and reduce.stride == (1, 1)
        assert block.shortcut.conv.stride == expected


def test_cardinality_and_group_width_options():
    # C = 1, d = 64 is ResNet-50's bottleneck (in torchvision's stride placement).
    one_group = meta_model("resnext50_32x4d", cardinality=1, group_width=64)
    assert count_params(one_group) == 25_557_032
    assert count_macs(one_group, (3, 224, 224)) == 4_089_184_256
    # 64x4d on the 50-layer column: width 256 in conv2_x, 64 groups.
    wide = meta_model("resnext50_32x4d", cardinality=64, group_width=4)
    conv = wide.conv2_x[0].conv2.conv
    assert (conv.out_channels, conv.groups) == (256, 64)
    assert count_macs(wide, (3, 224, 224)) == bottleneck_macs(
        (3, 4, 6, 3), (256, 512, 1024, 2048), RESNET_OUTER, groups=64, stride_at="3x3"
    )


@pytest.mark.parametrize("option, value", [("cardinality", 0), ("group_width", -4)])
def test_bad_template_options_are_refused(option, value):
    with pytest.raises(ConfigError, match=rf"{option}.*{value}"):
        meta_model("resnext50_32x4d", **{option: value})
    with pytest.raises(ConfigError, match=option):
        meta_model("resnext50_32x4d", **{option: 4.0})


@pytest.mark.parametrize(
    "name, builder", [("resnext50_32x4d", "resnext50_32x4d"), ("resnext101_32x8d", "resnext101_32x8d")]
)
def test_remap_maps_every_torchvision_key(name, builder):
    import torchvision.models as tvm

    with torch.device("meta"):
        state = getattr(tvm, builder)().state_dict()
    model = meta_model(name)
    out = remap_torchvision_resnet(state, model)
    own = model.state_dict()
    assert set(out) == set(own)
    assert all(out[k].shape == own[k].shape for k in own)
    assert out["conv2_x.0.conv2.conv.weight"] is state["layer1.0.conv2.weight"]


def test_module_names_are_resnets():
    model = meta_model("resnext50_32x4d")
    assert [n for n, _ in model.named_children()] == ["conv1", "pool1", *STAGES, "pool5", "fc"]
    assert len([m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == 32]) == 16
