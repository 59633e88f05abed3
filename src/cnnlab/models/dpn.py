"""Dual Path Networks: Chen, Li, Xiao, Jin, Yan & Feng (2017), "Dual path networks", NIPS 2017,
arXiv:1707.01629, built from Table 1 and the authors' released MXNet symbols (cypw/DPNs,
``settings/symbol_dpn*.py``).

Four registered builds, one builder (:class:`DPN`):

- ``dpn92`` and ``dpn98``: Table 1's columns "DPN-92 (32x3d)" and "DPN-98 (40x4d)".
- ``dpn68`` and ``dpn131``: named in Table 2 but not drawn in Table 1; their columns below are
  written in Table 1's notation from the authors' ``symbol_dpn-68.py`` and ``symbol_dpn-131.py``.

A micro-block (Fig. 2(e), the authors' ``DualPathFactory``) is three pre-activated
(BN-ReLU-conv) layers, 1x1 -> grouped 3x3 -> 1x1, whose output is split: the first
``num_1x1_c`` channels are added to the residual path, the last ``inc`` (the table's "+k")
are concatenated to the densely connected path. Within a stage the residual path keeps
``num_1x1_c`` channels and the dense path grows by ``inc`` per block; a stage's first block
("proj" in conv2, "down" with stride 2 in conv3..conv5) projects the concatenated input with
a pre-activated 1x1 convolution into the residual path and a dense path of ``2 inc``.

Module names: ``conv1`` (7x7 or 3x3 conv-BN-ReLU), ``conv2_x`` .. ``conv5_x`` (Table 1's
stages; ``conv2_x.pool`` is the row's 3x3 max pool), ``conv2_x.block1`` ..; inside a block
the authors' ``c1x1_w`` (projection, first block only), ``c1x1_a``, ``c3x3_b``, ``c1x1_c``;
then ``conv5_bn_act`` (the BN-ReLU the authors apply to the final concatenation),
``avgpool``, ``fc``. A stage returns its two paths concatenated, residual first, as one
tensor: the next stage's first block concatenates them in that order anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import ConvNormAct, DropPath, drop_path_rates
from ..registry import Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

CHEN_2017 = Paper(
    authors="Chen, Li, Xiao, Jin, Yan & Feng",
    title="Dual path networks",
    year=2017,
    venue="NIPS 2017",
    arxiv="1707.01629",
)


class Conv1(NamedTuple):
    """Table 1's conv1 row: kernel, filters, stride, output size (at 224)."""

    kernel: int
    filters: int
    stride: int
    output: int


class Stage(NamedTuple):
    """A conv2..conv5 row of Table 1: ``[1x1, a; 3x3, b, G=cardinality; 1x1, c (+inc)] x blocks``
    at ``output`` x ``output`` (224 input). conv2 starts with a 3x3 max pool, stride 2."""

    name: str
    output: int
    num_1x1_a: int
    num_3x3_b: int
    cardinality: int  # Table 1's G
    num_1x1_c: int  # the residual path's width
    inc: int  # Table 1's "(+k)": the dense path's growth per block
    blocks: int


class Column(NamedTuple):
    """One network: a column of Table 1, in its notation."""

    name: str
    conv1: Conv1
    stages: tuple[Stage, Stage, Stage, Stage]
    source: str


# Chen et al. 2017, Table 1, column "DPN-92 (32x3d)", rows conv1 .. conv5.
DPN92 = Column(
    "DPN-92 (32x3d)",
    Conv1(7, 64, 2, 112),
    (
        Stage("conv2_x", 56, 96, 96, 32, 256, 16, 3),
        Stage("conv3_x", 28, 192, 192, 32, 512, 32, 4),
        Stage("conv4_x", 14, 384, 384, 32, 1024, 24, 20),
        Stage("conv5_x", 7, 768, 768, 32, 2048, 128, 3),
    ),
    "Table 1, column DPN-92 (32x3d)",
)

# Chen et al. 2017, Table 1, column "DPN-98 (40x4d)".
DPN98 = Column(
    "DPN-98 (40x4d)",
    Conv1(7, 96, 2, 112),
    (
        Stage("conv2_x", 56, 160, 160, 40, 256, 16, 3),
        Stage("conv3_x", 28, 320, 320, 40, 512, 32, 6),
        Stage("conv4_x", 14, 640, 640, 40, 1024, 32, 20),
        Stage("conv5_x", 7, 1280, 1280, 40, 2048, 128, 3),
    ),
    "Table 1, column DPN-98 (40x4d)",
)

# DPN-68 is not in Table 1 (Table 2 lists it). The authors' symbol_dpn-68.py: a 3x3 conv1 with
# 10 filters; k_R = 128, G = 32, k_sec = (3, 4, 12, 3), inc_sec = (16, 32, 32, 64), and
# residual widths 64 .. 512 (a quarter of the others'), so the bottleneck (128) is wider
# than the residual path (64).
DPN68 = Column(
    "DPN-68 (32x4d)",
    Conv1(3, 10, 2, 112),
    (
        Stage("conv2_x", 56, 128, 128, 32, 64, 16, 3),
        Stage("conv3_x", 28, 256, 256, 32, 128, 32, 4),
        Stage("conv4_x", 14, 512, 512, 32, 256, 32, 12),
        Stage("conv5_x", 7, 1024, 1024, 32, 512, 64, 3),
    ),
    "authors' settings/symbol_dpn-68.py in Table 1's notation (Table 2 row DPN-68)",
)

# DPN-131 is not in Table 1 either: symbol_dpn-131.py, conv1 7x7 with 128 filters; k_R = 160,
# G = 40, k_sec = (4, 8, 28, 3), inc_sec = (16, 32, 32, 128): DPN-98's widths, deeper.
DPN131 = Column(
    "DPN-131 (40x4d)",
    Conv1(7, 128, 2, 112),
    (
        Stage("conv2_x", 56, 160, 160, 40, 256, 16, 4),
        Stage("conv3_x", 28, 320, 320, 40, 512, 32, 8),
        Stage("conv4_x", 14, 640, 640, 40, 1024, 32, 28),
        Stage("conv5_x", 7, 1280, 1280, 40, 2048, 128, 3),
    ),
    "authors' settings/symbol_dpn-131.py in Table 1's notation (Table 2 row DPN-131)",
)

# The authors' Pooling before conv2: 3x3, stride 2, pad 1 (112 -> 56).
POOL_KERNEL, POOL_STRIDE, POOL_PAD = 3, 2, 1
# The authors' BatchNorm takes MXNet's default eps, 1e-3 (momentum 0.9 there is PyTorch's 0.1).
BN_EPS = 1e-3
# Normalisation from the authors' README: subtract mean RGB (124, 117, 104), multiply by
# 0.0167; for pixels in [0, 1] that is (x - mean) / std with these values.
DPN_MEAN = (124 / 255, 117 / 255, 104 / 255)
DPN_STD = (1 / (0.0167 * 255),) * 3
BLOCK_KINDS = ("proj", "down", "normal")


def authors_settings(column: Column) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """The authors' parameters of a column: ``(k_R, G, k_sec, inc_sec)``; their code derives
    each stage's 1x1/3x3 width as ``R = k_R * bw / bw_conv2``, doubling per stage."""
    first = column.stages[0]
    k_sec, inc_sec = tuple(s.blocks for s in column.stages), tuple(s.inc for s in column.stages)
    return first.num_1x1_a, first.cardinality, k_sec, inc_sec


def _four_positive(option: str, value: Sequence[int], column: Column, default: tuple[int, ...]) -> tuple[int, ...]:
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) != len(column.stages)
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)
    ):
        raise ConfigError(
            f"{option}={value!r} for {column.name} must be {len(column.stages)} positive integers, "
            f"one per stage conv2..conv5, e.g. {default}"
        )
    return tuple(value)


def with_options(
    column: Column,
    k_r: int | None = None,
    cardinality: int | None = None,
    k_sec: Sequence[int] | None = None,
    inc_sec: Sequence[int] | None = None,
) -> Column:
    """``column`` with the authors' parameters replaced where given (``None`` keeps the table's).

    ``k_r`` sets conv2's 1x1/3x3 width; later stages double it, as the authors' ``R`` does.
    ``cardinality`` is G, ``k_sec`` the blocks per stage, ``inc_sec`` the "+k" per stage.
    """
    base_k_r, base_g, base_k_sec, base_inc_sec = authors_settings(column)
    for option, value, default in (("k_r", k_r, base_k_r), ("cardinality", cardinality, base_g)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ConfigError(f"{option}={value!r} for {column.name} must be a positive integer, e.g. {default}")
    if k_sec is not None:
        k_sec = _four_positive("k_sec", k_sec, column, base_k_sec)
    if inc_sec is not None:
        inc_sec = _four_positive("inc_sec", inc_sec, column, base_inc_sec)
    stages = []
    for i, s in enumerate(column.stages):
        width = s.num_1x1_a if k_r is None else k_r * 2**i
        s = s._replace(
            num_1x1_a=width,
            num_3x3_b=width,
            cardinality=s.cardinality if cardinality is None else cardinality,
            blocks=s.blocks if k_sec is None else k_sec[i],
            inc=s.inc if inc_sec is None else inc_sec[i],
        )
        if s.num_3x3_b % s.cardinality:
            raise ConfigError(
                f"cardinality={s.cardinality} does not divide {s.name}'s 3x3 width {s.num_3x3_b} "
                f"(k_r={width // 2**i}) in {column.name}; choose k_r a multiple of cardinality, "
                f"e.g. k_r={base_k_r}, cardinality={base_g}"
            )
        stages.append(s)
    return column._replace(stages=tuple(stages))


def _pre_act_conv(in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, groups: int = 1) -> ConvNormAct:
    # The authors' BN_AC_Conv: BatchNorm, ReLU, then a convolution without bias (no_bias=True).
    return ConvNormAct(
        in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups,
        order="bn-act-conv", bias=False, bn_eps=BN_EPS,
    )  # fmt: skip


class DualPathBlock(nn.Module):
    """One micro-block (the authors' ``DualPathFactory``).

    Takes the previous block's ``(residual, dense)`` pair, or one tensor at a stage's start,
    and returns the new pair: ``residual + c[:, :num_1x1_c]`` and ``cat(dense, c[:, num_1x1_c:])``
    where ``c`` is the 1x1 -> grouped 3x3 -> 1x1 branch on the concatenated input. ``kind``
    ``"proj"`` or ``"down"`` (stride 2 in the 3x3 and the projection) first projects the input
    into a residual path of ``num_1x1_c`` and a dense path of ``2 inc`` channels.
    """

    def __init__(self, in_chs: int, row: Stage, kind: str, drop_prob: float = 0.0) -> None:
        super().__init__()
        if kind not in BLOCK_KINDS:
            raise ConfigError(f"unknown dual path block kind {kind!r}; choose one of {', '.join(BLOCK_KINDS)}")
        stride = 2 if kind == "down" else 1
        self.num_1x1_c, self.inc = row.num_1x1_c, row.inc
        self.c1x1_w = _pre_act_conv(in_chs, row.num_1x1_c + 2 * row.inc, 1, stride) if kind != "normal" else None
        self.c1x1_a = _pre_act_conv(in_chs, row.num_1x1_a, 1)
        self.c3x3_b = _pre_act_conv(row.num_1x1_a, row.num_3x3_b, 3, stride, groups=row.cardinality)
        self.c1x1_c = _pre_act_conv(row.num_3x3_b, row.num_1x1_c + row.inc, 1)
        # Extension (declared on the cards): stochastic depth on the residual-path addition.
        self.drop_path = DropPath(drop_prob) if drop_prob > 0 else None

    def forward(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x_in = x if isinstance(x, torch.Tensor) else torch.cat(x, 1)
        if self.c1x1_w is not None:
            proj = self.c1x1_w(x_in)
            residual, dense = proj[:, : self.num_1x1_c], proj[:, self.num_1x1_c :]
        else:
            residual, dense = x
        out = self.c1x1_c(self.c3x3_b(self.c1x1_a(x_in)))
        new_residual, new_dense = out[:, : self.num_1x1_c], out[:, self.num_1x1_c :]
        if self.drop_path is not None:
            new_residual = self.drop_path(new_residual)
        return residual + new_residual, torch.cat([dense, new_dense], 1)


class DualPathStage(nn.Module):
    """A conv2..conv5 row: (conv2's max pool), ``blocks`` micro-blocks, then the two paths
    concatenated, residual first: ``num_1x1_c + (blocks + 2) * inc`` channels."""

    def __init__(self, in_chs: int, row: Stage, first_kind: str, drop_probs: Sequence[float], pool: bool) -> None:
        super().__init__()
        if pool:
            self.pool = nn.MaxPool2d(POOL_KERNEL, POOL_STRIDE, POOL_PAD)
        chs = in_chs
        for i in range(row.blocks):
            self.add_module(f"block{i + 1}", DualPathBlock(chs, row, first_kind if i == 0 else "normal", drop_probs[i]))
            chs = row.num_1x1_c + (i + 3) * row.inc  # residual + dense after block i + 1
        self.out_chs = chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():  # pool (conv2_x), then the blocks: a tensor, then pairs
            x = module(x)
        return torch.cat(x, 1)


class DPN(ClassifierNet):
    """A Dual Path Network built by walking a :class:`Column` (Table 1 notation).

    ``drop_path_rate`` (an extension, 0 by default) drops the residual-path addition of block
    l of L with probability ``l / L * drop_path_rate`` (Huang et al. 2016's linear rule).
    """

    default_input_size = (3, 224, 224)

    def __init__(self, column: Column, num_classes: int = 1000, in_chans: int = 3, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.column = column
        c1 = column.conv1
        # The authors' conv1: Conv (no bias) then BN_AC, padding k // 2 (3 for 7x7, 1 for 3x3).
        self.conv1 = ConvNormAct(in_chans, c1.filters, c1.kernel, c1.stride, c1.kernel // 2, bn_eps=BN_EPS)
        chs, reduction = c1.filters, c1.stride
        self.feature_info = [FeatureInfo("conv1", chs, reduction)]
        rates = drop_path_rates(drop_path_rate, sum(s.blocks for s in column.stages))
        start = 0
        for i, row in enumerate(column.stages):
            first = "proj" if i == 0 else "down"
            stage = DualPathStage(chs, row, first, rates[start : start + row.blocks], pool=i == 0)
            self.add_module(row.name, stage)
            start += row.blocks
            chs, reduction = stage.out_chs, reduction * 2  # conv2: the max pool; later: "down"
            self.feature_info.append(FeatureInfo(row.name, chs, reduction))
        self.conv5_bn_act = nn.Sequential(OrderedDict(bn=nn.BatchNorm2d(chs, eps=BN_EPS), act=nn.ReLU()))
        # Table 1: "global average pool" (the authors' symbol: a 7x7 average pool, the same at 224).
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chs, num_classes)  # Table 1: "1000-d fc" (the authors' fc6)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # Neither the paper nor the released code states an initialisation: He et al.
                # (2015) normal, fan-in, as for ResNeXt, which DPN's micro-block builds on.
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for dpn92 at 224 (dpn68: 10, 144, 320, 704, 832 channels).
        x = self.conv1(x)  # N x 64 x 112 x 112
        x = self.conv2_x(x)  # N x 336 x 56 x 56: 256 residual + (3 + 2) x 16 dense
        x = self.conv3_x(x)  # N x 704 x 28 x 28: 512 + (4 + 2) x 32
        x = self.conv4_x(x)  # N x 1552 x 14 x 14: 1024 + (20 + 2) x 24
        x = self.conv5_x(x)  # N x 2688 x 7 x 7: 2048 + (3 + 2) x 128
        return self.conv5_bn_act(x)  # N x 2688 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 2688
        return x if pre_logits else self.fc(x)


def dpn(
    column: Column,
    num_classes: int = 1000,
    in_chans: int = 3,
    drop_path_rate: float = 0.0,
    k_r: int | None = None,
    cardinality: int | None = None,
    k_sec: tuple[int, int, int, int] | None = None,
    inc_sec: tuple[int, int, int, int] | None = None,
) -> DPN:
    """A DPN from a Table 1 column, with any of its hyper-parameters replaced."""
    column = with_options(column, k_r, cardinality, k_sec, inc_sec)
    return DPN(column, num_classes=num_classes, in_chans=in_chans, drop_path_rate=drop_path_rate)


DEVIATIONS = (
    "extension, not in the paper: drop_path_rate (stochastic depth, Huang et al. 2016) drops "
    "the micro-block's residual-path addition with the linear decay rule; 0.0 (off) by default",
)
NOTES = (
    "Pre-activation micro-blocks (BN-ReLU-conv, convolutions without bias) as in the authors' "
    "MXNet code; BatchNorm eps 1e-3 (MXNet's default); final BN-ReLU on the concatenated "
    "paths, global average pool, fc. Options: k_r (conv2's 1x1/3x3 width, doubled per stage), "
    "cardinality (Table 1's G), k_sec (blocks per stage), inc_sec (Table 1's +k per stage); "
    "None keeps the table's. Input normalisation is the authors' (mean RGB 124, 117, 104, "
    "scale 0.0167); their mean-max pooling is a test-time technique for larger inputs, not "
    "built in. Initialisation (not stated): He normal fan-in for convolutions."
)
DPN_FAMILY = Family(
    "dpn",
    CHEN_2017,
    input_size=(3, 224, 224),
    num_classes=1000,
    mean=DPN_MEAN,
    std=DPN_STD,
    deviations=DEVIATIONS,
    notes=NOTES,
    test_input_size=(3, 64, 64),
)
# The paper's figures as printed, card facts by model: Table 1's "# params." and "FLOPs"
# (DPN-92 and DPN-98), Table 2's model size and FLOPs.
PRINTED = {
    "dpn68": {
        "paper_params": "49 MB model size (Table 2)",
        "paper_macs": "2.5 GFLOPs (Table 2)",
        "notes": " Table 2's 2.5 GFLOPs is above the 2,326,163,456 conv + linear multiply-adds at 224x224; "
        "the paper does not say what else it counts.",
    },
    "dpn92": {
        "paper_params": "37.8 x 10^6 (Table 1); 145 MB model size (Table 2)",
        "paper_macs": "6.5 x 10^9 FLOPs (Table 1)",
        "notes": " Table 1's 37.8 x 10^6 fits the parameters plus the BatchNorm moving means and variances "
        "(which MXNet stores beside them): 37,668,392 + 125,216 = 37,793,608; an observation, not stated in the paper.",
    },
    "dpn98": {
        "paper_params": "61.7 x 10^6 (Table 1); 236 MB model size (Table 2)",
        "paper_macs": "11.7 x 10^9 FLOPs (Table 1)",
        "notes": " Table 1's 61.7 x 10^6 fits the parameters plus the BatchNorm moving means and variances "
        "(which MXNet stores beside them): 61,570,728 + 164,896 = 61,735,624; an observation, not stated in the paper.",
    },
    "dpn131": {"paper_params": "304 MB model size (Table 2)", "paper_macs": "16.0 GFLOPs (Table 2)"},
}

# Each variant: its card (name, source column, exact parameters and multiply-adds at 224),
# then the Table 1 column the builder walks.
dpn68 = register_variant(
    DPN_FAMILY.card("dpn68", DPN68.source, 12_611_602, 2_326_163_456, **PRINTED["dpn68"]), dpn, column=DPN68
)
dpn92 = register_variant(
    DPN_FAMILY.card("dpn92", DPN92.source, 37_668_392, 6_501_684_224, **PRINTED["dpn92"]), dpn, column=DPN92
)
dpn98 = register_variant(
    DPN_FAMILY.card("dpn98", DPN98.source, 61_570_728, 11_671_217_152, **PRINTED["dpn98"]), dpn, column=DPN98
)
dpn131 = register_variant(
    DPN_FAMILY.card("dpn131", DPN131.source, 79_254_504, 16_013_648_896, **PRINTED["dpn131"]), dpn, column=DPN131
)
