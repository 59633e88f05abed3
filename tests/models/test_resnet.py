"""ResNet (He et al. 2015): Table 1's counts and shapes, shortcut options, stride placement,
the CIFAR nets of Sec. 4.2, stochastic depth, wide_resnet50_2 and torchvision import."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError, WeightsError
from cnnlab.layers import DropPath, drop_path_rates
from cnnlab.layers.resnet_shortcuts import ConvNorm, ZeroPadShortcut
from cnnlab.models.resnet import (
    CIFAR_TABLE6_PARAMS,
    RESNET_TABLE1,
    Conv,
    ResidualBlock,
    remap_torchvision_resnet,
)
from tests.helpers import meta_model

# The specification's exact counts (shortcut B, the paper's stride placement).
PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
MACS = {
    "resnet18": 1_814_073_344,
    "resnet34": 3_663_761_408,
    "resnet50": 3_857_973_248,
    "resnet101": 7_570_194_432,
    "resnet152": 11_282_415_616,
}
# Table 1's FLOPs row (multiply-adds), x10^9, one decimal as printed.
TABLE1_GFLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}
COLUMN = {
    "resnet18": "18-layer",
    "resnet34": "34-layer",
    "resnet50": "50-layer",
    "resnet101": "101-layer",
    "resnet152": "152-layer",
}
BOTTLENECK = ("resnet50", "resnet101", "resnet152")


def bottleneck_macs(blocks, inner, outer, groups=1, stride_at="1x1", classes=1000):
    """Conv + fc multiply-adds of a bottleneck net at 224, by hand from Table 1, independent
    of the model code: conv1 has 112x112 outputs of 7x7x3 inputs and 64 maps; after the max
    pool a stage on an out x out grid costs, per block, out^2 x (in x w) for the 1x1 reduce
    (on the input grid when the stride sits on the 3x3), out^2 x 9 w^2 / groups for the 3x3,
    out^2 x (w x o) for the 1x1 expand, and out^2 x (in x o) for the first block's projection
    shortcut; the fc is 2048 x 1000."""
    total = 112 * 112 * (7 * 7 * 3) * 64
    chs, grid = 64, 56
    for stage, (n, w, o) in enumerate(zip(blocks, inner, outer)):
        out = grid if stage == 0 else grid // 2
        for i in range(n):
            reduce_grid = grid if (i == 0 and stride_at == "3x3") else out
            total += reduce_grid**2 * chs * w + out**2 * 9 * w * w // groups + out**2 * w * o
            if i == 0:
                total += out**2 * chs * o
            chs = o
        grid = out
    return total + chs * classes


RESNET_INNER, RESNET_OUTER = (64, 128, 256, 512), (256, 512, 1024, 2048)


def test_hand_formula_reproduces_the_specification():
    """The formula gives the five specified values exactly, so it can derive the others."""
    assert bottleneck_macs((3, 4, 6, 3), RESNET_INNER, RESNET_OUTER) == 3_857_973_248
    assert bottleneck_macs((3, 4, 23, 3), RESNET_INNER, RESNET_OUTER) == 7_570_194_432
    assert bottleneck_macs((3, 8, 36, 3), RESNET_INNER, RESNET_OUTER) == 11_282_415_616
    assert bottleneck_macs((3, 4, 6, 3), RESNET_INNER, RESNET_OUTER, stride_at="3x3") == 4_089_184_256
    assert (
        bottleneck_macs((3, 4, 6, 3), (128, 256, 512, 1024), RESNET_OUTER, groups=32, stride_at="3x3") == 4_230_479_872
    )


@pytest.mark.parametrize("name", PARAMS)
def test_table1_counts_exact_and_as_printed(name):
    model = meta_model(name)
    assert count_params(model) == PARAMS[name]
    macs = count_macs(model, (3, 224, 224))
    assert macs == MACS[name]
    # Within one unit of the last printed digit: Table 1 truncates some values (3.66 -> "3.6",
    # 3.86 -> "3.8") and rounds others (7.57 -> "7.6", 11.28 -> "11.3").
    assert abs(macs / 1e9 - TABLE1_GFLOPS[name]) < 0.1
    card = cnnlab.model_card(name)
    assert (card.params, card.macs) == (PARAMS[name], MACS[name])


@pytest.mark.parametrize("name", BOTTLENECK)
def test_v15_placement_same_params_more_macs(name):
    """stride_at="3x3" moves the stride from the 1x1 to the 3x3: the 1x1 reduce of conv3_1,
    conv4_1, conv5_1 then runs on a 4x larger grid: +3 x 3 x 25,690,112 MACs."""
    v15 = meta_model(name, stride_at="3x3")
    assert count_params(v15) == PARAMS[name]
    assert count_macs(v15, (3, 224, 224)) == MACS[name] + 231_211_008
    tv = meta_model(f"{name}_tv")
    assert count_macs(tv, (3, 224, 224)) == MACS[name] + 231_211_008
    assert [(k, v.shape) for k, v in tv.state_dict().items()] == [(k, v.shape) for k, v in v15.state_dict().items()]


def test_resnet50_v15_macs_literal():
    assert count_macs(meta_model("resnet50", stride_at="3x3"), (3, 224, 224)) == 4_089_184_256
    assert cnnlab.model_card("resnet50_tv").macs == 4_089_184_256
    assert (
        bottleneck_macs((3, 4, 23, 3), RESNET_INNER, RESNET_OUTER, stride_at="3x3")
        == cnnlab.model_card("resnet101_tv").macs
    )
    assert (
        bottleneck_macs((3, 8, 36, 3), RESNET_INNER, RESNET_OUTER, stride_at="3x3")
        == cnnlab.model_card("resnet152_tv").macs
    )


def _strides(model):
    return {n: m.stride[0] for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.stride[0] > 1}


def test_stride_placement_in_bottlenecks():
    v1 = _strides(meta_model("resnet50"))
    v15 = _strides(meta_model("resnet50", stride_at="3x3"))
    stages = ("conv3_x", "conv4_x", "conv5_x")
    assert v1 == {
        "conv1.conv": 2,
        **{f"{s}.0.conv1.conv": 2 for s in stages},
        **{f"{s}.0.shortcut.conv": 2 for s in stages},
    }
    assert v15 == {
        "conv1.conv": 2,
        **{f"{s}.0.conv2.conv": 2 for s in stages},
        **{f"{s}.0.shortcut.conv": 2 for s in stages},
    }


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_basic_blocks_are_the_same_under_either_placement(name):
    """No 1x1 in a basic block: the first 3x3 has the stride either way (hence no _tv name)."""
    a, b = meta_model(name), meta_model(name, stride_at="3x3")
    assert _strides(a) == _strides(b)
    assert str(a) == str(b)
    assert f"{name}_tv" not in cnnlab.list_models()


def test_bad_options_are_refused_with_the_value_and_the_choices():
    with pytest.raises(ConfigError, match=r"'D'.*'A'.*'B'.*'C'.*None"):
        meta_model("resnet34", shortcut="D")
    with pytest.raises(ConfigError, match=r"'2x2'.*'1x1'.*'3x3'"):
        meta_model("resnet50", stride_at="2x2")
    with pytest.raises(ConfigError, match=r"'sample'.*'row'.*'batch'"):
        meta_model("resnet18", drop_path_rate=0.1, drop_path_mode="sample")
    with pytest.raises(ConfigError, match=r"drop_path_rate=0\.1.*shortcut=None"):
        meta_model("resnet34", shortcut=None, drop_path_rate=0.1)
    with pytest.raises(ConfigError, match="1.0"):
        meta_model("resnet18", drop_path_rate=1.0)
    with pytest.raises(ConfigError, match="stride_at"):
        meta_model("resnet50_tv", stride_at="1x1")  # the _tv names have no placement option
    with pytest.raises(ConfigError, match="drop_path_rate"):
        meta_model("plain34", drop_path_rate=0.1)  # plain nets have no residual branch to drop


# -- shortcut options (Sec. 3.3), counted on ResNet-34 as Table 3 compares them ----------------


@pytest.mark.parametrize(
    "shortcut, params", [("A", 21_623_848), ("B", 21_797_672), ("C", 22_716_840), (None, 21_623_848)]
)
def test_resnet34_shortcut_options(shortcut, params):
    model = meta_model("resnet34", shortcut=shortcut)
    assert count_params(model) == params
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 3 + 4 + 6 + 3
    kinds = [type(b.shortcut).__name__ for b in blocks]
    if shortcut == "A":  # identity, zero padding at the three dimension increases
        assert kinds.count("ZeroPadShortcut") == 3 and kinds.count("Identity") == 13
    elif shortcut == "B":  # projections where dimensions increase
        assert kinds.count("ConvNorm") == 3 and kinds.count("Identity") == 13
    elif shortcut == "C":
        assert kinds == ["ConvNorm"] * 16
    else:
        assert kinds == ["NoneType"] * 16


def test_option_b_adds_three_projections_and_c_one_per_block():
    """B - A: 1x1 conv + BN at 64->128, 128->256, 256->512 = 8,448 + 33,280 + 132,096;
    C - B: 1x1 conv + BN on the 13 identity shortcuts (3 x 4,224 + 3 x 16,640 + 5 x 66,048 + 2 x 263,168)."""
    assert 21_797_672 - 21_623_848 == (64 * 128 + 256) + (128 * 256 + 512) + (256 * 512 + 1024)
    assert 22_716_840 - 21_797_672 == 3 * (64 * 64 + 128) + 3 * (128 * 128 + 256) + 5 * (256 * 256 + 512) + 2 * (
        512 * 512 + 1024
    )


def test_plain34_is_resnet34_without_shortcuts():
    plain, res = meta_model("plain34"), meta_model("resnet34", shortcut=None)
    assert str(plain) == str(res)
    assert count_params(plain) == 21_623_848
    assert count_params(meta_model("plain18")) == 11_515_688
    assert all(b.shortcut is None for b in plain.modules() if isinstance(b, ResidualBlock))


def test_option_a_zero_pads_and_subsamples():
    layer = ZeroPadShortcut(2, 5, stride=2)
    assert not list(layer.parameters())
    x = torch.randn(3, 2, 7, 7)
    y = layer(x)
    assert y.shape == (3, 5, 4, 4)  # ceil(7 / 2), as a 3x3 stride-2 conv with padding 1
    assert torch.equal(y[:, :2], x[:, :, ::2, ::2])
    assert not y[:, 2:].any()
    with pytest.raises(ConfigError, match="2 -> 1"):
        ZeroPadShortcut(2, 1)


def test_plain_block_has_no_addition():
    block = ResidualBlock(4, (Conv(3, 4), Conv(3, 4)), shortcut=None).eval()
    x = torch.randn(2, 4, 5, 5)
    expected = torch.relu(block.conv2(block.conv1(x)))
    assert torch.equal(block(x), expected)
    res = ResidualBlock(4, (Conv(3, 4), Conv(3, 4)), shortcut="B").eval()
    res.load_state_dict(block.state_dict())
    assert torch.allclose(res(x), torch.relu(block.conv2(block.conv1(x)) + x))


# -- structure: names, per-row output shapes ------------------------------------------------


def test_module_names_follow_the_paper():
    model = meta_model("resnet50")
    assert [n for n, _ in model.named_children()] == [
        "conv1",
        "pool1",
        "conv2_x",
        "conv3_x",
        "conv4_x",
        "conv5_x",
        "pool5",
        "fc",
    ]
    assert [n for n, _ in model.conv3_x[0].named_children()] == ["conv1", "conv2", "conv3", "shortcut", "act"]
    assert [n for n, _ in model.conv3_x[1].named_children()] == ["conv1", "conv2", "conv3", "shortcut", "act"]
    assert isinstance(model.conv3_x[0].conv3, ConvNorm)  # no ReLU before the addition
    assert model.get_classifier() is model.fc and model.fc.in_features == 2048
    # Sec. 3.4: BatchNorm after every conv.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len([m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]) == len(convs)
    assert all(c.bias is None for c in convs)


def _row_shapes(model, size):
    shapes = {}
    hooks = [
        getattr(model, n).register_forward_hook(lambda m, a, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
        for n in ("conv1", "pool1", "conv2_x", "conv3_x", "conv4_x", "conv5_x")
        if getattr(model, n, None) is not None
    ]
    out = model(torch.empty(1, 3, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return shapes, out


@pytest.mark.parametrize("name", PARAMS)
def test_table1_output_sizes(name):
    """Table 1's "output size" column: 112, 56, 56, 28, 14, 7; widths from the brackets."""
    model = meta_model(name).eval()
    shapes, out = _row_shapes(model, 224)
    outs = [stage.block[-1].channels for stage in RESNET_TABLE1[COLUMN[name]]]
    assert shapes == {
        "conv1": (64, 112, 112),
        "pool1": (64, 56, 56),
        "conv2_x": (outs[0], 56, 56),
        "conv3_x": (outs[1], 28, 28),
        "conv4_x": (outs[2], 14, 14),
        "conv5_x": (outs[3], 7, 7),
    }
    assert outs == ([64, 128, 256, 512] if name in ("resnet18", "resnet34") else [256, 512, 1024, 2048])
    assert out.shape == (1, 1000)
    assert [(f.module, f.num_chs, f.reduction) for f in model.feature_info] == [
        ("conv1", 64, 2),
        ("conv2_x", outs[0], 4),
        ("conv3_x", outs[1], 8),
        ("conv4_x", outs[2], 16),
        ("conv5_x", outs[3], 32),
    ]


@pytest.mark.parametrize(
    "name, depth", [("resnet18", 18), ("resnet34", 34), ("resnet50", 50), ("resnet101", 101), ("resnet152", 152)]
)
def test_depth_counts_weighted_layers(name, depth):
    """ "18-layer" ... "152-layer": conv1, the branch convs, and the fc (shortcuts not counted)."""
    model = meta_model(name)
    branch = [
        m
        for b in model.modules()
        if isinstance(b, ResidualBlock)
        for n, m in b.named_modules()
        if n.startswith("conv") and isinstance(m, nn.Conv2d)
    ]
    assert 1 + len(branch) + 1 == depth


# -- CIFAR-10 (Sec. 4.2) ---------------------------------------------------------------------


# Parameters of the 6n+2-layer net, by hand from Sec. 4.2's table (3x3 convs without bias,
# each followed by BatchNorm's 2 x channels; option A shortcuts have none):
#   conv1: 3*9*16 + 2*16 = 464
#   a block of two 3x3 convs at width c: 2 * (9c^2 + 2c) = 18c^2 + 4c
#     c = 16: 4,672;  c = 32: 18,560;  c = 64: 73,984   -> n blocks each: 97,216 n
#   the first conv of conv3_x and conv4_x sees c/2 inputs: 9c^2/2 fewer weights,
#     4,608 (c = 32) and 18,432 (c = 64)
#   fc: 64*10 + 10 = 650
# total = 464 + 97,216 n - 4,608 - 18,432 + 650 = 97,216 n - 21,926.
def cifar_params(n: int) -> int:
    return 97_216 * n - 21_926


CIFAR = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18, "resnet1202": 200}


def test_cifar_formula_by_hand():
    assert cifar_params(18) == 1_727_962  # ResNet-110, the specification's exact value
    assert [cifar_params(n) for n in (3, 5, 7, 9, 200)] == [269_722, 464_154, 658_586, 853_018, 19_421_274]


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_counts_exact_and_within_table6_rounding(name):
    n = CIFAR[name]
    card = cnnlab.model_card(name)
    count = count_params(meta_model(name))
    assert count == cifar_params(n) == card.params
    printed = CIFAR_TABLE6_PARAMS[6 * n + 2]  # "0.27M", "1.7M", "19.4M"
    decimals = len(printed.rstrip("M").split(".")[1])
    assert round(count / 1e6, decimals) == float(printed.rstrip("M"))
    assert card.paper_params.startswith(printed)


@pytest.mark.parametrize("name", [n for n in CIFAR if n != "resnet1202"])
def test_plain_cifar_nets_have_the_same_count_and_no_shortcuts(name):
    plain = meta_model(name.replace("resnet", "plain"))
    assert count_params(plain) == cifar_params(CIFAR[name])
    assert all(b.shortcut is None for b in plain.modules() if isinstance(b, ResidualBlock))
    assert "plain1202" not in cnnlab.list_models()


def cifar_macs_by_hand(n: int) -> int:
    # 6n 3x3 convs in the stages at 2,359,296 each (32*32*16*16*9 = 16*16*32*32*9 =
    # 8*8*64*64*9), less half of one for each of the two stride-2 convs; conv1 32*32*27*16;
    # fc 64*10.
    return 6 * n * 2_359_296 - 2 * 1_179_648 + 32 * 32 * 27 * 16 + 640


@pytest.mark.parametrize("name", ["resnet20", "resnet110"])
def test_cifar_macs_by_hand(name):
    assert count_macs(meta_model(name), (3, 32, 32)) == cifar_macs_by_hand(CIFAR[name]) == cnnlab.model_card(name).macs


def test_cifar_structure():
    model = meta_model("resnet20").eval()
    assert model.pool1 is None and [n for n, _ in model.named_children()] == [
        "conv1",
        "conv2_x",
        "conv3_x",
        "conv4_x",
        "pool5",
        "fc",
    ]
    shapes, out = _row_shapes(model, 32)
    assert shapes == {"conv1": (16, 32, 32), "conv2_x": (16, 32, 32), "conv3_x": (32, 16, 16), "conv4_x": (64, 8, 8)}
    assert out.shape == (1, 10)
    kinds = [type(b.shortcut).__name__ for b in model.modules() if isinstance(b, ResidualBlock)]
    assert kinds == ["Identity"] * 3 + ["ZeroPadShortcut"] + ["Identity"] * 2 + ["ZeroPadShortcut"] + ["Identity"] * 2
    # 6n + 2 weighted layers
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == 6 * 3 + 2
    assert {m.kernel_size for m in weighted if isinstance(m, nn.Conv2d)} == {(3, 3)}


def test_cifar_shortcut_b_adds_two_projections():
    assert count_params(meta_model("resnet20", shortcut="B")) == cifar_params(3) + (16 * 32 + 64) + (32 * 64 + 128)


# -- stochastic depth (Huang et al. 2016) -----------------------------------------------------


def test_resnet110_sd_settings_and_counts():
    model = meta_model("resnet110_sd")
    assert count_params(model) == 1_727_962
    drops = [m for m in model.modules() if isinstance(m, DropPath)]
    assert len(drops) == 54  # L = 3 x 18 residual blocks
    # Eq. 4 with p_L = 0.5: block l drops with probability l / L x 0.5.
    assert [d.drop_prob for d in drops] == pytest.approx([0.5 * block / 54 for block in range(1, 55)])
    assert [d.drop_prob for d in drops] == drop_path_rates(0.5, 54)
    assert {d.mode for d in drops} == {"batch"}  # one gate per mini-batch, as the paper
    # The authors' Torch code keeps conv biases: one per output channel of all 109 convs.
    biased = meta_model("resnet110_sd", conv_bias=True)
    assert count_params(biased) == 1_732_010
    assert 1_732_010 - 1_727_962 == 16 + 2 * 18 * (16 + 32 + 64)
    card = cnnlab.model_card("resnet110_sd")
    assert any("1,732,010" in d for d in card.deviations)


RESIDUAL_NAMES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_tv",
    "resnet101",
    "resnet152",
    "resnet20",
    "resnet110",
    "wide_resnet50_2",
    "resnext50_32x4d",
    "resnext101_32x8d",
]


@pytest.mark.parametrize("name", RESIDUAL_NAMES)
def test_every_residual_net_takes_drop_path_rate_with_linear_decay(name):
    model = meta_model(name, drop_path_rate=0.2)
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert [b.drop_path.drop_prob for b in blocks] == pytest.approx(drop_path_rates(0.2, len(blocks)))
    assert all(b.drop_path is None for b in meta_model(name).modules() if isinstance(b, ResidualBlock))


def test_drop_path_is_the_identity_in_eval():
    torch.manual_seed(0)
    sd = cnnlab.create_model("resnet20", drop_path_rate=0.5).eval()
    plain = cnnlab.create_model("resnet20").eval()
    plain.load_state_dict(sd.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(sd(x), plain(x))


def test_whole_residual_branches_drop_in_training():
    """Each output of a block is relu(x) (branch dropped) or relu(x + f(x) / keep) (kept), and
    the branch drops with its configured probability."""
    torch.manual_seed(0)
    drop_prob, trials = 0.3, 400
    block = ResidualBlock(4, (Conv(3, 4), Conv(3, 4)), drop_prob=drop_prob, drop_path_mode="batch")
    x = torch.randn(2, 4, 5, 5)
    block.eval()  # BatchNorm in eval: the branch is deterministic
    block.drop_path.train()
    with torch.no_grad():
        branch = block.conv2(block.conv1(x))
        dropped_out, kept_out = torch.relu(x), torch.relu(x + branch / (1 - drop_prob))
        drops = 0
        for _ in range(trials):
            y = block(x)
            if torch.allclose(y, dropped_out):
                drops += 1
            else:
                assert torch.allclose(y, kept_out, atol=1e-6)
    sigma = (drop_prob * (1 - drop_prob) / trials) ** 0.5
    assert abs(drops / trials - drop_prob) < 4 * sigma


# -- Wide ResNet-50-2 ---------------------------------------------------------------------------


def test_wide_resnet50_2_doubles_the_inner_widths():
    model = meta_model("wide_resnet50_2")
    assert count_params(model) == 68_883_240
    inner = [
        model.get_submodule(f"{s}.0.conv2.conv").out_channels for s in ("conv2_x", "conv3_x", "conv4_x", "conv5_x")
    ]
    outer = [
        model.get_submodule(f"{s}.0.conv3.conv").out_channels for s in ("conv2_x", "conv3_x", "conv4_x", "conv5_x")
    ]
    assert inner == [128, 256, 512, 1024] and outer == [256, 512, 1024, 2048]
    assert model.conv3_x[0].conv2.conv.stride == (2, 2)  # torchvision's placement
    assert count_macs(model, (3, 224, 224)) == bottleneck_macs(
        (3, 4, 6, 3), (128, 256, 512, 1024), RESNET_OUTER, stride_at="3x3"
    )


# -- torchvision weights ------------------------------------------------------------------------


def _tv_state(builder):
    import torchvision.models as tvm

    with torch.device("meta"):
        return getattr(tvm, builder)().state_dict()


@pytest.mark.parametrize(
    "name, builder", [("resnet18", "resnet18"), ("resnet50_tv", "resnet50"), ("wide_resnet50_2", "wide_resnet50_2")]
)
def test_remap_maps_every_torchvision_key(name, builder):
    state = _tv_state(builder)
    model = meta_model(name)
    out = remap_torchvision_resnet(state, model)
    own = model.state_dict()
    assert set(out) == set(own)
    assert all(out[k].shape == own[k].shape for k in own)
    assert out["conv1.conv.weight"] is state["conv1.weight"]
    assert out["conv1.bn.running_var"] is state["bn1.running_var"]
    assert out["conv5_x.1.conv2.bn.weight"] is state["layer4.1.bn2.weight"]
    assert out["conv3_x.0.shortcut.conv.weight"] is state["layer2.0.downsample.0.weight"]
    assert out["conv3_x.0.shortcut.bn.bias"] is state["layer2.0.downsample.1.bias"]


def test_torchvision_file_in_the_papers_placement_is_refused(tmp_path):
    """torchvision's bottleneck weights were trained with stride on the 3x3: the paper's
    placement would load them without a shape error and compute other features."""
    import torchvision.models as tvm

    torch.save(tvm.resnet50(weights=None).state_dict(), tmp_path / "tv.pth")
    with pytest.raises(WeightsError, match=r"trained with stride_at='3x3'; this model has stride_at='1x1'"):
        cnnlab.create_model("resnet50", weights=tmp_path / "tv.pth")
    model = cnnlab.create_model("resnet50", stride_at="3x3", weights=tmp_path / "tv.pth")
    assert model.pretrained_cfg["source"] == str(tmp_path / "tv.pth")
    assert cnnlab.model_card("resnet50").torchvision.model_kwargs == {"stride_at": "3x3"}


def test_basic_block_nets_load_torchvision_weights_in_either_placement(tmp_path):
    import torchvision.models as tvm

    reference = tvm.resnet18(weights=None).eval()
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    x = torch.randn(2, 3, 64, 64)
    for stride_at in ("1x1", "3x3"):
        model = cnnlab.create_model("resnet18", stride_at=stride_at, weights=tmp_path / "tv.pth").eval()
        with torch.no_grad():
            assert (model(x) - reference(x)).abs().max() <= 1e-5


def test_info_shows_the_stride_placement_and_the_torchvision_difference():
    from cnnlab.cli.main import main

    lines: list[str] = []
    assert main(["info", "resnet50"], print_fn=lines.append) == 0
    text = " ".join(" ".join(lines).split())
    assert "stride_at='1x1'" in text and "v1.5" in text and "stride_at='3x3'" in text
    lines.clear()
    main(["info", "resnet50_tv"], print_fn=lines.append)
    text = " ".join(" ".join(lines).split())
    assert "stride 2 on the 3x3" in text and "231,211,008" in text


def test_torchvision_weights_refused_for_the_paper_placement_before_any_download(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("downloaded weights that cannot be used")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsError, match=r"create_model\('resnet50', stride_at='3x3'"):
        cnnlab.create_model("resnet50", weights="torchvision")


def test_info_says_which_placement_the_weights_need():
    from cnnlab.cli import main

    lines = []
    assert main(["info", "resnet50"], print_fn=lines.append) == 0
    assert "ResNet50_Weights.IMAGENET1K_V1 (needs stride_at='3x3')" in lines[0]
