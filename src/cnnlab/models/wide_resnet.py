"""Wide residual networks: Zagoruyko & Komodakis (2016), "Wide residual networks", BMVC 2016,
arXiv:1605.07146, Table 1: WRN-d-k, pre-activation basic blocks B(3,3) widened k times.

Module names are Table 1's group names: ``conv1``, ``conv2``, ``conv3``, ``conv4`` (blocks
numbered from 0), then ``bn_final`` and ``relu_final`` (the BN-ReLU after the last block),
``avgpool`` and ``fc``. Inside a block: ``bn1 relu1 conv1 bn2 relu2 dropout conv2``,
``shortcut`` (``Identity`` or the 1x1 projection) and ``drop_path``.

The layer details Table 1 leaves out follow the authors' code (szagoruyko/wide-residual-networks):
convolutions without biases; where the width or the stride changes, one BN-ReLU feeds both the
block and its 1x1 projection shortcut; the stride sits in the block's first 3x3.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import DropPath, drop_path_rates
from ..layers.resnet_shortcuts import preact_shortcut
from ..registry import FB_CIFAR10_MEAN, FB_CIFAR10_STD, Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

# WRN-50-2 is ResNet-50 widened: built by ResNet's builder (the paper builds on it).
from .resnet import RESNET_STEM, RESNET_TABLE1, ResNet, torchvision_resnet, widen

ZAGORUYKO_2016 = Paper(
    authors="Zagoruyko & Komodakis",
    title="Wide residual networks",
    year=2016,
    venue="BMVC 2016",
    arxiv="1605.07146",
)


class Group(NamedTuple):
    """A row of Table 1: [3x3, width x k; 3x3, width x k] x N blocks at ``output`` size."""

    name: str
    width: int
    stride: int  # of the group's first block
    output: int  # output side on 32x32 input


# Table 1, "Structure of wide residual networks", top to bottom; avg-pool [8 x 8], then the
# classifier. WRN-d-k has d convolutional layers: conv1, the 2N 3x3 convs of each of
# the three groups and the three 1x1 projection shortcuts, d = 6N + 4 (with k = 1, conv2
# changes no width and needs no projection: one conv fewer, same name).
WRN_CONV1 = Group("conv1", 16, 1, 32)  # [3x3, 16], no widening
WRN_TABLE1 = (
    Group("conv2", 16, 1, 32),  # [3x3, 16k; 3x3, 16k] x N, 32x32
    Group("conv3", 32, 2, 16),  # [3x3, 32k; 3x3, 32k] x N, 16x16
    Group("conv4", 64, 2, 8),  # [3x3, 64k; 3x3, 64k] x N, 8x8
)
AVGPOOL = 8


class WideBasic(nn.Module):
    """B(3,3) with dropout (Fig. 1(d), "wide-dropout"): BN-ReLU-conv3x3, BN-ReLU, dropout,
    conv3x3, added to the shortcut."""

    def __init__(
        self, in_chs: int, out_chs: int, stride: int = 1, drop_prob: float = 0.0, drop_path_prob: float = 0.0
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.relu2 = nn.ReLU(inplace=True)
        # "dropout should be inserted between convolutional layers" (Sec. 1), after the ReLU (Fig. 1(d)).
        self.dropout = nn.Dropout(drop_prob)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False)
        self.shortcut = preact_shortcut(in_chs, out_chs, stride)
        self.projection = not isinstance(self.shortcut, nn.Identity)
        self.drop_path = DropPath(drop_path_prob)  # on the residual branch only; identity in eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu1(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.relu2(self.bn2(out))))
        # The authors' code: the projection takes the pre-activated input; the identity, x.
        return self.shortcut(pre if self.projection else x) + self.drop_path(out)


def wrn_blocks(depth: int) -> int:
    """N, the blocks per group of WRN-``depth``-k (d = 6N + 4, N >= 1); a ConfigError naming
    the nearest valid depths otherwise."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        if isinstance(depth, bool) or not isinstance(depth, int):
            hint = "an integer 6N + 4, e.g. 16, 28 or 40"
        else:
            below = (depth - 4) // 6 * 6 + 4
            near = sorted({max(d, 10) for d in (below, below + 6)})
            hint = "nearest valid depths: " + " and ".join(map(str, near))
        raise ConfigError(
            f"depth {depth!r} is not 6N + 4 (N blocks of two 3x3 convs in each of 3 groups, plus "
            f"conv1 and the three 1x1 projections; Table 1); {hint}"
        )
    return (depth - 4) // 6


class WideResNet(ClassifierNet):
    """WRN-d-k of Table 1 for 32x32 inputs."""

    default_input_size = (3, 32, 32)

    def __init__(
        self,
        depth: int = 28,
        k: int = 10,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_prob: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        n = wrn_blocks(depth)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(
                f"widening factor k must be a positive integer, got {k!r}; the paper uses 1 to 12, e.g. 10"
            )
        if isinstance(drop_prob, bool) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be in [0, 1), got {drop_prob!r}; the paper uses 0.3 on CIFAR")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.default_input_size = (in_chans, 32, 32)
        self.depth, self.k = depth, k
        self.conv1 = nn.Conv2d(in_chans, WRN_CONV1.width, 3, padding=1, bias=False)
        self.feature_info = [FeatureInfo("conv1", WRN_CONV1.width, 1)]
        # Huang et al. 2016's linear decay over all 3N blocks, first to last.
        rates = iter(drop_path_rates(drop_path_rate, 3 * n))
        chs, reduction = WRN_CONV1.width, 1
        for group in WRN_TABLE1:
            width = group.width * k
            blocks = []
            for i in range(n):
                blocks.append(WideBasic(chs, width, group.stride if i == 0 else 1, drop_prob, next(rates)))
                chs = width
            self.add_module(group.name, nn.Sequential(*blocks))
            reduction *= group.stride
            self.feature_info.append(FeatureInfo(group.name, chs, reduction))
        self.bn_final = nn.BatchNorm2d(chs)
        self.relu_final = nn.ReLU(inplace=True)
        self.feature_info[-1] = FeatureInfo("relu_final", chs, reduction)
        # Deviation (declared): global, Table 1's 8x8 average pool at 32x32; other sizes run.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chs, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # The authors' Torch code (models/utils.lua): MSRinit, conv weights N(0, 2 / (k*k*out));
        # BN keeps Torch's default reset, scale U(0, 1) and shift 0 (their PyTorch port too:
        # torch.rand); FCinit zeroes the linear bias, whose weight keeps Torch's default
        # uniform +-1/sqrt(fan_in), PyTorch's default as well.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.0, 1.0)
                nn.init.zeros_(m.bias)
        self.init_classifier(self.fc)

    def init_classifier(self, layer: nn.Module) -> None:
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # N x 16 x 32 x 32
        x = self.conv2(x)  # N x 16k x 32 x 32
        x = self.conv3(x)  # N x 32k x 16 x 16
        x = self.conv4(x)  # N x 64k x 8 x 8
        return self.relu_final(self.bn_final(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 64k
        return x if pre_logits else self.fc(x)


_NOTES = (
    "Pre-activation B(3,3) blocks (Table 1, Fig. 1(c)/(d)): BN-ReLU-conv3x3, BN-ReLU, "
    "dropout (drop_prob, default 0 as in the paper's main results), conv3x3, added to the "
    "shortcut; convs without biases. Where the width or stride changes (each group's first "
    "block, and conv2's only when k > 1) a 1x1 projection shortcut without BN takes the "
    "block's pre-activated input; elsewhere the identity. The stride is in the first 3x3 of "
    "conv3 and conv4. BN-ReLU after the last block, then global average pooling and fc. "
    "The paper's best CIFAR results are WRN-28-10 with dropout 0.3 between the "
    "convolutions: create_model('wrn28_10', drop_prob=0.3). drop_path_rate adds stochastic "
    "depth (Huang et al. 2016, linear decay over the blocks; off by default, not in this "
    "paper). Init as the authors' Torch code: conv N(0, 2/(k*k*out)), BN scale U(0, 1) and "
    "shift 0 (Torch's default), fc bias 0. Mean/std are the per-channel CIFAR-10 statistics "
    "of the authors' code (fb.resnet.torch's)."
)
WRN_FAMILY = Family(
    "wide_resnet",
    ZAGORUYKO_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    mean=FB_CIFAR10_MEAN,
    std=FB_CIFAR10_STD,
    deviations=(
        "global average pooling (AdaptiveAvgPool2d(1)): exactly Table 1's 8x8 average pool "
        "at 32x32, and other sizes run",
    ),
    notes=_NOTES,
    test_input_size=(3, 16, 16),
    table_format="Table 1, {}, CIFAR-10",
)
# The general builder's card: its counts are the defaults' (WRN-28-10).
WRN_ANY_FAMILY = dataclasses.replace(
    WRN_FAMILY,
    notes="Any WRN-d-k of Table 1: create_model('wide_resnet', depth=d, k=k); depth must be "
    "6N + 4. The card's counts are the defaults' (WRN-28-10). " + _NOTES,
    test_kwargs={"depth": 10, "k": 2},
)

# Parameters of WRN-d-k, N = (d - 4) / 6, widths w = 16k, 32k, 64k with inputs c = 16, 16k,
# 32k: conv1 432; per group the first block 2c + 9cw + 2w + 9w^2 + cw (the projection; none
# in conv2 when k = 1), each other block 2w + 9w^2 + 2w + 9w^2; bn_final 2 x 64k; fc 64k x
# classes + classes.
# Conv MACs at 32x32: conv1 1024 x 432; per group P x (9cw + 9w^2 + cw) for the first block
# and P x 18w^2 for each other, P = 1024, 256, 64 output positions; fc 64k x classes.

# WRN-28-10: N = 4, w = 160, 320, 640. conv2 2*16 + 9*16*160 + 2*160 + 9*160^2 + 16*160 =
# 256,352 + 3 x 461,440; conv3 1,434,560 + 3 x 1,844,480; conv4 5,736,320 + 3 x 7,375,360;
# bn_final 1,280; fc 6,410.
WRN28_10_PARAMS = (
    432 + (256_352 + 3 * 461_440) + (1_434_560 + 3 * 1_844_480) + (5_736_320 + 3 * 7_375_360) + 1_280 + 6_410
)
# conv1 442,368; conv2 1024 x (23,040 + 230,400 + 2,560) + 3 x 1024 x 460,800; conv3 256 x
# (460,800 + 921,600 + 51,200) + 3 x 256 x 1,843,200; conv4 64 x (1,843,200 + 3,686,400 +
# 204,800) + 3 x 64 x 7,372,800; fc 6,400.
WRN28_10_MACS = (
    442_368
    + (1024 * 256_000 + 3 * 1024 * 460_800)
    + (256 * 1_433_600 + 3 * 256 * 1_843_200)
    + (64 * 5_734_400 + 3 * 64 * 7_372_800)
    + 6_400
)

# WRN-16-8: N = 2, w = 128, 256, 512. conv2 2*16 + 9*16*128 + 2*128 + 9*128^2 + 16*128 =
# 168,224 + 295,424; conv3 918,272 + 1,180,672; conv4 3,671,552 + 4,720,640; bn_final 1,024;
# fc 5,130.
WRN16_8_PARAMS = 432 + (168_224 + 295_424) + (918_272 + 1_180_672) + (3_671_552 + 4_720_640) + 1_024 + 5_130
# conv1 442,368; conv2 1024 x (18,432 + 147,456 + 2,048) + 1024 x 294,912; conv3 256 x
# (294,912 + 589,824 + 32,768) + 256 x 1,179,648; conv4 64 x (1,179,648 + 2,359,296 +
# 131,072) + 64 x 4,718,592; fc 5,120.
WRN16_8_MACS = (
    442_368
    + (1024 * 167_936 + 1024 * 294_912)
    + (256 * 917_504 + 256 * 1_179_648)
    + (64 * 3_670_016 + 64 * 4_718_592)
    + 5_120
)

# WRN-40-4: N = 6, w = 64, 128, 256. conv2 2*16 + 9*16*64 + 2*64 + 9*64^2 + 16*64 =
# 47,264 + 5 x 73,984; conv3 229,760 + 5 x 295,424; conv4 918,272 + 5 x 1,180,672;
# bn_final 512; fc 2,570.
WRN40_4_PARAMS = 432 + (47_264 + 5 * 73_984) + (229_760 + 5 * 295_424) + (918_272 + 5 * 1_180_672) + 512 + 2_570
# conv1 442,368; conv2 1024 x (9,216 + 36,864 + 1,024) + 5 x 1024 x 73,728; conv3 256 x
# (73,728 + 147,456 + 8,192) + 5 x 256 x 294,912; conv4 64 x (294,912 + 589,824 +
# 32,768) + 5 x 64 x 1,179,648; fc 2,560.
WRN40_4_MACS = (
    442_368
    + (1024 * 47_104 + 5 * 1024 * 73_728)
    + (256 * 229_376 + 5 * 256 * 294_912)
    + (64 * 917_504 + 5 * 64 * 1_179_648)
    + 2_560
)

# Each variant: its card (name, Table 1 network, parameters, multiply-adds, the paper's
# count), then WideResNet with its depth d and widening factor k fixed. The general
# builder keeps both: wide_resnet(16, 4, num_classes=100).
wide_resnet = register_variant(
    WRN_ANY_FAMILY.card(
        "wide_resnet", "WRN-28-10 (N = 4, k = 10)", WRN28_10_PARAMS, WRN28_10_MACS, paper_params="36.5M"
    ),
    WideResNet,
)
wrn28_10 = register_variant(
    WRN_FAMILY.card("wrn28_10", "WRN-28-10 (N = 4, k = 10)", WRN28_10_PARAMS, WRN28_10_MACS, paper_params="36.5M"),
    WideResNet,
    depth=28,
    k=10,
)
wrn16_8 = register_variant(
    WRN_FAMILY.card("wrn16_8", "WRN-16-8 (N = 2, k = 8)", WRN16_8_PARAMS, WRN16_8_MACS, paper_params="11.0M"),
    WideResNet,
    depth=16,
    k=8,
)
wrn40_4 = register_variant(
    WRN_FAMILY.card("wrn40_4", "WRN-40-4 (N = 6, k = 4)", WRN40_4_PARAMS, WRN40_4_MACS, paper_params="8.9M"),
    WideResNet,
    depth=40,
    k=4,
)


# ImageNet: He et al.'s bottleneck ResNet-50 with every inner width doubled.
def wide_resnet_bottleneck(
    column: str,
    factor: int,
    num_classes: int = 1000,
    in_chans: int = 3,
    drop_path_rate: float = 0.0,
    drop_path_mode: str = "row",
) -> ResNet:
    """He et al.'s Table 1 bottleneck ``column`` ("50-layer", ...) with the 1x1 reduce and 3x3
    widths of every block ``factor`` times wider (WRN-50-2: "50-layer", 2); stride on the 3x3
    (torchvision)."""
    return ResNet(
        widen(RESNET_TABLE1[column], factor),
        RESNET_STEM,
        num_classes,
        in_chans,
        stride_at="3x3",
        drop_path_rate=drop_path_rate,
        drop_path_mode=drop_path_mode,
    )


WRN_IMAGENET_FAMILY = Family(
    "wide_resnet",
    ZAGORUYKO_2016,
    input_size=(3, 224, 224),
    num_classes=1000,
    notes=(
        "conv2_x blocks are [1x1, 128; 3x3, 128; 1x1, 256], up to [1x1, 1024; 3x3, 1024; 1x1, 2048] "
        "in conv5_x; stride 2 on the 3x3 conv of downsampling blocks (torchvision). "
        "drop_path_rate: stochastic depth's 1 - p_L (the last block's drop probability)."
    ),
    test_input_size=(3, 32, 32),
    table_format="ImageNet {}: He et al.'s Table 1 50-layer column with every bottleneck's 1x1 "
    "reduce and 3x3 widths doubled (torchvision's wide_resnet50_2)",
)
_TV50_2 = torchvision_resnet("wide_resnet50_2", "Wide_ResNet50_2_Weights.IMAGENET1K_V1")
# MACs by hand, as ResNet-50 v1.5 with inner widths 128 .. 1024 (bottleneck_macs in
# tests/models/test_resnet.py, checked there against the specification's values).
wide_resnet50_2 = register_variant(
    WRN_IMAGENET_FAMILY.card("wide_resnet50_2", "WRN-50-2-bottleneck", 68_883_240, 11_398_021_120, torchvision=_TV50_2),
    wide_resnet_bottleneck,
    column="50-layer",
    factor=2,
)
