"""BN-Inception: Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", Sec. 4.2 and the Appendix (Figure 5).

GoogLeNet (Szegedy et al. 2014) with BatchNorm before every ReLU (Sec. 4.2: "Batch
Normalization was applied to the input of each nonlinearity"), each 5x5 convolution replaced
by two 3x3 convolutions, three 28x28 Inception modules instead of two, average or max pooling
inside the modules, and stride-2 modules 3c and 4e instead of pooling layers between stages.
No LRN and no dropout (Sec. 4.2.1 removes both); Figure 5 and Sec. 4.2 list no auxiliary
classifiers.

Module names: ``conv1``, ``maxpool1``, ``conv2_reduce``, ``conv2``, ``maxpool2``,
``inception3a`` .. ``inception5b``, ``avgpool``, ``fc``; inside a module ``branch1`` (#1x1),
``branch2`` (#3x3 reduce, #3x3), ``branch3`` (double #3x3 reduce, two 3x3), ``branch4``
(pool, and the projection unless it is "pass through"), as in cnnlab's GoogLeNet.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import ConvNormAct
from ..registry import Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

IOFFE_2015 = Paper(
    authors="Ioffe & Szegedy",
    title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    year=2015,
    venue="ICML 2015",
    arxiv="1502.03167",
)


class Conv(NamedTuple):
    """A "convolution" row; ``reduce`` is the "#3x3 reduce" 1x1 convolution before it."""

    name: str
    patch: int
    stride: int
    output: tuple[int, int, int]  # H, W, C as printed
    reduce: int | None = None


class Pool(NamedTuple):
    name: str
    kind: str  # "max" | "avg"
    patch: int
    stride: int
    output: tuple[int, int, int]


class InceptionBN(NamedTuple):
    """An "inception" row: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, and
    "Pool +proj" split into the pool kind and the projection (``None``: "pass through")."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    double3x3_reduce: int
    double3x3: int
    pool: str  # "avg" | "max"
    pool_proj: int | None
    stride: int = 1  # "stride 2" in the patch size/stride column (3c, 4e)
    output: tuple[int, int, int] = (0, 0, 0)  # as printed


# Ioffe & Szegedy 2015, Appendix, Figure 5 ("Inception architecture"), every row top to
# bottom. Input channels are derived from the row above. The printed output column does not
# follow the filter columns everywhere: 3c and 4e print their input's spatial size (the
# stride-2 modules output 14x14 and 7x7), and 4c, 4d and 4e print 576, 576 and 1024 channels
# where their filters give 160+160+160+128 = 608, 96+192+192+128 = 608 and 192+256+608 =
# 1056. cnnlab builds the filter columns (as the Caffe port does); see OUTPUT_AS_BUILT.
FIGURE5 = (
    Conv("conv1", 7, 2, (112, 112, 64)),  # "convolution*": separable, depth multiplier 8 (Appendix)
    Pool("maxpool1", "max", 3, 2, (56, 56, 64)),
    Conv("conv2", 3, 1, (56, 56, 192), reduce=64),
    Pool("maxpool2", "max", 3, 2, (28, 28, 192)),
    InceptionBN("3a", 64, 64, 64, 64, 96, "avg", 32, output=(28, 28, 256)),
    InceptionBN("3b", 64, 64, 96, 64, 96, "avg", 64, output=(28, 28, 320)),
    InceptionBN("3c", 0, 128, 160, 64, 96, "max", None, stride=2, output=(28, 28, 576)),
    InceptionBN("4a", 224, 64, 96, 96, 128, "avg", 128, output=(14, 14, 576)),
    InceptionBN("4b", 192, 96, 128, 96, 128, "avg", 128, output=(14, 14, 576)),
    InceptionBN("4c", 160, 128, 160, 128, 160, "avg", 128, output=(14, 14, 576)),
    InceptionBN("4d", 96, 128, 192, 160, 192, "avg", 128, output=(14, 14, 576)),
    InceptionBN("4e", 0, 128, 192, 192, 256, "max", None, stride=2, output=(14, 14, 1024)),
    InceptionBN("5a", 352, 192, 320, 160, 224, "avg", 128, output=(7, 7, 1024)),
    InceptionBN("5b", 352, 192, 320, 192, 224, "max", 128, output=(7, 7, 1024)),
    Pool("avgpool", "avg", 7, 1, (1, 1, 1024)),
)
# The rows whose built output differs from the printed one (H, W, C).
OUTPUT_AS_BUILT = {
    "inception3c": (14, 14, 576),
    "inception4c": (14, 14, 608),
    "inception4d": (14, 14, 608),
    "inception4e": (7, 7, 1056),
}


def module_name(row: Any) -> str:
    return f"inception{row.name}" if isinstance(row, InceptionBN) else row.name


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution with ``depth_multiplier`` filters per input channel, then
    a 1x1 convolution (TensorFlow's separable_conv2d: the bias sits on the 1x1)."""

    def __init__(
        self, in_chs: int, out_chs: int, kernel_size: int, stride: int, padding: int, depth_multiplier: int, bias: bool
    ) -> None:
        super().__init__()
        mid = in_chs * depth_multiplier
        self.depthwise = nn.Conv2d(in_chs, mid, kernel_size, stride, padding, groups=in_chs, bias=False)
        self.pointwise = nn.Conv2d(mid, out_chs, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class InceptionBNModule(nn.Module):
    """Figure 5's module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool (-> 1x1), concatenated.
    With stride 2 (3c, 4e) the last convolution of each branch and the max pool have
    stride 2, and the pool passes its input through without a projection."""

    def __init__(self, in_chs: int, row: InceptionBN, conv: Any) -> None:
        super().__init__()
        s = row.stride
        if row.n1x1:
            self.branch1 = conv(in_chs, row.n1x1, 1)
        self.branch2 = nn.Sequential(conv(in_chs, row.n3x3_reduce, 1), conv(row.n3x3_reduce, row.n3x3, 3, s, 1))
        self.branch3 = nn.Sequential(
            conv(in_chs, row.double3x3_reduce, 1),
            conv(row.double3x3_reduce, row.double3x3, 3, 1, 1),
            conv(row.double3x3, row.double3x3, 3, s, 1),
        )
        # Deviation (declared): Figure 5 prints no padding; 1 keeps the 3x3/1 pools' size.
        if row.pool == "avg":
            # count_include_pad as in the Caffe port (Caffe's AVE pooling counts the padding).
            pool: nn.Module = nn.AvgPool2d(3, 1, padding=1, ceil_mode=True, count_include_pad=True)
        elif s == 1:
            pool = nn.MaxPool2d(3, 1, padding=1, ceil_mode=True)
        else:
            pool = nn.MaxPool2d(3, s, ceil_mode=True)  # 28 -> 14, 14 -> 7, like the 3x3/2 convs
        proj = [] if row.pool_proj is None else [conv(in_chs, row.pool_proj, 1)]
        self.branch4 = nn.Sequential(pool, *proj)
        self.out_chs = row.n1x1 + row.n3x3 + row.double3x3 + (in_chs if row.pool_proj is None else row.pool_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = [self.branch1(x)] if hasattr(self, "branch1") else []  # 3c and 4e have no #1x1
        return torch.cat([*first, self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class BNInception(ClassifierNet):
    """BN-Inception built by walking Figure 5: every convolution is conv -> BatchNorm -> ReLU.

    ``conv_bias=True`` keeps a bias on every convolution, as the widely used Caffe port (and
    its PyTorch conversion) does; the paper drops it (Sec. 3.2: the bias "can be ignored",
    BatchNorm's shift subsumes it). ``conv1_depth_multiplier=8`` makes conv1 the separable
    convolution the Appendix describes; ``None`` is a plain 7x7 convolution.
    """

    default_input_size = (3, 224, 224)

    def __init__(
        self,
        table: tuple[Any, ...] = FIGURE5,
        num_classes: int = 1000,
        in_chans: int = 3,
        conv_bias: bool = True,
        conv1_depth_multiplier: int | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if not isinstance(conv_bias, bool):
            raise ConfigError(
                f"conv_bias must be True or False, got {conv_bias!r}; True keeps a bias before every "
                "BatchNorm (the Caffe port), False drops it (the paper, Sec. 3.2)"
            )
        if conv1_depth_multiplier is not None and (
            isinstance(conv1_depth_multiplier, bool)
            or not isinstance(conv1_depth_multiplier, int)
            or conv1_depth_multiplier < 1
        ):
            raise ConfigError(
                f"conv1_depth_multiplier must be a positive integer or None, got {conv1_depth_multiplier!r}; "
                "the paper's is 8, None builds a plain 7x7 convolution"
            )
        self.num_classes, self.in_chans = num_classes, in_chans
        conv = partial(ConvNormAct, order="conv-bn-act", bias=conv_bias, bn_eps=bn_eps)
        stages = ("conv1", "conv2", "inception3b", "inception4d", "inception5b")
        self.feature_info = []
        self.blocks: list[str] = []  # forward_features walks them in order
        chs, reduction = in_chans, 1
        for row in table:
            name = module_name(row)
            if isinstance(row, Conv):
                if row.reduce is not None:
                    self._add(f"{name}_reduce", conv(chs, row.reduce, 1))
                    chs = row.reduce
                # Deviation (declared): Figure 5 prints no padding; k // 2 gives its 112 and 56.
                block = conv(chs, row.output[2], row.patch, row.stride, row.patch // 2)
                if name == "conv1" and conv1_depth_multiplier is not None:
                    block.conv = SeparableConv2d(
                        chs, row.output[2], row.patch, row.stride, row.patch // 2, conv1_depth_multiplier, conv_bias
                    )
                self._add(name, block)
                chs, reduction = row.output[2], reduction * row.stride
            elif isinstance(row, Pool) and row.kind == "max":
                # Deviation (declared): Figure 5 prints no rounding; ceil_mode (Caffe's) gives
                # its 112 -> 56 -> 28, where floor would give 55 from 112.
                self._add(name, nn.MaxPool2d(row.patch, row.stride, ceil_mode=True))
                reduction *= row.stride
            elif isinstance(row, Pool):
                self.avgpool = nn.AvgPool2d(row.patch, row.stride)  # 7x7/1 on the 7x7 maps
            else:
                block = InceptionBNModule(chs, row, conv)
                self._add(name, block)
                chs, reduction = block.out_chs, reduction * row.stride
            if name in stages:
                self.feature_info.append(FeatureInfo(name, chs, reduction))
        # "other than the top softmax layer, has no fully-connected layers" (Sec. 4.2); no
        # dropout before it (Sec. 4.2.1, "Remove Dropout").
        self.fc = nn.Linear(chs, num_classes)

    def _add(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self.blocks.append(name)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # conv1 N x 64 x 112 x 112, maxpool1 56 x 56, conv2 N x 192 x 56 x 56, maxpool2 28 x 28,
        # 3a 256, 3b 320, 3c N x 576 x 14 x 14, 4a 576, 4b 576, 4c 608, 4d 608,
        # 4e N x 1056 x 7 x 7, 5a 1024, 5b N x 1024 x 7 x 7
        for name in self.blocks:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 1024
        return x if pre_logits else self.fc(x)


BN_INCEPTION = Family(
    "bn_inception",
    IOFFE_2015,
    input_size=(3, 224, 224),
    num_classes=1000,
    deviations=(
        "convolutions keep a bias before BatchNorm (conv_bias=True, as in the Caffe port); "
        "the paper drops it (Sec. 3.2); conv_bias=False gives 11,285,224 parameters",
        "conv1 is a plain 7x7 convolution; the Appendix uses a separable convolution with "
        "depth multiplier 8 (conv1_depth_multiplier=8 builds it: 11,288,544 parameters)",
        "4c, 4d and 4e are built from their filter columns (608, 608 and 1056 output "
        "channels), not Figure 5's printed 576, 576 and 1024",
        "padding and rounding are not printed (Figure 5): convolutions pad k // 2, the "
        "modules' 3x3/1 pools pad 1, and the 3x3/2 max pools round up (ceil_mode, as Caffe), "
        "which gives the printed 112-56-28-14-7 maps",
    ),
    notes=(
        "Figure 5's printed output column is inconsistent with its filter columns: 4c's "
        "branches sum to 160+160+160+128 = 608, 4d's to 608, and 4e (pass-through of 608) "
        "to 1056, where it prints 576, 576, 1024; 3c and 4e print their input's spatial "
        "size although they have stride 2. Building the filter columns, as the Caffe port "
        "(and its PyTorch conversion) does, gives 11,295,240 parameters with conv biases "
        "and a plain conv1. The paper's 13.6M (Sec. 4.2) does not follow from Figure 5. "
        "Pooling inside the modules is 3x3/1 (avg counts the padding) or, in 3c and 4e, "
        "3x3/2 max with ceil_mode; BatchNorm eps 1e-5. No auxiliary classifiers, no LRN, "
        "no dropout. Initialisation: PyTorch's defaults (convolutions and the classifier "
        "Kaiming-uniform with a=sqrt(5), BatchNorm scale 1 and shift 0); the paper gives "
        "none. Inputs normalised with the ImageNet mean and std; the paper does not "
        "describe its preprocessing."
    ),
    test_input_size=(3, 224, 224),  # fixed: average pool 7x7/1 before the classifier
)

# By hand from Figure 5's filter columns, output positions x (in x k x k x out):
# stem 112*112*(3*49*64) + 56*56*(64*64 + 64*9*192) = 477,675,520; 3a 170,999,808;
# 3b 203,112,448; 3c 143,904,768; 4a 119,218,176; 4b 130,056,192; 4c 178,827,264;
# 4d 223,584,256; 4e 164,577,280; 5a 108,079,104; 5b 111,541,248; fc 1,024,000.
MACS = 2_032_600_064
_TABLE = "Appendix, Figure 5 (all rows); Sec. 4.2, 4.2.1"

# Params: Figure 5's filter columns with conv biases and BatchNorm scale and shift on every
# convolution (the Caffe port's convention); 11,285,224 with conv_bias=False. BatchNorm eps
# 1e-5 (PyTorch's; the paper gives none) is fixed, not an option.
bn_inception = register_variant(
    BN_INCEPTION.card("bn_inception", _TABLE, 11_295_240, MACS, paper_params="13.6M (Sec. 4.2)"),
    BNInception,
    table=FIGURE5,
    bn_eps=1e-5,
)
