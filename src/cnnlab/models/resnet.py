"""ResNet: He, Zhang, Ren & Sun (2015), "Deep residual learning for image recognition",
CVPR 2016, arXiv:1512.03385. Table 1 (ImageNet, 18 to 152 layers), Sec. 3.3 (plain
baselines, shortcut options A/B/C), Sec. 4.2 (CIFAR-10, 6n+2 layers).

Also here, because they are the same builder walking the same table:

- stochastic depth (Huang, Sun, Liu, Sedra & Weinberger 2016, arXiv:1603.09382): the
  ``drop_path_rate`` option of every residual build, and ``resnet110_sd``;
- ``wide_resnet50_2`` (Zagoruyko & Komodakis 2016, arXiv:1605.07146): ResNet-50 with the
  inner width of every bottleneck doubled, torchvision's build.

Module names: ``conv1`` (conv, bn, act), ``pool1`` (the max pool that opens Table 1's conv2_x
row; the authors' released Caffe models call it pool1), ``conv2_x`` .. ``conv5_x`` (blocks
``0``, ``1``, ...), ``pool5`` (average pool; Caffe's pool5), ``fc``. Inside a block:
``conv1`` .. ``convK``, one per row of Table 1's bracket, ``shortcut``, ``drop_path`` (only
with stochastic depth) and ``act`` (the ReLU after the addition). CIFAR nets have no pool1
and three stages, conv2_x .. conv4_x.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import ConvNormAct, DropPath, drop_path_rates
from ..layers.drop_path import MODES as DROP_PATH_MODES
from ..layers.resnet_shortcuts import SHORTCUTS, ConvNorm, make_shortcut
from ..registry import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Family,
    Paper,
    TorchvisionWeights,
    register_variant,
)
from ..weights import rename_keys
from .base import ClassifierNet, FeatureInfo

HE_2015 = Paper(
    authors="He, Zhang, Ren & Sun",
    title="Deep residual learning for image recognition",
    year=2015,
    venue="CVPR 2016",
    arxiv="1512.03385",
)
HUANG_2016 = Paper(
    authors="Huang, Sun, Liu, Sedra & Weinberger",
    title="Deep networks with stochastic depth",
    year=2016,
    venue="ECCV 2016",
    arxiv="1603.09382",
)


class Conv(NamedTuple):
    """One row of a Table 1 bracket, "3x3, 64": kernel size and output channels. ResNeXt's
    rows ("3x3, 128, C=32") add the number of groups."""

    kernel: int
    channels: int
    groups: int = 1


class Stage(NamedTuple):
    """A "convN_x" row of Table 1: output size at 224x224 (32x32 for CIFAR), the bracket
    (the layers of one residual block) and how many blocks ("x3"; "n" in Sec. 4.2)."""

    name: str
    output_size: int
    block: tuple[Conv, ...]
    blocks: int | str


class Stem(NamedTuple):
    """The rows before the first stage: the conv1 row, its stride and output size, and the
    max pool with stride 2 that opens conv2_x (its window; None: no pool)."""

    conv: Conv
    stride: int
    output_size: int
    pool: int | None


# Table 1, rows conv1 and conv2_x: "7x7, 64, stride 2" (output 112x112), "3x3 max pool,
# stride 2" (output 56x56).
RESNET_STEM = Stem(Conv(7, 64), stride=2, output_size=112, pool=3)

# Table 1, columns 18-layer to 152-layer, rows conv2_x to conv5_x: "[3x3, 64; 3x3, 64] x2" is
# Stage("conv2_x", 56, (Conv(3, 64), Conv(3, 64)), 2). Then "average pool, 1000-d fc, softmax".
# Table note: "Downsampling is performed by conv3_1, conv4_1, and conv5_1 with a stride of 2."
RESNET_TABLE1: Mapping[str, tuple[Stage, ...]] = {
    "18-layer": (
        Stage("conv2_x", 56, (Conv(3, 64), Conv(3, 64)), 2),
        Stage("conv3_x", 28, (Conv(3, 128), Conv(3, 128)), 2),
        Stage("conv4_x", 14, (Conv(3, 256), Conv(3, 256)), 2),
        Stage("conv5_x", 7, (Conv(3, 512), Conv(3, 512)), 2),
    ),
    "34-layer": (
        Stage("conv2_x", 56, (Conv(3, 64), Conv(3, 64)), 3),
        Stage("conv3_x", 28, (Conv(3, 128), Conv(3, 128)), 4),
        Stage("conv4_x", 14, (Conv(3, 256), Conv(3, 256)), 6),
        Stage("conv5_x", 7, (Conv(3, 512), Conv(3, 512)), 3),
    ),
    "50-layer": (
        Stage("conv2_x", 56, (Conv(1, 64), Conv(3, 64), Conv(1, 256)), 3),
        Stage("conv3_x", 28, (Conv(1, 128), Conv(3, 128), Conv(1, 512)), 4),
        Stage("conv4_x", 14, (Conv(1, 256), Conv(3, 256), Conv(1, 1024)), 6),
        Stage("conv5_x", 7, (Conv(1, 512), Conv(3, 512), Conv(1, 2048)), 3),
    ),
    "101-layer": (
        Stage("conv2_x", 56, (Conv(1, 64), Conv(3, 64), Conv(1, 256)), 3),
        Stage("conv3_x", 28, (Conv(1, 128), Conv(3, 128), Conv(1, 512)), 4),
        Stage("conv4_x", 14, (Conv(1, 256), Conv(3, 256), Conv(1, 1024)), 23),
        Stage("conv5_x", 7, (Conv(1, 512), Conv(3, 512), Conv(1, 2048)), 3),
    ),
    "152-layer": (
        Stage("conv2_x", 56, (Conv(1, 64), Conv(3, 64), Conv(1, 256)), 3),
        Stage("conv3_x", 28, (Conv(1, 128), Conv(3, 128), Conv(1, 512)), 8),
        Stage("conv4_x", 14, (Conv(1, 256), Conv(3, 256), Conv(1, 1024)), 36),
        Stage("conv5_x", 7, (Conv(1, 512), Conv(3, 512), Conv(1, 2048)), 3),
    ),
}
# Table 1, last row, "FLOPs" (multiply-adds), as printed.
TABLE1_FLOPS = {
    "18-layer": "1.8x10^9",
    "34-layer": "3.6x10^9",
    "50-layer": "3.8x10^9",
    "101-layer": "7.6x10^9",
    "152-layer": "11.3x10^9",
}

# Sec. 4.2, the CIFAR-10 table: "output map size 32x32, 16x16, 8x8; # layers 1+2n, 2n, 2n;
# # filters 16, 32, 64". "The first layer is 3x3 convolutions", "subsampling is performed by
# convolutions with a stride of 2", then "global average pooling, a 10-way fully-connected
# layer, and softmax". The stages have no name in the paper; they continue Table 1's.
CIFAR_STEM = Stem(Conv(3, 16), stride=1, output_size=32, pool=None)
CIFAR_SEC42 = (
    Stage("conv2_x", 32, (Conv(3, 16), Conv(3, 16)), "n"),
    Stage("conv3_x", 16, (Conv(3, 32), Conv(3, 32)), "n"),
    Stage("conv4_x", 8, (Conv(3, 64), Conv(3, 64)), "n"),
)
# Table 6, "# params" column, as printed, by depth 6n+2.
CIFAR_TABLE6_PARAMS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M", 1202: "19.4M"}


STRIDE_AT = ("1x1", "3x3")


def cifar_stages(n: int) -> tuple[Stage, ...]:
    """Sec. 4.2's table with its n filled in: 3n blocks, 6n+2 weighted layers."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer (depth 6n+2), got {n!r}; the paper uses 3, 5, 7, 9, 18, 200")
    return tuple(stage._replace(blocks=n) for stage in CIFAR_SEC42)


def stride_index(block: Sequence[Conv], stride_at: str) -> int:
    """Which layer of a downsampling block has stride 2.

    ``"1x1"``: the block's first layer, as Table 1's note has it ("downsampling is performed
    by conv3_1, conv4_1, and conv5_1"): in a bottleneck, the 1x1 reduction, as in the
    authors' released Caffe models. ``"3x3"``: the first 3x3 layer, fb.resnet.torch's and
    torchvision's placement ("ResNet v1.5"), which the ResNeXt paper adopts. In a basic block
    the first layer is the 3x3 one, so both give the same network.
    """
    if stride_at not in STRIDE_AT:
        raise ConfigError(
            f"unknown stride_at {stride_at!r}; choose '1x1' (the paper's placement: the first "
            "1x1 conv of a downsampling bottleneck has stride 2) or '3x3' (torchvision's 'v1.5')"
        )
    if stride_at == "1x1":
        return 0
    return next((i for i, row in enumerate(block) if row.kernel == 3), 0)


class ResidualBlock(nn.Module):
    """One bracket of Table 1: its rows as conv-BN-ReLU layers (the last without ReLU), then
    ``act(branch + shortcut(x))`` (Fig. 2, Fig. 5), or ``act(branch)`` with no shortcut (the
    plain network). Stochastic depth drops the branch, never the shortcut."""

    def __init__(
        self,
        in_chs: int,
        block: Sequence[Conv],
        stride: int = 1,
        stride_at: str = "1x1",
        shortcut: str | None = "B",
        drop_prob: float = 0.0,
        drop_path_mode: str = "row",
        conv_bias: bool = False,
    ) -> None:
        super().__init__()
        at = stride_index(block, stride_at)
        chs = in_chs
        branch = []
        for i, row in enumerate(block):
            s = stride if i == at else 1
            if i < len(block) - 1:
                # Sec. 3.4: "batch normalization right after each convolution and before activation".
                layer: nn.Module = ConvNormAct(
                    chs, row.channels, row.kernel, s, row.kernel // 2, groups=row.groups, bias=conv_bias
                )
            else:  # the ReLU of the last layer comes after the addition (Fig. 2)
                layer = ConvNorm(chs, row.channels, row.kernel, s, groups=row.groups, bias=conv_bias)
            self.add_module(f"conv{i + 1}", layer)
            branch.append(f"conv{i + 1}")
            chs = row.channels
        self.branch = tuple(branch)
        self.in_chs, self.out_chs, self.stride = in_chs, chs, stride
        self.shortcut = make_shortcut(shortcut, in_chs, chs, stride, bias=conv_bias)
        self.drop_path = DropPath(drop_prob, drop_path_mode) if drop_prob > 0 else None
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.branch:
            out = getattr(self, name)(out)
        if self.shortcut is None:
            return self.act(out)  # plain network (Sec. 3.3): no shortcut, no addition
        if self.drop_path is not None:
            out = self.drop_path(out)
        return self.act(out + self.shortcut(x))


class ResNet(ClassifierNet):
    """A stem, stages of residual blocks walked from a Table 1 column (or Sec. 4.2's table),
    global average pooling and one fully connected layer.

    ``shortcut``: "A", "B", "C" (Sec. 3.3) or None (plain network). ``stride_at``: "1x1" (the
    paper) or "3x3" (torchvision's "v1.5"); see :func:`stride_index`. ``drop_path_rate``:
    stochastic depth's 1 - p_L (the last block's drop probability), spread over all blocks by the
    linear decay rule; ``drop_path_mode`` "row" drops per sample, "batch" per mini-batch (the paper's).
    ``conv_bias`` gives every convolution a bias (stochastic depth's Torch code; BatchNorm cancels it).
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        stem: Stem = RESNET_STEM,
        num_classes: int = 1000,
        in_chans: int = 3,
        shortcut: str | None = "B",
        stride_at: str = "1x1",
        drop_path_rate: float = 0.0,
        drop_path_mode: str = "row",
        conv_bias: bool = False,
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            make_shortcut(shortcut, 1, 1, 1)  # raises the ConfigError that lists the options
        stride_index(stages[0].block, stride_at)  # validates stride_at
        if drop_path_mode not in DROP_PATH_MODES:
            raise ConfigError(
                f"unknown drop_path_mode {drop_path_mode!r}; choose 'row' (one gate per sample) or "
                "'batch' (one gate per mini-batch, as the stochastic-depth paper)"
            )
        if shortcut is None and drop_path_rate > 0:
            raise ConfigError(
                f"drop_path_rate={drop_path_rate!r} needs residual blocks: a plain network (shortcut=None) "
                "has no shortcut to fall back on; use drop_path_rate=0.0 or a shortcut option 'A', 'B', 'C'"
            )
        if not isinstance(conv_bias, bool):
            raise ConfigError(f"conv_bias must be True or False, got {conv_bias!r}")
        for stage in stages:
            if isinstance(stage.blocks, bool) or not isinstance(stage.blocks, int) or stage.blocks < 1:
                raise ConfigError(f"stage {stage.name} needs a positive block count, got {stage.blocks!r}")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.shortcut_option, self.stride_at = shortcut, stride_at
        # Only bottleneck blocks (first layer 1x1) differ between the stride placements.
        size = stem.output_size * stem.stride  # the input the table is written for: 224 or 32
        self.default_input_size = (in_chans, size, size)

        self.conv1 = ConvNormAct(
            in_chans, stem.conv.channels, stem.conv.kernel, stem.stride, stem.conv.kernel // 2, bias=conv_bias
        )
        self.feature_info = [FeatureInfo("conv1", stem.conv.channels, stem.stride)]
        grid = stem.output_size
        if stem.pool is not None:
            # Table 1: "3x3 max pool, stride 2", 112 -> 56; padding 1 as torchvision.
            self.pool1 = nn.MaxPool2d(stem.pool, stride=2, padding=stem.pool // 2)
            grid //= 2
        else:
            self.pool1 = None

        rates = iter(drop_path_rates(drop_path_rate, sum(stage.blocks for stage in stages)))
        chs = stem.conv.channels
        self.stage_names = tuple(stage.name for stage in stages)
        for stage in stages:
            stride = grid // stage.output_size  # 1 for the first stage, then 2 (conv3_1 ...)
            blocks = []
            for i in range(stage.blocks):
                blocks.append(
                    ResidualBlock(
                        chs,
                        stage.block,
                        stride if i == 0 else 1,
                        stride_at,
                        shortcut,
                        next(rates),
                        drop_path_mode,
                        conv_bias,
                    )
                )
                chs = stage.block[-1].channels
            self.add_module(stage.name, nn.Sequential(*blocks))
            grid = stage.output_size
            self.feature_info.append(FeatureInfo(stage.name, chs, size // grid))
        # Table 1's "average pool" is 7x7 at 224 (Sec. 4.2: "global average pooling"): global
        # pooling is the same thing there and lets other sizes run.
        self.pool5 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chs, num_classes)
        init_resnet_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # ResNet-50 at 224: conv1 N x 64 x 112 x 112, pool1 N x 64 x 56 x 56, conv2_x
        # N x 256 x 56 x 56, conv3_x N x 512 x 28 x 28, conv4_x N x 1024 x 14 x 14.
        # CIFAR at 32: conv1 N x 16 x 32 x 32, conv2_x .. conv4_x 16x32x32, 32x16x16, 64x8x8.
        x = self.conv1(x)
        if self.pool1 is not None:
            x = self.pool1(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x  # ResNet-50: N x 2048 x 7 x 7; CIFAR: N x 64 x 8 x 8

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool5(x), 1)  # N x 2048 (ResNet-50), N x 64 (CIFAR)
        return x if pre_logits else self.fc(x)  # N x num_classes


def init_resnet_weights(model: nn.Module) -> None:
    """He et al. 2015 [13] ("Delving deep into rectifiers", Sec. 2.2) for the convs, in its
    fan-out form as torchvision does ([13] shows either form keeps the signal); BatchNorm at
    identity; conv biases (``conv_bias=True``) zero; the fc keeps PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# torchvision's ResNet keys (resnet*, resnext*, wide_resnet*) -> cnnlab's: conv1/bn1 form
# conv1; layer1..layer4 are conv2_x..conv5_x; in a block convK/bnK form convK, downsample.0/1
# (1x1 conv, BN) is the projection shortcut; fc is fc.
_TORCHVISION_RULES = (
    (r"^conv1\.weight$", "conv1.conv.weight"),
    (r"^bn1\.", "conv1.bn."),
    (r"^layer1\.", "conv2_x."),
    (r"^layer2\.", "conv3_x."),
    (r"^layer3\.", "conv4_x."),
    (r"^layer4\.", "conv5_x."),
    (r"^(conv\d_x\.\d+)\.conv(\d)\.weight$", r"\1.conv\2.conv.weight"),
    (r"^(conv\d_x\.\d+)\.bn(\d)\.", r"\1.conv\2.bn."),
    (r"^(conv\d_x\.\d+)\.downsample\.0\.", r"\1.shortcut.conv."),
    (r"^(conv\d_x\.\d+)\.downsample\.1\.", r"\1.shortcut.bn."),
)


def remap_torchvision_resnet(state: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """torchvision's ResNet, ResNeXt and Wide ResNet state dicts -> cnnlab's names.

    torchvision always puts the stride on the 3x3 conv of a downsampling bottleneck. Its
    weights have the same shapes in the paper's placement (``stride_at="1x1"``), but there
    they would compute other features: the cards' ``requires={"stride_at": "3x3"}`` makes
    cnnlab.weights refuse that, before any download.
    """
    return rename_keys(state, _TORCHVISION_RULES)


def torchvision_resnet(builder: str, weights: str, **requires: Any) -> TorchvisionWeights:
    """torchvision's weights for a ResNet-like net; ``requires`` (``stride_at="3x3"``) are the
    options they were trained with, checked before loading (cnnlab.weights)."""
    return TorchvisionWeights(
        builder=builder, weights=weights, remap=remap_torchvision_resnet, model_kwargs=requires, requires=requires
    )


# -- ImageNet ResNets (Table 1) -----------------------------------------------------------

_PREPROCESS = (
    "inputs normalised with the ImageNet per-channel mean and std (torchvision's preprocessing); "
    "the paper subtracts the per-pixel mean (Sec. 3.4)"
)
_V15 = (
    "stride 2 on the 3x3 conv of each downsampling bottleneck (torchvision's and fb.resnet.torch's "
    "'ResNet v1.5'); the paper puts it on the block's first layer, the 1x1 (Table 1: 'downsampling is "
    "performed by conv3_1, conv4_1, and conv5_1'): same parameters, 231,211,008 more multiply-adds at 224"
)
_V1_NOTES = (
    "stride_at='1x1' (default, the paper's and its Caffe models' placement): the first 1x1 conv of a "
    "downsampling bottleneck (conv3_1, conv4_1, conv5_1) has stride 2. torchvision's {tv} puts the "
    "stride on the 3x3 ('v1.5', stride_at='3x3', the {tv}_tv model): same parameters, 231,211,008 "
    "more multiply-adds. weights='torchvision' or a torchvision file loads only with stride_at='3x3' "
    "(the weights were trained in that placement); with '1x1' loading is refused. "
)
_BASIC_NOTES = (
    "Basic blocks have no 1x1 conv: the stride of conv3_1, conv4_1, conv5_1 is on the first 3x3 for "
    "either stride_at, which is also torchvision's {tv}, so its weights load here directly (no _tv name). "
)
_COMMON_NOTES = (
    "shortcut='B' (default; Sec. 3.3: projections where dimensions increase), 'A' (zero padding, no "
    "parameters), 'C' (projections everywhere) or None (the plain net). drop_path_rate: stochastic "
    "depth's 1 - p_L (Huang et al. 2016), linear decay over all blocks; identity in eval."
)
_TV_NOTES = (
    "torchvision's {tv} ('ResNet v1.5'): stride 2 on the 3x3 conv of conv3_1, conv4_1, conv5_1; "
    "{tv} is the paper's placement (stride on the first 1x1). "
    "drop_path_rate: stochastic depth's 1 - p_L (the last block's drop probability). "
)

# Deviation: torchvision's mean/std normalisation; the paper subtracts the per-pixel mean.
RESNET_FAMILY = Family(
    "resnet",
    HE_2015,
    input_size=(3, 224, 224),
    num_classes=1000,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=(_PREPROCESS,),
    test_input_size=(3, 64, 64),  # 64 -> 2x2 at conv5_x; global pooling feeds the fc
    table_format="Table 1, {} column",
)
# torchvision's placement of the bottleneck nets ("v1.5"): no stride_at or shortcut option,
# the structure torchvision's weights were trained in.
# Deviation: stride on the 3x3 (torchvision); the paper's is on the first 1x1.
RESNET_TV_FAMILY = dataclasses.replace(
    RESNET_FAMILY, deviations=(_PREPROCESS, _V15), table_format="Table 1, {} column, stride on the 3x3 (torchvision)"
)
# Plain baselines (Sec. 3.3, Fig. 3 middle): the same columns without shortcuts.
PLAIN_FAMILY = dataclasses.replace(RESNET_FAMILY, table_format="Table 1, {} column, plain (Sec. 3.3, no shortcuts)")
# What a plain net fixes: no shortcut, so no stochastic depth either.
_PLAIN = {"shortcut": None, "drop_path_rate": 0.0, "drop_path_mode": "row"}


def resnet_imagenet(
    column: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    shortcut: str | None = "B",
    stride_at: str = "1x1",
    drop_path_rate: float = 0.0,
    drop_path_mode: str = "row",
) -> ResNet:
    """A ResNet of Table 1: ``column`` is "18-layer", "34-layer", "50-layer", "101-layer" or "152-layer"."""
    return ResNet(
        RESNET_TABLE1[column],
        RESNET_STEM,
        num_classes,
        in_chans,
        shortcut=shortcut,
        stride_at=stride_at,
        drop_path_rate=drop_path_rate,
        drop_path_mode=drop_path_mode,
    )


# Multiply-adds at 224 (Table 1 rounds them to 0.1x10^9): the specification's exact values.
# "v1.5" (stride_at="3x3") moves the stride of conv3_1, conv4_1, conv5_1 from the first 1x1 to
# the 3x3, so that 1x1 runs on the full input grid: 4x its MACs. Each of the three is
# 28*28*256*128 = 14*14*512*256 = 7*7*1024*512 = 25,690,112 MACs in the paper's placement, so
# v1.5 adds 3 x 3 x 25,690,112 = 231,211,008 for every bottleneck depth (same widths).
V15_EXTRA_MACS = 231_211_008
# The plain baselines' multiply-adds are the residual nets' minus the three projection
# shortcuts of option B, each 28*28*64*128 = 14*14*128*256 = 7*7*256*512 = 6,422,528
# (19,267,584 in all).
PROJECTION_MACS_18_34 = 3 * 6_422_528
_FLOPS = {column: f"{flops} FLOPs (multiply-adds), Table 1" for column, flops in TABLE1_FLOPS.items()}
_DEEP_TEST_SIZE = (3, 32, 32)  # the 101- and 152-layer nets test at 32x32 (1x1 at conv5_x)

resnet18 = register_variant(
    RESNET_FAMILY.card(
        "resnet18",
        "18-layer",
        11_689_512,
        1_814_073_344,
        paper_macs=_FLOPS["18-layer"],
        torchvision=torchvision_resnet("resnet18", "ResNet18_Weights.IMAGENET1K_V1"),
        notes=_BASIC_NOTES.format(tv="resnet18") + _COMMON_NOTES,
    ),
    resnet_imagenet,
    column="18-layer",
)
resnet34 = register_variant(
    RESNET_FAMILY.card(
        "resnet34",
        "34-layer",
        21_797_672,
        3_663_761_408,
        paper_macs=_FLOPS["34-layer"],
        torchvision=torchvision_resnet("resnet34", "ResNet34_Weights.IMAGENET1K_V1"),
        notes=_BASIC_NOTES.format(tv="resnet34")
        + _COMMON_NOTES
        + " Sec. 4.1 compares A (21,623,848 parameters), B (21,797,672) and C (22,716,840) on this net (Table 3)."
        " Table 1's 3.6x10^9 fits the net without its three projection shortcuts (3,644,493,824, as plain34); "
        "option B's projections bring it to 3,663,761,408, 3.7x10^9 rounded.",
    ),
    resnet_imagenet,
    column="34-layer",
)
resnet50 = register_variant(
    RESNET_FAMILY.card(
        "resnet50",
        "50-layer",
        25_557_032,
        3_857_973_248,
        paper_macs=_FLOPS["50-layer"],
        torchvision=torchvision_resnet("resnet50", "ResNet50_Weights.IMAGENET1K_V1", stride_at="3x3"),
        notes=_V1_NOTES.format(tv="resnet50")
        + _COMMON_NOTES
        + " Table 1 prints 3.8x10^9; the exact 3,857,973,248 rounds to 3.9x10^9 (the paper does not say how it "
        "rounded; its 101- and 152-layer figures are rounded to the nearest).",
    ),
    resnet_imagenet,
    column="50-layer",
)
resnet101 = register_variant(
    RESNET_FAMILY.card(
        "resnet101",
        "101-layer",
        44_549_160,
        7_570_194_432,
        paper_macs=_FLOPS["101-layer"],
        torchvision=torchvision_resnet("resnet101", "ResNet101_Weights.IMAGENET1K_V1", stride_at="3x3"),
        notes=_V1_NOTES.format(tv="resnet101") + _COMMON_NOTES,
        test_input_size=_DEEP_TEST_SIZE,
    ),
    resnet_imagenet,
    column="101-layer",
)
resnet152 = register_variant(
    RESNET_FAMILY.card(
        "resnet152",
        "152-layer",
        60_192_808,
        11_282_415_616,
        paper_macs=_FLOPS["152-layer"],
        torchvision=torchvision_resnet("resnet152", "ResNet152_Weights.IMAGENET1K_V1", stride_at="3x3"),
        notes=_V1_NOTES.format(tv="resnet152") + _COMMON_NOTES,
        test_input_size=_DEEP_TEST_SIZE,
    ),
    resnet_imagenet,
    column="152-layer",
)
resnet50_tv = register_variant(
    RESNET_TV_FAMILY.card(
        "resnet50_tv",
        "50-layer",
        25_557_032,
        3_857_973_248 + V15_EXTRA_MACS,  # 4,089,184,256
        paper_macs=_FLOPS["50-layer"],
        torchvision=torchvision_resnet("resnet50", "ResNet50_Weights.IMAGENET1K_V1"),
        notes=_TV_NOTES.format(tv="resnet50")
        + "Table 1's 3.8x10^9 is the paper's placement (resnet50: 3,857,973,248); "
        "the stride on the 3x3 adds 231,211,008. "
        + "The ResNeXt paper's Table 1 prints this network as ResNet-50: 25.5x10^6 parameters, 4.1x10^9 FLOPs.",
    ),
    resnet_imagenet,
    column="50-layer",
    shortcut="B",
    stride_at="3x3",
)
resnet101_tv = register_variant(
    RESNET_TV_FAMILY.card(
        "resnet101_tv",
        "101-layer",
        44_549_160,
        7_570_194_432 + V15_EXTRA_MACS,  # 7,801,405,440
        paper_macs=_FLOPS["101-layer"],
        torchvision=torchvision_resnet("resnet101", "ResNet101_Weights.IMAGENET1K_V1"),
        notes=_TV_NOTES.format(tv="resnet101")
        + "Table 1's 7.6x10^9 is the paper's placement (resnet101: 7,570,194,432); "
        "the stride on the 3x3 adds 231,211,008. ",
        test_input_size=_DEEP_TEST_SIZE,
    ),
    resnet_imagenet,
    column="101-layer",
    shortcut="B",
    stride_at="3x3",
)
resnet152_tv = register_variant(
    RESNET_TV_FAMILY.card(
        "resnet152_tv",
        "152-layer",
        60_192_808,
        11_282_415_616 + V15_EXTRA_MACS,  # 11,513,626,624
        paper_macs=_FLOPS["152-layer"],
        torchvision=torchvision_resnet("resnet152", "ResNet152_Weights.IMAGENET1K_V1"),
        notes=_TV_NOTES.format(tv="resnet152")
        + "Table 1's 11.3x10^9 is the paper's placement (resnet152: 11,282,415,616); "
        "the stride on the 3x3 adds 231,211,008. ",
        test_input_size=_DEEP_TEST_SIZE,
    ),
    resnet_imagenet,
    column="152-layer",
    shortcut="B",
    stride_at="3x3",
)
plain18 = register_variant(
    PLAIN_FAMILY.card(
        "plain18",
        "18-layer",
        11_515_688,
        1_814_073_344 - PROJECTION_MACS_18_34,  # 1,794,805,760
        notes="The paper's 18-layer plain baseline (Table 2, Fig. 4 left): Table 1's layers with no shortcuts.",
    ),
    resnet_imagenet,
    column="18-layer",
    stride_at="1x1",
    **_PLAIN,
)
plain34 = register_variant(
    PLAIN_FAMILY.card(
        "plain34",
        "34-layer",
        21_623_848,
        3_663_761_408 - PROJECTION_MACS_18_34,  # 3,644,493,824
        paper_macs="3.6 billion FLOPs (multiply-adds), Sec. 3.3",
        notes="The paper's 34-layer plain baseline (Fig. 3 middle, Table 2): Table 1's layers with no "
        "shortcuts; the same as create_model('resnet34', shortcut=None).",
    ),
    resnet_imagenet,
    column="34-layer",
    stride_at="1x1",
    **_PLAIN,
)


# -- CIFAR-10 ResNets (Sec. 4.2) ------------------------------------------------------------


# Multiply-adds at 32x32, by hand from Sec. 4.2's table: every 3x3 conv in a stage costs
# 32*32*16*16*9 = 16*16*32*32*9 = 8*8*64*64*9 = 2,359,296 except the two stride-2 convs that
# open conv3_x and conv4_x (half: 1,179,648 each), over 6n convs: (6n - 1) * 2,359,296; plus
# conv1 32*32*3*16*9 = 442,368 and the fc 64*10 = 640.
def cifar_macs(n: int) -> int:
    return (6 * n - 1) * 2_359_296 + 442_368 + 640


def resnet_cifar(
    n: int,
    num_classes: int = 10,
    in_chans: int = 3,
    shortcut: str | None = "A",
    drop_path_rate: float = 0.0,
    drop_path_mode: str = "row",
    conv_bias: bool = False,
) -> ResNet:
    """The 6n+2-layer CIFAR-10 ResNet of Sec. 4.2 (``shortcut=None``: its plain counterpart)."""
    return ResNet(
        cifar_stages(n),
        CIFAR_STEM,
        num_classes,
        in_chans,
        shortcut=shortcut,
        drop_path_rate=drop_path_rate,
        drop_path_mode=drop_path_mode,
        conv_bias=conv_bias,
    )


_CIFAR_DEVIATIONS = (
    "inputs normalised with the CIFAR-10 per-channel mean and std; the paper subtracts the per-pixel mean (Sec. 4.2)",
)
_CIFAR_NOTES = (
    "6n+2 layers: conv1, 3 stages of n basic blocks (16, 32, 64 filters on 32x32, 16x16, 8x8 maps), "
    "global average pool, 10-way fc; option A shortcuts (zero padding appended after the input "
    "channels, stride-2 subsampling), as Sec. 4.2 uses in all cases. Options: shortcut ('A', 'B', "
    "'C', None), drop_path_rate (stochastic depth), conv_bias."
)
# Deviation: per-channel mean/std; the paper subtracts the per-pixel mean.
RESNET_CIFAR_FAMILY = Family(
    "resnet",
    HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    deviations=_CIFAR_DEVIATIONS,
    notes=_CIFAR_NOTES,
    test_input_size=(3, 32, 32),
    table_format="Sec. 4.2 CIFAR-10 table, {}, option A shortcuts",
)
PLAIN_CIFAR_FAMILY = dataclasses.replace(
    RESNET_CIFAR_FAMILY,
    notes="The plain counterpart of Sec. 4.2 (Fig. 6 left): the same layers without shortcuts.",
    table_format="Sec. 4.2 CIFAR-10 table, {}, plain",
)
_TABLE6 = {depth: f"{params} (Table 6)" for depth, params in CIFAR_TABLE6_PARAMS.items()}

# Exact parameter counts: 97,216 n - 21,926 (derived by hand in tests/models/test_resnet.py);
# option A shortcuts have no parameters, so each plain net has its ResNet's count.
resnet20 = register_variant(
    RESNET_CIFAR_FAMILY.card("resnet20", "n=3 (20 layers)", 269_722, cifar_macs(3), paper_params=_TABLE6[20]),
    resnet_cifar,
    n=3,
)
resnet32 = register_variant(
    RESNET_CIFAR_FAMILY.card("resnet32", "n=5 (32 layers)", 464_154, cifar_macs(5), paper_params=_TABLE6[32]),
    resnet_cifar,
    n=5,
)
resnet44 = register_variant(
    RESNET_CIFAR_FAMILY.card("resnet44", "n=7 (44 layers)", 658_586, cifar_macs(7), paper_params=_TABLE6[44]),
    resnet_cifar,
    n=7,
)
resnet56 = register_variant(
    RESNET_CIFAR_FAMILY.card("resnet56", "n=9 (56 layers)", 853_018, cifar_macs(9), paper_params=_TABLE6[56]),
    resnet_cifar,
    n=9,
)
resnet110 = register_variant(
    RESNET_CIFAR_FAMILY.card("resnet110", "n=18 (110 layers)", 1_727_962, cifar_macs(18), paper_params=_TABLE6[110]),
    resnet_cifar,
    n=18,
)
resnet1202 = register_variant(
    RESNET_CIFAR_FAMILY.card(
        "resnet1202",
        "n=200 (1202 layers)",
        19_421_274,
        cifar_macs(200),
        paper_params=_TABLE6[1202],
        notes=" Sec. 4.2: it overfits (7.93% error against ResNet-110's 6.43%).",
    ),
    resnet_cifar,
    n=200,
)
plain20 = register_variant(
    PLAIN_CIFAR_FAMILY.card("plain20", "n=3 (20 layers)", 269_722, cifar_macs(3)), resnet_cifar, n=3, **_PLAIN
)
plain32 = register_variant(
    PLAIN_CIFAR_FAMILY.card("plain32", "n=5 (32 layers)", 464_154, cifar_macs(5)), resnet_cifar, n=5, **_PLAIN
)
plain44 = register_variant(
    PLAIN_CIFAR_FAMILY.card("plain44", "n=7 (44 layers)", 658_586, cifar_macs(7)), resnet_cifar, n=7, **_PLAIN
)
plain56 = register_variant(
    PLAIN_CIFAR_FAMILY.card("plain56", "n=9 (56 layers)", 853_018, cifar_macs(9)), resnet_cifar, n=9, **_PLAIN
)
plain110 = register_variant(
    PLAIN_CIFAR_FAMILY.card("plain110", "n=18 (110 layers)", 1_727_962, cifar_macs(18)), resnet_cifar, n=18, **_PLAIN
)

# Huang et al.'s stochastic depth on He et al.'s ResNet-110.
STOCHASTIC_DEPTH_FAMILY = dataclasses.replace(
    RESNET_CIFAR_FAMILY,
    paper=HUANG_2016,
    deviations=(
        "inputs normalised with the CIFAR-10 per-channel mean and std; He et al. (Sec. 4.2), whose "
        "ResNet-110 this is, subtract the per-pixel mean",
    ),
    notes="",
    table_format="Sec. 4 (CIFAR-10): He et al.'s 110-layer ResNet (their Sec. 4.2 table, {}) "
    "with linear decay, p_L = 0.5",
)
# Deviation: DropPath's inverted scaling (1/p_l in training) instead of p_l at test time.
# conv_bias=False is He et al.'s ResNet-110; the authors' Torch code has conv biases (True).
resnet110_sd = register_variant(
    STOCHASTIC_DEPTH_FAMILY.card(
        "resnet110_sd",
        "n=18",
        1_727_962,
        cifar_macs(18),
        paper_params="1.7M (He et al. 2015, Table 6)",
        deviations=(
            "in training a surviving branch is scaled by 1/p_l and eval uses the plain residual net "
            "(inverted scaling); the paper leaves training branches unscaled and multiplies each by "
            "its survival probability p_l at test time (Eq. 5): equal in expectation",
            "no convolution biases, as He et al.'s ResNet-110 that the paper trains (1,727,962 "
            "parameters); the authors' Torch code keeps them: conv_bias=True gives its 1,732,010",
        ),
        notes=(
            "drop_path_rate=0.5 is 1 - p_L = 0.5, the paper's setting; block l of the L = 54 gets drop "
            "probability l/L x 0.5 (linear decay rule, Eq. 4). drop_path_mode='batch' drops a block for "
            "the whole mini-batch, as the paper (abstract: 'for each mini-batch') and its code; 'row' "
            "draws one gate per sample. Option A shortcuts. Options as resnet110."
        ),
    ),
    resnet_cifar,
    n=18,
    defaults={"drop_path_rate": 0.5, "drop_path_mode": "batch"},
)


# -- Wide ResNet-50-2 -------------------------------------------------------------------------


def widen(stages: Sequence[Stage], factor: int) -> tuple[Stage, ...]:
    """A bottleneck column with its inner (1x1 reduce and 3x3) widths multiplied by
    ``factor`` and its outer widths kept: WRN-50-2 is ``widen(Table 1 50-layer, 2)``."""
    return tuple(
        s._replace(block=tuple(r._replace(channels=r.channels * factor) for r in s.block[:-1]) + s.block[-1:])
        for s in stages
    )
