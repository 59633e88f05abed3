"""Pre-activation ResNet: He, Zhang, Ren & Sun (2016), "Identity mappings in deep residual
networks", ECCV 2016, arXiv:1603.05027: the full pre-activation Residual Unit (Fig. 1(b),
Fig. 4(e)), BN -> ReLU -> conv before each weight layer, added to an identity path that
nothing touches.

The CIFAR-10 networks (ResNet-164, ResNet-1001; depth 9n + 2) are the authors' released Torch
code, KaimingHe/resnet-1k-layers ``resnet-pre-act.lua``. ResNet-200 on ImageNet puts the same
units into the layout of He et al. 2015 ("Deep residual learning for image recognition",
Table 1) with [3, 24, 36, 3] units, fb.resnet.torch's ``cfg[200]``.

Module names: ``conv1`` (the stem; the ImageNet stem adds ``bn1``, ``relu1``, ``maxpool``),
``conv2_x`` ... ``conv4_x`` (CIFAR) or ``conv5_x`` (ImageNet), units numbered from 0, then
``bn_final`` and ``relu_final`` (the extra activation after the last unit's addition),
``avgpool``, ``fc``. Inside a unit: ``bn1 relu1 conv1 bn2 relu2 conv2 bn3 relu3 conv3``,
``shortcut`` (``Identity`` or the 1x1 projection) and ``drop_path``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import DropPath, drop_path_rates
from ..layers.resnet_shortcuts import preact_shortcut
from ..registry import (
    FB_CIFAR10_MEAN,
    FB_CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Family,
    Paper,
    register_variant,
)
from .base import ClassifierNet, FeatureInfo

HE_2016 = Paper(
    authors="He, Zhang, Ren & Sun",
    title="Identity mappings in deep residual networks",
    year=2016,
    venue="ECCV 2016",
    arxiv="1603.05027",
)


class Stem(NamedTuple):
    """The layers before the first Residual Unit."""

    out: int  # conv1's filters
    kernel: int
    stride: int
    bn_relu: bool  # conv1 -> BN -> ReLU of He et al. 2015 (ImageNet)
    maxpool: bool  # 3x3 max pool, stride 2 (ImageNet)
    image: int  # the input side the layout is designed for


class Stage(NamedTuple):
    """A stage of bottleneck units [1x1, width; 3x3, width; 1x1, out] (He et al. 2015,
    Table 1's bracket notation); the first unit has ``stride``."""

    name: str
    width: int
    out: int
    stride: int


# CIFAR-10: resnet-pre-act.lua, nStages = {16, 64, 128, 256}: conv1 3x3 16 on 32x32, then
# three stages of n bottleneck units (3n weight layers each) on 32x32, 16x16 and 8x8 maps,
# BN-ReLU, 8x8 average pool, fc 10: depth 9n + 2. conv1 has no BN-ReLU of its own: the first
# unit's pre-activation is "the first activation right after conv1 and before splitting into
# two paths" (the paper, Sec. 4, on its first and last units).
CIFAR_STEM = Stem(out=16, kernel=3, stride=1, bn_relu=False, maxpool=False, image=32)
CIFAR_STAGES = (
    Stage("conv2_x", 16, 64, 1),  # 32x32
    Stage("conv3_x", 32, 128, 2),  # 16x16
    Stage("conv4_x", 64, 256, 2),  # 8x8
)
RESNET164_N = 18  # 9 x 18 + 2 = 164
RESNET1001_N = 111  # 9 x 111 + 2 = 1001

# ImageNet: He et al. 2015, Table 1, conv1 "7x7, 64, stride 2" and "3x3 max pool, stride 2"
# (with BN and ReLU after conv1, as in that paper's networks), then the bottleneck rows;
# global average pool, fc 1000.
IMAGENET_STEM = Stem(out=64, kernel=7, stride=2, bn_relu=True, maxpool=True, image=224)
IMAGENET_STAGES = (
    Stage("conv2_x", 64, 256, 1),  # 56x56
    Stage("conv3_x", 128, 512, 2),  # 28x28
    Stage("conv4_x", 256, 1024, 2),  # 14x14
    Stage("conv5_x", 512, 2048, 2),  # 7x7
)
# ResNet-200 (the paper's ImageNet results): the 152-layer column's [3, 8, 36, 3] with conv3_x at 24
# units, fb.resnet.torch's cfg[200]: 3 x (3 + 24 + 36 + 3) + 2 = 200.
RESNET200_UNITS = (3, 24, 36, 3)

STRIDE_AT = ("1x1", "3x3")

GLOBAL_POOL_DEVIATION = (
    "global average pooling (AdaptiveAvgPool2d(1)): exactly the code's 8x8 (CIFAR) or 7x7 "
    "(ImageNet) average pool at the default input size, and other sizes run"
)


class PreActBottleneck(nn.Module):
    """The full pre-activation bottleneck unit: x + F(x) with F = (BN-ReLU-conv) x 3.

    Where the dimensions change (the first unit of a stage) the unit pre-activates once and
    feeds both paths: the 1x1 projection shortcut sees BN-ReLU(x), as the authors' code does
    ("common BN, ReLU" in resnet-pre-act.lua). Everywhere else the shortcut is the identity
    and x reaches the addition untouched.
    """

    def __init__(
        self,
        in_chs: int,
        width: int,
        out_chs: int,
        stride: int = 1,
        stride_at: str = "1x1",
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        # The authors' code strides the first 1x1 (as their Caffe models of He et al. 2015);
        # fb.resnet.torch and torchvision stride the 3x3.
        s1, s3 = (stride, 1) if stride_at == "1x1" else (1, stride)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, width, 1, s1, bias=False)  # no biases: the code drops them (cudnn >= 4)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, s3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.shortcut = preact_shortcut(in_chs, out_chs, stride)
        self.projection = not isinstance(self.shortcut, nn.Identity)
        self.drop_path = DropPath(drop_path_prob)  # on F(x) only; the identity in eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu1(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu2(self.bn2(out)))
        out = self.conv3(self.relu3(self.bn3(out)))
        return self.shortcut(pre if self.projection else x) + self.drop_path(out)


class PreActResNet(ClassifierNet):
    """Full pre-activation ResNet of bottleneck units: a stem, ``stages`` of ``units[i]``
    units each, then BN-ReLU (the last unit's extra activation), global average pool, fc."""

    def __init__(
        self,
        stem: Stem,
        stages: Sequence[Stage],
        units: Sequence[int],
        num_classes: int,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
        stride_at: str = "1x1",
    ) -> None:
        super().__init__()
        if stride_at not in STRIDE_AT:
            raise ConfigError(
                f"unknown stride_at {stride_at!r}; choose '1x1' (the authors' code) or '3x3' (fb.resnet.torch)"
            )
        if len(units) != len(stages) or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in units):
            raise ConfigError(f"units must be {len(stages)} positive integers, one per stage, got {tuple(units)!r}")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.default_input_size = (in_chans, stem.image, stem.image)
        self.stem, self.stride_at = stem, stride_at
        self.conv1 = nn.Conv2d(in_chans, stem.out, stem.kernel, stem.stride, stem.kernel // 2, bias=False)
        reduction = stem.stride
        if stem.bn_relu:
            self.bn1 = nn.BatchNorm2d(stem.out)
            self.relu1 = nn.ReLU(inplace=True)
        if stem.maxpool:
            self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        self.feature_info = [FeatureInfo("relu1" if stem.bn_relu else "conv1", stem.out, reduction)]
        reduction *= 2 if stem.maxpool else 1
        # Huang et al. 2016's linear decay over all units, first to last.
        rates = iter(drop_path_rates(drop_path_rate, sum(units)))
        chs = stem.out
        self.stage_names = [s.name for s in stages]
        for stage, count in zip(stages, units):
            blocks = []
            for i in range(count):
                stride = stage.stride if i == 0 else 1
                blocks.append(PreActBottleneck(chs, stage.width, stage.out, stride, stride_at, next(rates)))
                chs = stage.out
            self.add_module(stage.name, nn.Sequential(*blocks))
            reduction *= stage.stride
            self.feature_info.append(FeatureInfo(stage.name, chs, reduction))
        # The last unit is "followed by average pooling and a fully-connected classifier":
        # an extra activation right after its addition (Sec. 4).
        self.bn_final = nn.BatchNorm2d(chs)
        self.relu_final = nn.ReLU(inplace=True)
        self.feature_info[-1] = FeatureInfo("relu_final", chs, reduction)
        # Deviation (declared): global, the code's 8x8 (CIFAR) or 7x7 (ImageNet) average pool at
        # the designed size.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chs, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # The authors' code: conv weights N(0, 2 / (k*k*out)), BN scale 1 and shift 0, linear
        # bias 0 (the linear weight keeps Torch's uniform +-1/sqrt(fan_in), PyTorch's default).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.init_classifier(self.fc)

    def init_classifier(self, layer: nn.Module) -> None:
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # CIFAR: N x 16 x 32 x 32; ImageNet: N x 64 x 112 x 112
        if self.stem.bn_relu:
            x = self.relu1(self.bn1(x))
        if self.stem.maxpool:
            x = self.maxpool(x)  # N x 64 x 56 x 56
        # CIFAR: conv2_x N x 64 x 32 x 32, conv3_x N x 128 x 16 x 16, conv4_x N x 256 x 8 x 8;
        # ImageNet: conv2_x N x 256 x 56 x 56 ... conv5_x N x 2048 x 7 x 7
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.relu_final(self.bn_final(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 256 (CIFAR) or N x 2048 (ImageNet)
        return x if pre_logits else self.fc(x)


def cifar_depth_units(depth: int) -> int:
    """n, the units per stage, of a CIFAR bottleneck network of ``depth`` = 9n + 2 layers;
    a ConfigError naming the nearest valid depths otherwise."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 11 or (depth - 2) % 9:
        if isinstance(depth, bool) or not isinstance(depth, int):
            hint = "an integer 9n + 2, e.g. 164 or 1001"
        else:
            below = (depth - 2) // 9 * 9 + 2
            near = sorted({max(d, 11) for d in (below, below + 9)})
            hint = "nearest valid depths: " + " and ".join(map(str, near))
        raise ConfigError(
            f"depth {depth!r} is not 9n + 2 (n bottleneck units of 3 layers in each of 3 stages, "
            f"plus conv1 and fc); {hint}"
        )
    return (depth - 2) // 9


def preact_resnet_cifar(
    depth: int,
    num_classes: int = 10,
    in_chans: int = 3,
    drop_path_rate: float = 0.0,
    stride_at: str = "1x1",
) -> PreActResNet:
    """A CIFAR pre-activation bottleneck ResNet of any depth 9n + 2 (164 and 1001 in the paper)."""
    n = cifar_depth_units(depth)
    return PreActResNet(CIFAR_STEM, CIFAR_STAGES, (n, n, n), num_classes, in_chans, drop_path_rate, stride_at)


_CIFAR_NOTES = (
    "Full pre-activation bottleneck units (Fig. 4(e)): BN-ReLU-conv1x1, BN-ReLU-conv3x3, "
    "BN-ReLU-conv1x1, added to the identity; convs without biases. The first unit of each "
    "stage changes dimensions: it applies BN-ReLU once, before splitting, and its 1x1 "
    "projection shortcut (stride 2 in conv3_x and conv4_x; no BN) takes that pre-activated "
    "input, as resnet-pre-act.lua does; conv1 has no BN-ReLU of its own (the first unit's "
    "is 'the first activation right after conv1'). BN-ReLU after the last unit, then "
    "global average pooling and fc. "
    "stride_at='1x1' (default, the authors' code) strides the first 1x1 of a unit, '3x3' "
    "the 3x3 (fb.resnet.torch); the count does not change, MACs do. drop_path_rate adds "
    "stochastic depth (Huang et al. 2016, linear decay over all units; off by default, not "
    "in this paper). Init as the code: conv N(0, 2/(k*k*out)), BN 1/0, fc bias 0. Mean/std "
    "are fb.resnet.torch's CIFAR-10 statistics, which the code normalises with."
)

PREACT_CIFAR_FAMILY = Family(
    "preact_resnet",
    HE_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    mean=FB_CIFAR10_MEAN,
    std=FB_CIFAR10_STD,
    deviations=(GLOBAL_POOL_DEVIATION,),
    notes=_CIFAR_NOTES,
    test_input_size=(3, 32, 32),
    table_format="CIFAR-10 {}, KaimingHe/resnet-1k-layers resnet-pre-act.lua",
)


def cifar_params(n: int) -> int:
    """The parameters of the CIFAR network with n units per stage (depth 9n + 2)."""
    # conv1 3*9*16 = 432; per stage (c in, b width, o out): first unit 2c + cb + 2b + 9b^2
    # + 2b + bo + co (projection), the n - 1 others 2o + ob + 2b + 9b^2 + 2b + bo each:
    # conv2_x (16, 16, 64) 4,704 + (n - 1) x 4,544; conv3_x (64, 32, 128) 23,808 + (n - 1) x
    # 17,792; conv4_x (128, 64, 256) 94,720 + (n - 1) x 70,400; bn_final 512; fc 2,560 + 10.
    return 432 + (4_704 + (n - 1) * 4_544) + (23_808 + (n - 1) * 17_792) + (94_720 + (n - 1) * 70_400) + 512 + 2_570


def cifar_macs(n: int) -> int:
    """The multiply-accumulates at 32x32 of the CIFAR network with n units per stage."""
    # Output positions x (in x k*k x out): conv1 1024*432; conv2_x at 32x32: 1024*(16*16 +
    # 9*16*16 + 16*64 + 16*64) + (n - 1)*1024*(64*16 + 9*16*16 + 16*64); conv3_x at 16x16 (the
    # stride on the first 1x1): 256*(64*32 + 9*32*32 + 32*128 + 64*128) + (n - 1)*256*(128*32
    # + 9*32*32 + 32*128); conv4_x at 8x8: 64*(128*64 + 9*64*64 + 64*256 + 128*256) +
    # (n - 1)*64*(256*64 + 9*64*64 + 64*256); fc 256*10.
    return (
        442_368
        + (4_718_592 + (n - 1) * 4_456_448)
        + (6_029_312 + (n - 1) * 4_456_448)
        + (6_029_312 + (n - 1) * 4_456_448)
        + 2_560
    )


preact_resnet164 = register_variant(
    PREACT_CIFAR_FAMILY.card(
        "preact_resnet164",
        "ResNet-164 (bottleneck, n = 18, widths 16-64 / 32-128 / 64-256)",
        cifar_params(RESNET164_N),
        cifar_macs(RESNET164_N),
        paper_params="1.7M",
    ),
    preact_resnet_cifar,
    depth=164,
)
# The printed 10.2M matches the count without BatchNorm's scales and shifts (10,178,490); with
# them it is 10.33M.
preact_resnet1001 = register_variant(
    PREACT_CIFAR_FAMILY.card(
        "preact_resnet1001",
        "ResNet-1001 (bottleneck, n = 111, widths 16-64 / 32-128 / 64-256)",
        cifar_params(RESNET1001_N),
        cifar_macs(RESNET1001_N),
        paper_params="10.2M",
        notes=" The paper's 10.2M matches the count without BatchNorm's scales and shifts (10,178,490); with "
        "them it is 10,327,706.",
    ),
    preact_resnet_cifar,
    depth=1001,
)


def preact_resnet_imagenet(
    units: Sequence[int],
    num_classes: int = 1000,
    in_chans: int = 3,
    drop_path_rate: float = 0.0,
    stride_at: str = "1x1",
) -> PreActResNet:
    """An ImageNet pre-activation bottleneck ResNet in He et al. 2015's Table 1 layout, ``units``
    per stage ([3, 24, 36, 3]: ResNet-200)."""
    return PreActResNet(IMAGENET_STEM, IMAGENET_STAGES, units, num_classes, in_chans, drop_path_rate, stride_at)


# ImageNet ResNet-200: the same units in He et al. 2015's Table 1 layout.
PREACT_IMAGENET_FAMILY = Family(
    "preact_resnet",
    HE_2016,
    input_size=(3, 224, 224),
    num_classes=1000,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=(
        "the ImageNet stem keeps He et al. 2015's conv1-BN-ReLU and max pool, and the first "
        "conv2_x unit still opens with its own BN-ReLU (feeding its projection too), as every "
        "dimension-changing unit of the authors' code does: 128 parameters more than reading "
        "the paper's 'first activation right after conv1' as the only one (64,666,152)",
        GLOBAL_POOL_DEVIATION,
    ),
    notes=(
        "Full pre-activation bottleneck units as in preact_resnet164 (no conv biases; 1x1 "
        "projection shortcuts without BN on the pre-activated input where dimensions change, "
        "identity elsewhere), in He et al. 2015's Table 1 layout with [3, 24, 36, 3] units "
        "(fb.resnet.torch's cfg[200]); BN-ReLU after the last unit, global average pool, fc. "
        "stride_at='1x1' (default) strides the first 1x1 of a unit, as the authors' code and "
        "their Caffe models; '3x3' strides the 3x3 (fb.resnet.torch, torchvision). "
        "fb.resnet.torch's preresnet.lua differs: BN after the projection, projections fed "
        "the raw input, no pre-activation in any conv2_x unit (64,672,808 parameters). "
        "drop_path_rate adds stochastic depth (off by default, not in this paper)."
    ),
    test_input_size=(3, 64, 64),
    table_format="ImageNet ResNet-200: He et al. 2015 Table 1 layout, bottleneck units {}",
)
# conv1 3*49*64 = 9,408 + bn1 128; per stage (c in, b width, o = 4b out) the first unit
# 2c + cb + 2b + 9b^2 + 2b + bo + co, the others 2o + ob + 2b + 9b^2 + 2b + bo:
# conv2_x (64, 64, 256) 74,112 + 2 x 70,400; conv3_x (256, 128, 512) 377,856 + 23 x
# 280,064; conv4_x (512, 256, 1024) 1,509,376 + 35 x 1,117,184; conv5_x (1024, 512,
# 2048) 6,033,408 + 2 x 4,462,592; bn_final 4,096; fc 2,048,000 + 1,000.
RESNET200_PARAMS = (
    9_536
    + (74_112 + 2 * 70_400)
    + (377_856 + 23 * 280_064)
    + (1_509_376 + 35 * 1_117_184)
    + (6_033_408 + 2 * 4_462_592)
    + 4_096
    + 2_049_000
)
# conv1 112*112*(3*49*64); then at 56x56, 28x28, 14x14, 7x7 (the stride on the first
# 1x1): first unit P*(cb + 9b^2 + bo + co), the others P*(ob + 9b^2 + bo); fc 2048*1000.
RESNET200_MACS = (
    118_013_952
    + (3136 * 73_728 + 2 * 3136 * 69_632)
    + (784 * 376_832 + 23 * 784 * 278_528)
    + (196 * 1_507_328 + 35 * 196 * 1_114_112)
    + (49 * 6_029_312 + 2 * 49 * 4_456_448)
    + 2_048_000
)
preact_resnet200 = register_variant(
    PREACT_IMAGENET_FAMILY.card("preact_resnet200", "[3, 24, 36, 3]", RESNET200_PARAMS, RESNET200_MACS),
    preact_resnet_imagenet,
    units=RESNET200_UNITS,
)
