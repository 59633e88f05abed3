"""ResNeXt: Xie, Girshick, Dollar, Tu & He (2017), "Aggregated residual transformations for
deep neural networks", CVPR 2017, arXiv:1611.05431, Table 1 and Sec. 3.

A ResNeXt block is a ResNet bottleneck whose 3x3 layer is a grouped convolution with C
groups (the cardinality, Fig. 3(c), equivalent to the aggregated form of Fig. 3(a)) and
whose inner width is C x d (d: the width of one group) scaled with the stage. The network
is built by cnnlab's ResNet builder (``cnnlab.models.resnet``), so module names are
ResNet's: ``conv1``, ``pool1``, ``conv2_x`` .. ``conv5_x``, ``pool5``, ``fc``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..errors import ConfigError
from ..registry import Family, Paper, register_variant
from .resnet import RESNET_STEM, RESNET_TABLE1, Conv, ResNet, Stage, torchvision_resnet

XIE_2017 = Paper(
    authors="Xie, Girshick, Dollar, Tu & He",
    title="Aggregated residual transformations for deep neural networks",
    year=2017,
    venue="CVPR 2017",
    arxiv="1611.05431",
)

# Table 1, column "ResNeXt-50 (32x4d)": "[1x1, 128; 3x3, 128, C=32; 1x1, 256] x3" is
# Stage("conv2_x", 56, (Conv(1, 128), Conv(3, 128, 32), Conv(1, 256)), 3). conv1 and the
# max pool are ResNet's; then "global average pool, 1000-d fc, softmax".
RESNEXT_TABLE1: dict[str, tuple[Stage, ...]] = {
    "ResNeXt-50 (32x4d)": (
        Stage("conv2_x", 56, (Conv(1, 128), Conv(3, 128, 32), Conv(1, 256)), 3),
        Stage("conv3_x", 28, (Conv(1, 256), Conv(3, 256, 32), Conv(1, 512)), 4),
        Stage("conv4_x", 14, (Conv(1, 512), Conv(3, 512, 32), Conv(1, 1024)), 6),
        Stage("conv5_x", 7, (Conv(1, 1024), Conv(3, 1024, 32), Conv(1, 2048)), 3),
    ),
}
# Table 1, "# params." and "FLOPs" rows, as printed.
TABLE1_PARAMS = {"ResNet-50": "25.5x10^6", "ResNeXt-50 (32x4d)": "25.0x10^6"}
TABLE1_FLOPS = {"ResNet-50": "4.1x10^9", "ResNeXt-50 (32x4d)": "4.2x10^9"}


def resnext_stages(resnet_column: Sequence[Stage], cardinality: int, group_width: int) -> tuple[Stage, ...]:
    """ResNet bottleneck stages turned into ResNeXt's template (Table 1, Sec. 3.1): in a
    stage whose ResNet bottleneck width is w (64 in conv2_x, doubling per stage), the 1x1
    reduction and the grouped 3x3 have C x d x w / 64 channels, the 3x3 in C groups; the
    output width is ResNet's."""
    for name, value in (("cardinality", cardinality), ("group_width", group_width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{name} must be a positive integer, got {value!r}; the paper's ResNeXt-50 uses "
                "cardinality=32, group_width=4 (32x4d)"
            )
    stages = []
    for stage in resnet_column:
        reduce, _, expand = stage.block
        width = cardinality * group_width * reduce.channels // 64
        block = (Conv(1, width), Conv(3, width, cardinality), expand)
        stages.append(stage._replace(block=block))
    return tuple(stages)


_NOTES = (
    "Downsampling by stride-2 3x3 convs in the first block of conv3_x, conv4_x, conv5_x, as the paper "
    "does (Sec. 4, after fb.resnet.torch); shortcuts option B (projections where dimensions change). "
    "Options: cardinality (C) and group_width (d): bottleneck width C x d x (stage width / 64); "
    "drop_path_rate (stochastic depth's 1 - p_L (the last block's drop probability), linear decay over all blocks)."
)


def resnext(
    column: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    cardinality: int = 32,
    group_width: int = 4,
    drop_path_rate: float = 0.0,
    drop_path_mode: str = "row",
) -> ResNet:
    """A ResNeXt on a ResNet Table 1 bottleneck ``column`` ("50-layer", "101-layer", "152-layer"):
    ``cardinality`` C and ``group_width`` d (32x4d by default)."""
    stages = resnext_stages(RESNET_TABLE1[column], cardinality, group_width)
    return ResNet(
        stages,
        RESNET_STEM,
        num_classes,
        in_chans,
        stride_at="3x3",
        drop_path_rate=drop_path_rate,
        drop_path_mode=drop_path_mode,
    )


RESNEXT_FAMILY = Family(
    "resnext",
    XIE_2017,
    input_size=(3, 224, 224),
    num_classes=1000,
    notes=_NOTES,
    test_input_size=(3, 64, 64),
    table_format="Table 1, {} column",
)
# ResNeXt-101 (32x8d) is no column of Table 1: the template on ResNet-101's blocks
# (torchvision's); its notes first say what its blocks are.
RESNEXT101_FAMILY = dataclasses.replace(
    RESNEXT_FAMILY,
    notes="conv2_x blocks are [1x1, 256; 3x3, 256, C=32; 1x1, 256], doubling per stage to "
    "[1x1, 2048; 3x3, 2048, C=32; 1x1, 2048] in conv5_x. " + _NOTES,
    test_input_size=(3, 32, 32),
    table_format="Table 1 template (Sec. 3.1) on {}",
)
_R50 = "ResNeXt-50 (32x4d)"

resnext50_32x4d = register_variant(
    RESNEXT_FAMILY.card(
        "resnext50_32x4d",
        _R50,
        25_028_904,
        4_230_479_872,
        paper_params=f"{TABLE1_PARAMS[_R50]} (Table 1)",
        paper_macs=f"{TABLE1_FLOPS[_R50]} FLOPs (multiply-adds), Table 1",
        torchvision=torchvision_resnet("resnext50_32x4d", "ResNeXt50_32X4D_Weights.IMAGENET1K_V1"),
    ),
    resnext,
    column="50-layer",
)
# MACs by hand: conv1 118,013,952 + the stages + fc 2,048,000, with the 3x3 of a block at
# out^2 x 9 x w^2 / 32 (bottleneck_macs in tests/models/test_resnet.py, which gives the
# specification's ResNet-50/101/152 and ResNeXt-50 values exactly).
resnext101_32x8d = register_variant(
    RESNEXT101_FAMILY.card(
        "resnext101_32x8d",
        "ResNet-101's 3-4-23-3 blocks with C=32, d=8; torchvision's resnext101_32x8d",
        88_791_336,
        16_414_015_488,
        torchvision=torchvision_resnet("resnext101_32x8d", "ResNeXt101_32X8D_Weights.IMAGENET1K_V1"),
    ),
    resnext,
    column="101-layer",
    defaults={"group_width": 8},
)
