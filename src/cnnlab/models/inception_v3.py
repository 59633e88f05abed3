"""Inception-v3: Szegedy, Vanhoucke, Ioffe, Shlens & Wojna (2016), "Rethinking the Inception
Architecture for Computer Vision", CVPR 2016, arXiv:1512.00567.

Table 1 gives the outline (a factorised stem, 3 modules of Fig. 5 at 35x35, 5 of Fig. 6 at
17x17, 2 of Fig. 7 at 8x8, the grid reductions of Fig. 10 between them) but not every module's
filter counts. The widths below are those of Google's published TF-slim implementation (which
produced the ImageNet weights) and of torchvision's port of it, and so are the module names
(``Conv2d_1a_3x3`` ... ``Mixed_7c``, ``AuxLogits``, ``fc``): torchvision checkpoints load with
identical keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError, InputShapeError
from ..layers import ConvNormAct, resized_like
from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, TorchvisionWeights, register_variant
from .base import ClassifierNet, FeatureInfo

SZEGEDY_2016 = Paper(
    authors="Szegedy, Vanhoucke, Ioffe, Shlens & Wojna",
    title="Rethinking the Inception Architecture for Computer Vision",
    year=2016,
    venue="CVPR 2016",
    arxiv="1512.00567",
)


class Row(NamedTuple):
    """One row of Table 1 as printed: type, patch size / stride or remarks, input size."""

    type: str
    patch_stride: str
    input_size: str


# Table 1 of the paper, verbatim, for the record and the tests. Rows 7-8 do not add up as
# printed: an unpadded 3x3/1 conv on 35x35 gives 33x33, not row 8's 35x35x288. The published
# implementation has no row-7 conv at all (see STEM); its first Fig. 5 module takes 35x35x192.
TABLE_1 = (
    Row("conv", "3x3/2", "299x299x3"),
    Row("conv", "3x3/1", "149x149x32"),
    Row("conv padded", "3x3/1", "147x147x32"),
    Row("pool", "3x3/2", "147x147x64"),
    Row("conv", "3x3/1", "73x73x64"),
    Row("conv", "3x3/2", "71x71x80"),
    Row("conv", "3x3/1", "35x35x192"),
    Row("3xInception", "As in figure 5", "35x35x288"),
    Row("5xInception", "As in figure 6", "17x17x768"),
    Row("2xInception", "As in figure 7", "8x8x1280"),
    Row("pool", "8x8", "8x8x2048"),
    Row("linear", "logits", "1x1x2048"),
    Row("softmax", "classifier", "1x1x1000"),
)


class Conv(NamedTuple):
    """A stem convolution (conv, BatchNorm, ReLU): name, filters, kernel, stride, padding."""

    name: str
    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0


class MaxPool(NamedTuple):
    name: str
    kernel: int
    stride: int


# Table 1 rows 1-7 as the published implementation builds them. Rows 1-4 are the paper's
# (the 7x7 stem conv factorised into three 3x3, Sec. 6). Rows 5-7 differ, see deviations.
STEM = (
    Conv("Conv2d_1a_3x3", 32, 3, stride=2),  # row 1: conv 3x3/2 -> 149x149x32
    Conv("Conv2d_2a_3x3", 32, 3),  # row 2: conv 3x3/1 -> 147x147x32
    Conv("Conv2d_2b_3x3", 64, 3, padding=1),  # row 3: conv padded 3x3/1 -> 147x147x64
    MaxPool("maxpool1", 3, 2),  # row 4: pool 3x3/2 -> 73x73x64
    Conv("Conv2d_3b_1x1", 80, 1),  # row 5: deviation, 1x1 where Table 1 prints 3x3/1
    Conv("Conv2d_4a_3x3", 192, 3),  # row 6: deviation, stride 1 (Table 1: 3x3/2) -> 71x71x192
    MaxPool("maxpool2", 3, 2),  # deviation: a max pool replaces row 7's conv -> 35x35x192
)


# The modules. Each tuple lists a branch's filters in the order of its convolutions; the
# kernels are the figure's and live in the module classes below.
class Fig5(NamedTuple):
    """Fig. 5 (35x35): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | 3x3 avg pool -> 1x1."""

    name: str
    b1x1: int
    b5x5: tuple[int, int]  # deviation: Fig. 5 has 1x1 -> 3x3 here, the implementation 5x5
    b3x3dbl: tuple[int, int, int]
    pool_proj: int


class Fig10a(NamedTuple):
    """Grid reduction 35x35 -> 17x17 (Fig. 10): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""

    name: str
    b3x3: int  # deviation: a single 3x3/2 conv, no 1x1 before it as in Fig. 10
    b3x3dbl: tuple[int, int, int]


class Fig6(NamedTuple):
    """Fig. 6 with n = 7 (17x17): 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 |
    3x3 avg pool -> 1x1."""

    name: str
    b1x1: int
    b7x7: tuple[int, int, int]
    b7x7dbl: tuple[int, int, int, int, int]
    pool_proj: int


class Fig10b(NamedTuple):
    """Grid reduction 17x17 -> 8x8 (Fig. 10): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 |
    3x3/2 max pool."""

    name: str
    b3x3: tuple[int, int]
    b7x7x3: tuple[int, int, int, int]  # deviation: 1x7 -> 7x1 where Fig. 10 has a 3x3


class Fig7(NamedTuple):
    """Fig. 7 (8x8, expanded filter bank): 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) |
    3x3 avg pool -> 1x1; a pair in parentheses is two parallel convs, concatenated."""

    name: str
    b1x1: int
    b3x3: tuple[int, int]  # 1x1, then each of the 1x3 and 3x1
    b3x3dbl: tuple[int, int, int]  # 1x1, 3x3, then each of the 1x3 and 3x1
    pool_proj: int


# Table 1 rows 8-10 and Sec. 6, with the published widths (Mixed_5b .. Mixed_7c of TF-slim).
STAGE_35 = (  # Table 1 "3xInception" (Fig. 5)
    Fig5("Mixed_5b", 64, (48, 64), (64, 96, 96), 32),  # deviation: 256 outputs, Sec. 6 says 288
    Fig5("Mixed_5c", 64, (48, 64), (64, 96, 96), 64),
    Fig5("Mixed_5d", 64, (48, 64), (64, 96, 96), 64),
)
STAGE_17 = (  # Table 1 "5xInception" (Fig. 6): the grid reduction and four Fig. 6 modules
    Fig10a("Mixed_6a", 384, (64, 96, 96)),
    Fig6("Mixed_6b", 192, (128, 128, 192), (128, 128, 128, 128, 192), 192),
    Fig6("Mixed_6c", 192, (160, 160, 192), (160, 160, 160, 160, 192), 192),
    Fig6("Mixed_6d", 192, (160, 160, 192), (160, 160, 160, 160, 192), 192),
    Fig6("Mixed_6e", 192, (192, 192, 192), (192, 192, 192, 192, 192), 192),
)
STAGE_8 = (  # Table 1 "2xInception" (Fig. 7), after the second grid reduction
    Fig10b("Mixed_7a", (192, 320), (192, 192, 192, 192)),
    Fig7("Mixed_7b", 320, (384, 384), (448, 384, 384), 192),
    Fig7("Mixed_7c", 320, (384, 384), (448, 384, 384), 192),
)


class AuxHead(NamedTuple):
    """The auxiliary classifier on the last 17x17 grid (Sec. 4, Fig. 8)."""

    pool_kernel: int
    pool_stride: int
    proj: int  # 1x1 conv
    fc_kernel: int  # a 5x5 conv on the 5x5 pooled map: the head's fully connected layer
    fc: int


AUX = AuxHead(pool_kernel=5, pool_stride=3, proj=128, fc_kernel=5, fc=768)
# The smallest 17x17 grid the head accepts: the 5x5/3 pool must leave a 5x5 map.
AUX_MIN_GRID = (AUX.fc_kernel - 1) * AUX.pool_stride + AUX.pool_kernel

BN_EPS = 1e-3  # TF-slim's batch-norm epsilon
CONV_STD = 0.1  # TF-slim's truncated-normal stddev for convs and fc (torchvision copies it)


def _conv(
    in_chs: int, out_chs: int, kernel: int | tuple[int, int], stride: int = 1, padding: Any = None
) -> ConvNormAct:
    """Conv, BatchNorm (eps 0.001), ReLU. Inside the modules stride-1 convs keep the grid
    (TF-slim's 'SAME') and stride-2 convs are unpadded ('VALID')."""
    if padding is None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        padding = (kh // 2, kw // 2) if stride == 1 else 0
    return ConvNormAct(in_chs, out_chs, kernel, stride=stride, padding=padding, bn_eps=BN_EPS)


# torchvision's avg_pool2d counts the zero padding (count_include_pad=True); TF's 'SAME'
# pooling in the original graph does not. Kept as torchvision for identical logits.
def _avg_pool_3x3() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1)


class InceptionA(nn.Module):
    """Fig. 5 module (torchvision's ``InceptionA``)."""

    def __init__(self, in_chs: int, spec: Fig5) -> None:
        super().__init__()
        (r5, c5), (r3, c3a, c3b) = spec.b5x5, spec.b3x3dbl
        self.branch1x1 = _conv(in_chs, spec.b1x1, 1)
        self.branch5x5_1 = _conv(in_chs, r5, 1)
        self.branch5x5_2 = _conv(r5, c5, 5)
        self.branch3x3dbl_1 = _conv(in_chs, r3, 1)
        self.branch3x3dbl_2 = _conv(r3, c3a, 3)
        self.branch3x3dbl_3 = _conv(c3a, c3b, 3)
        self.pool = _avg_pool_3x3()
        self.branch_pool = _conv(in_chs, spec.pool_proj, 1)
        self.out_chs = spec.b1x1 + c5 + c3b + spec.pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b1, b5, b3, self.branch_pool(self.pool(x))], 1)


class GridReduction35(nn.Module):
    """Fig. 10 grid reduction from 35x35 to 17x17 (torchvision's ``InceptionB``)."""

    def __init__(self, in_chs: int, spec: Fig10a) -> None:
        super().__init__()
        r3, c3a, c3b = spec.b3x3dbl
        self.branch3x3 = _conv(in_chs, spec.b3x3, 3, stride=2)
        self.branch3x3dbl_1 = _conv(in_chs, r3, 1)
        self.branch3x3dbl_2 = _conv(r3, c3a, 3)
        self.branch3x3dbl_3 = _conv(c3a, c3b, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_chs = spec.b3x3 + c3b + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        b3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, b3dbl, self.pool(x)], 1)


class InceptionB(nn.Module):
    """Fig. 6 module, n = 7 (torchvision's ``InceptionC``)."""

    def __init__(self, in_chs: int, spec: Fig6) -> None:
        super().__init__()
        (r7, c7a, c7b), (d1, d2, d3, d4, d5) = spec.b7x7, spec.b7x7dbl
        self.branch1x1 = _conv(in_chs, spec.b1x1, 1)
        self.branch7x7_1 = _conv(in_chs, r7, 1)
        self.branch7x7_2 = _conv(r7, c7a, (1, 7))
        self.branch7x7_3 = _conv(c7a, c7b, (7, 1))
        self.branch7x7dbl_1 = _conv(in_chs, d1, 1)
        self.branch7x7dbl_2 = _conv(d1, d2, (7, 1))
        self.branch7x7dbl_3 = _conv(d2, d3, (1, 7))
        self.branch7x7dbl_4 = _conv(d3, d4, (7, 1))
        self.branch7x7dbl_5 = _conv(d4, d5, (1, 7))
        self.pool = _avg_pool_3x3()
        self.branch_pool = _conv(in_chs, spec.pool_proj, 1)
        self.out_chs = spec.b1x1 + c7b + d5 + spec.pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(d)))
        return torch.cat([b1, b7, d, self.branch_pool(self.pool(x))], 1)


class GridReduction17(nn.Module):
    """Fig. 10 grid reduction from 17x17 to 8x8 (torchvision's ``InceptionD``)."""

    def __init__(self, in_chs: int, spec: Fig10b) -> None:
        super().__init__()
        (r3, c3), (r7, c7a, c7b, c7c) = spec.b3x3, spec.b7x7x3
        self.branch3x3_1 = _conv(in_chs, r3, 1)
        self.branch3x3_2 = _conv(r3, c3, 3, stride=2)
        self.branch7x7x3_1 = _conv(in_chs, r7, 1)
        self.branch7x7x3_2 = _conv(r7, c7a, (1, 7))
        self.branch7x7x3_3 = _conv(c7a, c7b, (7, 1))
        self.branch7x7x3_4 = _conv(c7b, c7c, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_chs = c3 + c7c + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, self.pool(x)], 1)


class InceptionC(nn.Module):
    """Fig. 7 module with the expanded filter bank (torchvision's ``InceptionE``)."""

    def __init__(self, in_chs: int, spec: Fig7) -> None:
        super().__init__()
        (r3, c3), (d1, d2, d3) = spec.b3x3, spec.b3x3dbl
        self.branch1x1 = _conv(in_chs, spec.b1x1, 1)
        self.branch3x3_1 = _conv(in_chs, r3, 1)
        self.branch3x3_2a = _conv(r3, c3, (1, 3))
        self.branch3x3_2b = _conv(r3, c3, (3, 1))
        self.branch3x3dbl_1 = _conv(in_chs, d1, 1)
        self.branch3x3dbl_2 = _conv(d1, d2, 3)
        self.branch3x3dbl_3a = _conv(d2, d3, (1, 3))
        self.branch3x3dbl_3b = _conv(d2, d3, (3, 1))
        self.pool = _avg_pool_3x3()
        self.branch_pool = _conv(in_chs, spec.pool_proj, 1)
        self.out_chs = spec.b1x1 + 2 * c3 + 2 * d3 + spec.pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        return torch.cat([b1, b3, d, self.branch_pool(self.pool(x))], 1)


MODULES = {Fig5: InceptionA, Fig10a: GridReduction35, Fig6: InceptionB, Fig10b: GridReduction17, Fig7: InceptionC}


class InceptionAux(nn.Module):
    """The auxiliary classifier (Sec. 4, Fig. 8) in its "BN-auxiliary" form (Sec. 7): its
    fully connected layer, a 5x5 conv over the 5x5 pooled map, is batch-normalised like every
    conv; the logits layer is not."""

    def __init__(self, in_chs: int, num_classes: int, spec: AuxHead = AUX) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(spec.pool_kernel, stride=spec.pool_stride)
        self.conv0 = _conv(in_chs, spec.proj, 1)
        self.conv1 = _conv(spec.proj, spec.fc, spec.fc_kernel, padding=0)
        # 1x1 already at 299 input; averages the larger map of a larger input (torchvision).
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.fc, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)  # N x 768 x 5 x 5
        x = self.conv1(self.conv0(x))  # N x 768 x 1 x 1
        return self.fc(torch.flatten(self.avgpool(x), 1))  # N x num_classes


@torch.no_grad()
def _init_trunc_normal(weight: torch.Tensor, std: float) -> None:
    # TF's truncated normal: N(0, std) cut at 2 standard deviations, drawn in one pass by
    # inverting the CDF (nn.init.trunc_normal_ redraws the whole tensor until nothing is out
    # of range, 4x slower here). torchvision passes a=-2, b=2 in absolute units, which at
    # std 0.1 truncates nothing.
    edge = math.erf(2 / math.sqrt(2))
    weight.uniform_(-edge, edge).erfinv_().mul_(std * math.sqrt(2)).clamp_(-2 * std, 2 * std)


def _new_linear(old: nn.Linear, num_classes: int, std: float) -> nn.Linear:
    fc = resized_like(old, num_classes)  # the old layer's device and dtype
    _init_trunc_normal(fc.weight, std)
    return fc


class InceptionV3(ClassifierNet):
    """Inception-v3 built from :data:`STEM` and the three stages of modules.

    ``aux_logits`` adds the auxiliary classifier on the last 17x17 grid (the paper's training
    configuration); :meth:`forward_aux` returns its logits, :meth:`forward` never does.
    ``transform_input`` re-normalises ImageNet-normalised input to the [-1, 1] range of
    Google's weights (``True``/``False``); ``None`` switches it on exactly when the model
    carries torchvision's ImageNet weights (``weights="torchvision"``), so that the ImageNet
    mean and std in ``pretrained_cfg`` stay the right preprocessing.
    """

    default_input_size = (3, 299, 299)

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool | None = None,
        drop_prob: float = 0.2,
    ) -> None:
        super().__init__()
        if not isinstance(aux_logits, bool):
            raise ConfigError(f"aux_logits must be True or False, got {aux_logits!r}")
        if transform_input not in (None, True, False):
            raise ConfigError(f"transform_input must be None, True or False, got {transform_input!r}")
        if transform_input and in_chans != 3:
            raise ConfigError(
                f"transform_input=True re-normalises the three ImageNet RGB channels, got in_chans={in_chans}; "
                "leave transform_input off for other inputs"
            )
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be in [0, 1), got {drop_prob!r}; TF-slim's is 0.2")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.aux_logits, self.transform_input = aux_logits, transform_input

        chs = in_chans
        for row in STEM:
            if isinstance(row, Conv):
                self.add_module(row.name, _conv(chs, row.filters, row.kernel, row.stride, row.padding))
                chs = row.filters
            else:
                self.add_module(row.name, nn.MaxPool2d(row.kernel, stride=row.stride))
        stage_chs = []
        for stage in (STAGE_35, STAGE_17, STAGE_8):
            for spec in stage:
                block = MODULES[type(spec)](chs, spec)
                self.add_module(spec.name, block)
                chs = block.out_chs
            stage_chs.append(chs)
            if stage is STAGE_17:  # Sec. 4: "on top of the last 17x17 layer"
                self.AuxLogits = InceptionAux(chs, num_classes) if aux_logits else None
                # The paper gives no loss weight for its one auxiliary head (Sec. 4); 0.4 is
                # TF-slim's train_image_classifier setting, which the Inception-v3 release used.
                self.aux_weights: tuple[float, ...] = (0.4,) if aux_logits else ()
        self._stem = tuple(row.name for row in STEM)
        self._stages = tuple(tuple(spec.name for spec in stage) for stage in (STAGE_35, STAGE_17, STAGE_8))
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # Table 1 "pool 8x8": the whole 8x8 grid at 299
        self.dropout = nn.Dropout(drop_prob)  # deviation: not in Table 1; TF-slim keep_prob 0.8
        self.fc = nn.Linear(chs, num_classes)
        self.feature_info = [
            FeatureInfo("Conv2d_2b_3x3", STEM[2].filters, 2),
            FeatureInfo("Conv2d_4a_3x3", STEM[5].filters, 4),
            FeatureInfo(STAGE_35[-1].name, stage_chs[0], 8),
            FeatureInfo(STAGE_17[-1].name, stage_chs[1], 16),
            FeatureInfo(STAGE_8[-1].name, stage_chs[2], 32),
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        # TF-slim / torchvision: truncated normal, stddev 0.1; the aux head's 5x5 conv 0.01
        # and its logits 0.001; BatchNorm scale 1, shift 0 (PyTorch's default).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _init_trunc_normal(m.weight, CONV_STD)
        if self.AuxLogits is not None:
            _init_trunc_normal(self.AuxLogits.conv1.conv.weight, 0.01)
            _init_trunc_normal(self.AuxLogits.fc.weight, 0.001)

    # -- input normalisation ------------------------------------------------------------
    @property
    def transforms_input(self) -> bool:
        """Whether forward re-normalises its input now (``transform_input`` resolved)."""
        return bool(self.transform_input)

    def on_weights_loaded(self, kind: str) -> None:
        # Called by create_model after loading weights. Like torchvision.models.inception_v3(
        # weights=...), torchvision's ImageNet weights switch transform_input on unless the
        # caller chose it explicitly.
        if self.transform_input is None and kind == "torchvision":
            self.transform_input = True

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        # ImageNet-normalised x back to pixels in [0, 1], then to (pixels - 0.5) / 0.5, the
        # input range of Google's weights; torchvision's arithmetic, term for term.
        if not self.transforms_input:
            return x
        chans = [
            torch.unsqueeze(x[:, c], 1) * (std / 0.5) + (mean - 0.5) / 0.5
            for c, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD))
        ]
        return torch.cat(chans, 1)

    # -- the contract ---------------------------------------------------------------------
    def _run(self, names: tuple[str, ...], x: torch.Tensor) -> torch.Tensor:
        for name in names:
            x = self._modules[name](x)
        return x

    def _to_grid_17(self, x: torch.Tensor) -> torch.Tensor:
        x = self._transform_input(x)  # N x 3 x 299 x 299
        x = self._run(self._stem, x)  # N x 192 x 35 x 35
        x = self._run(self._stages[0], x)  # N x 288 x 35 x 35
        return self._run(self._stages[1], x)  # N x 768 x 17 x 17

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(self._stages[2], self._to_grid_17(x))  # N x 2048 x 8 x 8

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.dropout(self.avgpool(x)), 1)  # N x 2048
        return x if pre_logits else self.fc(x)

    def forward_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Main logits and one entry per auxiliary head: ``(logits, (aux_logits,))``, or
        ``(logits, ())`` when built with ``aux_logits=False``. Runs in train and eval mode."""
        grid = self._to_grid_17(x)  # N x 768 x 17 x 17
        aux: tuple[torch.Tensor, ...] = ()
        if self.AuxLogits is not None:
            self._check_aux_grid(x, grid)
            aux = (self.AuxLogits(grid),)
        logits = self.forward_head(self._run(self._stages[2], grid))
        return logits, aux

    def _check_aux_grid(self, x: torch.Tensor, grid: torch.Tensor) -> None:
        h, w = grid.shape[-2:]
        if min(h, w) < AUX_MIN_GRID:
            name, default = self._input_hint()
            raise InputShapeError(
                f"input {'x'.join(map(str, x.shape[1:]))} is too small for the auxiliary head of {name}: "
                f"AuxLogits (InceptionAux) gets the 17x17 grid as {h}x{w}, and its {AUX.pool_kernel}x"
                f"{AUX.pool_kernel}/{AUX.pool_stride} average pool and {AUX.fc_kernel}x{AUX.fc_kernel} conv "
                f"need at least {AUX_MIN_GRID}x{AUX_MIN_GRID}; use input {'x'.join(map(str, default))} "
                "or build the model with aux_logits=False"
            )

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = _new_linear(self.fc, num_classes, CONV_STD)
        if self.AuxLogits is not None:
            self.AuxLogits.fc = _new_linear(self.AuxLogits.fc, num_classes, 0.001)


def remap_torchvision_inception_v3(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """torchvision keys are cnnlab's. torchvision's ImageNet checkpoint always holds
    ``AuxLogits.*`` (torchvision builds the head to load it), dropped here for a model built
    with ``aux_logits=False``; a checkpoint saved before BatchNorm counted its batches gets
    ``num_batches_tracked = 0``, what loading it into torchvision gives."""
    own = model.state_dict()
    return {k: v for k, v in state.items() if k in own or not k.startswith("AuxLogits.")}


INCEPTION_V3 = Family(
    "inception_v3",
    SZEGEDY_2016,
    input_size=(3, 299, 299),
    num_classes=1000,
    deviations=(
        "stem (Table 1 rows 5-7): 1x1 conv to 80 (Conv2d_3b_1x1) where row 5 prints conv 3x3/1; "
        "3x3/1 conv to 192 (Conv2d_4a_3x3) then a 3x3/2 max pool (maxpool2) where rows 6-7 print "
        "conv 3x3/2 and conv 3x3/1; the first Fig. 5 module receives 35x35x192, not 35x35x288",
        "Fig. 5 modules (Mixed_5b-5d) have a 1x1 -> 5x5 branch (48 -> 64) where Fig. 5 has 1x1 -> 3x3",
        "Mixed_5b outputs 256 channels (pool projection 32); Sec. 6 gives 288 for all three 35x35 modules",
        "four Fig. 6 modules (Mixed_6b-6e) follow the 35->17 reduction, where Sec. 6 says five; "
        "Table 1's '5xInception' counts the reduction Mixed_6a",
        "grid reduction 35->17 (Mixed_6a): the single-conv branch is a 3x3/2 conv with no 1x1 before it (Fig. 10)",
        "grid reduction 17->8 (Mixed_7a): the deep branch is 1x1 -> 1x7 -> 7x1 -> 3x3/2 "
        "where Fig. 10 has 1x1 -> 3x3 -> 3x3/2",
        "dropout (drop_prob=0.2, TF-slim's keep_prob 0.8) before the final linear layer; Table 1 lists none",
    ),
    notes=(
        "Widths and module names are those of Google's published TF-slim implementation and torchvision's "
        "port (Mixed_5b .. Mixed_7c, AuxLogits); Table 1 fixes only the grid sizes, stage outputs "
        "(288, 768, 1280, 2048) and the stem's first three convs. 23,834,568 parameters with "
        "aux_logits=False (inference; the abstract's 'less than 25 million'); the auxiliary head adds "
        "3,326,696. The auxiliary head needs the full 299x299 input (its 17x17 grid must be at least "
        "17x17); the main path accepts 75x75 and up. transform_input=None (default) re-normalises "
        "ImageNet-normalised input to [-1, 1] only when weights='torchvision' is loaded; pass "
        "transform_input=True when loading Google's weights from a file. Average pools count the "
        "zero padding (torchvision), TF's 'SAME' pooling does not; BatchNorm eps 0.001."
    ),
    test_input_size=(3, 299, 299),
)
_TABLE = "Table 1 (outline); modules Figs. 5, 6 (n=7), 7, grid reductions Fig. 10; auxiliary head Sec. 4"
_PAPER_PARAMS = "less than 25 million (abstract)"
_PAPER_MACS = "5 billion multiply-adds per inference (abstract)"
_TV = TorchvisionWeights(
    builder="inception_v3",
    weights="Inception_V3_Weights.IMAGENET1K_V1",
    builder_kwargs={"aux_logits": True, "init_weights": True, "transform_input": False},
    remap=remap_torchvision_inception_v3,
    model_kwargs={"aux_logits": True, "transform_input": False},
)

inception_v3 = register_variant(
    INCEPTION_V3.card(
        "inception_v3", _TABLE, 27_161_264, paper_params=_PAPER_PARAMS, paper_macs=_PAPER_MACS, torchvision=_TV
    ),
    InceptionV3,
)
