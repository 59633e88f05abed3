"""VGG: Simonyan & Zisserman (2015), "Very deep convolutional networks for large-scale image
recognition", ICLR 2015, arXiv:1409.1556, Table 1 (configurations A to E).

Module names are the Caffe-style names of the authors' released models: ``conv1_1``,
``relu1_1``, ``conv1_2``, ..., ``pool1``, ..., ``pool5``, then ``fc6``, ``relu6``, ``drop6``,
``fc7``, ``relu7``, ``drop7``, ``fc8``. ``_bn`` builds add ``bn1_1`` ... after each conv; A-LRN
adds ``lrn1``. The first index is the block (the maxpool rows split Table 1 into five), the
second the conv's position in its block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import LRN
from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, TorchvisionWeights, register_variant
from ..weights import rename_keys
from .base import ClassifierNet, FeatureInfo

SIMONYAN_2015 = Paper(
    authors="Simonyan & Zisserman",
    title="Very deep convolutional networks for large-scale image recognition",
    year=2015,
    venue="ICLR 2015",
    arxiv="1409.1556",
)

# Table 1, "ConvNet configuration", columns A to E, top to bottom, in the paper's own tokens:
# "convK-C" is a KxK convolution with C output channels (stride 1, padding keeps the size,
# Sec. 2.1), "LRN" local response normalisation, "maxpool" 2x2 max pooling with stride 2,
# "FC-N" a fully connected layer with N outputs, "soft-max" the final soft-max.
_FC = ("FC-4096", "FC-4096", "FC-1000", "soft-max")
VGG_TABLE1: Mapping[str, tuple[str, ...]] = {
    "A": (
        "conv3-64",
        "maxpool",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        *_FC,
    ),
    "A-LRN": (
        "conv3-64",
        "LRN",
        "maxpool",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        *_FC,
    ),
    "B": (
        "conv3-64",
        "conv3-64",
        "maxpool",
        "conv3-128",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "maxpool",
        *_FC,
    ),
    "C": (
        "conv3-64",
        "conv3-64",
        "maxpool",
        "conv3-128",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "conv1-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv1-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv1-512",
        "maxpool",
        *_FC,
    ),
    "D": (
        "conv3-64",
        "conv3-64",
        "maxpool",
        "conv3-128",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "conv3-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "maxpool",
        *_FC,
    ),
    "E": (
        "conv3-64",
        "conv3-64",
        "maxpool",
        "conv3-128",
        "conv3-128",
        "maxpool",
        "conv3-256",
        "conv3-256",
        "conv3-256",
        "conv3-256",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "maxpool",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "conv3-512",
        "maxpool",
        *_FC,
    ),
}

# Krizhevsky et al. (2012), Sec. 3.3: k=2, n=5, alpha=1e-4, beta=0.75, the LRN that Sec. 2.1 of
# the VGG paper names (alpha multiplies the sum of squares; see cnnlab.layers.lrn).
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0

# torchvision's adaptive pooling in front of fc6 (see VGG.__init__): the size pool5 has at 224.
POOL5_SIZE = (7, 7)


def parse_conv(token: str) -> tuple[int, int]:
    """``"conv3-64"`` -> (kernel 3, channels 64)."""
    try:
        kernel, channels = token.removeprefix("conv").split("-")
        return int(kernel), int(channels)
    except ValueError:
        raise ConfigError(
            f"cannot read VGG table token {token!r}; write convolutions as 'convK-C' "
            "(e.g. 'conv3-64', 'conv1-256'), or use 'LRN' or 'maxpool'"
        ) from None


def make_vgg_layers(
    tokens: Sequence[str], in_chs: int, batch_norm: bool = False
) -> tuple[list[tuple[str, nn.Module]], int]:
    """The convolutional rows of a Table 1 column as ``(name, module)`` pairs.

    Walks ``tokens`` ("convK-C", "LRN", "maxpool"), deriving each conv's input channels from
    the row before; returns the layers and the channels of the last one. Each maxpool row
    ends a block: names are conv<block>_<index>, pool<block>.
    """
    layers: list[tuple[str, nn.Module]] = []
    block, index = 1, 1  # the current block and the position of its next conv
    for token in tokens:
        if token == "maxpool":
            layers.append((f"pool{block}", nn.MaxPool2d(kernel_size=2, stride=2)))  # Sec. 2.1
            block, index = block + 1, 1
        elif token == "LRN":
            # After the ReLU of the conv before it, as Krizhevsky et al. place it.
            layers.append((f"lrn{block}", LRN(n=LRN_SIZE, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)))
        elif token.startswith("conv"):
            kernel, channels = parse_conv(token)
            suffix = f"{block}_{index}"
            # padding k // 2 keeps the resolution: 1 pixel for 3x3 (Sec. 2.1), none for 1x1.
            # With batch_norm the conv keeps its bias, as torchvision's vgg*_bn do (their
            # weights need it), although BatchNorm's mean subtraction cancels it.
            layers.append((f"conv{suffix}", nn.Conv2d(in_chs, channels, kernel, padding=kernel // 2)))
            if batch_norm:  # not in the paper (it predates BatchNorm); torchvision's vgg*_bn
                layers.append((f"bn{suffix}", nn.BatchNorm2d(channels)))
            layers.append((f"relu{suffix}", nn.ReLU()))  # Sec. 2.1: every hidden layer
            in_chs, index = channels, index + 1
        else:
            raise ConfigError(
                f"unknown VGG table token {token!r}; the convolutional part of a column "
                "holds 'convK-C', 'LRN' and 'maxpool'"
            )
    return layers, in_chs


class VGG(ClassifierNet):
    """A Table 1 column: the convolutional rows, then FC-4096, FC-4096, FC-1000 (the class
    count), soft-max (left to the loss).

    ``batch_norm=True`` puts BatchNorm between each conv and its ReLU (torchvision's
    ``vgg*_bn``); ``drop_prob`` is the dropout after fc6 and fc7 (0.5, Sec. 3.1).
    """

    default_input_size = (3, 224, 224)

    def __init__(
        self,
        config: Sequence[str],
        num_classes: int = 1000,
        in_chans: int = 3,
        batch_norm: bool = False,
        drop_prob: float = 0.5,
    ) -> None:
        super().__init__()
        if not isinstance(batch_norm, bool):
            raise ConfigError(f"batch_norm must be True or False, got {batch_norm!r}")
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be a number in [0, 1), got {drop_prob!r}; the paper uses 0.5")
        first_fc = next((i for i, t in enumerate(config) if t.startswith("FC-")), len(config))
        conv_rows, fc_rows = tuple(config[:first_fc]), tuple(config[first_fc:])
        if not fc_rows or fc_rows[-1] != "soft-max":
            raise ConfigError(f"a VGG column ends with its FC rows and 'soft-max', got {fc_rows!r}")
        self.num_classes, self.in_chans = num_classes, in_chans

        layers, chs = make_vgg_layers(conv_rows, in_chans, batch_norm)
        for name, module in layers:
            self.add_module(name, module)
        self.feature_names = tuple(name for name, _ in layers)
        # One stage per block, ending at its maxpool; each pool halves the resolution.
        self.feature_info = []
        stage_chs = in_chans
        for name, module in layers:
            if isinstance(module, nn.Conv2d):
                stage_chs = module.out_channels
            elif isinstance(module, nn.MaxPool2d):
                self.feature_info.append(FeatureInfo(name, stage_chs, 2 ** (len(self.feature_info) + 1)))

        # Deviation: torchvision's AdaptiveAvgPool2d((7, 7)) before fc6. At 224x224 pool5 is
        # already 7x7 and this is the identity; smaller inputs then still reach fc6.
        self.avgpool = nn.AdaptiveAvgPool2d(POOL5_SIZE)
        width = chs * POOL5_SIZE[0] * POOL5_SIZE[1]  # 512 x 7 x 7 = 25088
        head: list[str] = []
        fcs = fc_rows[:-1]  # "soft-max" is the loss's (nn.CrossEntropyLoss), not a layer
        for i, token in enumerate(fcs):
            n = len(self.feature_info) + 1 + i  # numbered on after pool5: fc6, fc7, fc8
            last = i == len(fcs) - 1
            # The last FC row's width is the class count (FC-1000 for ImageNet).
            out = num_classes if last else _fc_width(token)
            self.add_module(f"fc{n}", _uninitialised_linear(width, out))
            head.append(f"fc{n}")
            if not last:
                self.add_module(f"relu{n}", nn.ReLU())
                self.add_module(f"drop{n}", nn.Dropout(drop_prob))  # Sec. 3.1: first two FC
                head += [f"relu{n}", f"drop{n}"]
            width = out
        self.head_names = tuple(head)
        self.classifier_name = self.head_names[-1]
        init_vgg_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # At 224: pool1 N x 64 x 112 x 112, pool2 N x 128 x 56 x 56, pool3 N x 256 x 28 x 28,
        # pool4 N x 512 x 14 x 14, pool5 N x 512 x 7 x 7.
        for name in self.feature_names:
            x = getattr(self, name)(x)
        return x  # N x 512 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 25088
        for name in self.head_names[:-1]:
            x = getattr(self, name)(x)  # fc6, fc7: N x 4096
        return x if pre_logits else self.get_classifier()(x)  # N x num_classes

    def init_classifier(self, layer: nn.Module) -> None:
        _init_linear(layer)


def _fc_width(token: str) -> int:
    try:
        return int(token.removeprefix("FC-"))
    except ValueError:
        raise ConfigError(f"cannot read VGG table token {token!r}; write FC rows as 'FC-N' (e.g. 'FC-4096')") from None


def _uninitialised_linear(in_features: int, out_features: int) -> nn.Linear:
    # fc6 alone has 103M weights: skip PyTorch's default init, which init_vgg_weights
    # would overwrite anyway (it halves the build time). Honours `with torch.device(...)`.
    return nn.utils.skip_init(nn.Linear, in_features, out_features, device=torch.get_default_device())


def _init_linear(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, 0, 0.01)
    nn.init.zeros_(layer.bias)


def init_vgg_weights(model: nn.Module) -> None:
    """torchvision's VGG initialisation: Kaiming-normal convs (fan-out), N(0, 0.01) linears,
    zero biases, BatchNorm at identity."""
    # Deviation: the paper draws weights with zero mean and 1e-2 variance and copies B-E's
    # first four convs and FC layers from a trained A (Sec. 3.1); Kaiming's scheme trains
    # the deep columns from scratch.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            _init_linear(m)


def remap_torchvision_vgg(state: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """torchvision's ``features.N`` / ``classifier.N`` keys -> cnnlab's names.

    torchvision's ``features`` holds conv, [bn], ReLU per conv row and a MaxPool2d per
    maxpool row, in Table 1's order, exactly like ``model.feature_names``; its
    ``classifier`` is Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear, like
    ``model.head_names``. So position N on one side is position N on the other.
    """
    rules = [(rf"^features\.{i}\.", f"{name}.") for i, name in enumerate(model.feature_names)]
    rules += [(rf"^classifier\.{i}\.", f"{name}.") for i, name in enumerate(model.head_names)]
    # Missing BatchNorm num_batches_tracked (torchvision's 2017 vgg*_bn files) are filled by
    # cnnlab.weights.load_state.
    return rename_keys(state, rules)


def _tv(builder: str, weights: str) -> TorchvisionWeights:
    return TorchvisionWeights(builder=builder, weights=weights, remap=remap_torchvision_vgg)


# Deviations shared by every column; each is also commented beside its line above.
_DEVIATIONS = (
    "AdaptiveAvgPool2d((7, 7)) before fc6, as in torchvision: the identity at 224x224 (pool5 "
    "is 7x7); smaller inputs then still run and torchvision's weights load",
    "initialisation as torchvision's: Kaiming-normal convs (fan-out), N(0, 0.01) linears, "
    "zero biases; the paper samples weights with zero mean and 1e-2 variance, and for B-E "
    "copies the first four convs and the three FC layers from a trained A (Sec. 3.1)",
    "inputs normalised with the ImageNet mean and std (torchvision's preprocessing); the paper "
    "only subtracts the mean RGB value (Sec. 2.1)",
)
_BN_DEVIATIONS = (
    "BatchNorm between every conv and its ReLU (Ioffe & Szegedy 2015, after this paper; "
    "torchvision's vgg*_bn); the convs keep their biases as torchvision's do",
)
_NOTES = (
    "fc6-fc8 are the training-time fully connected layers; at test time the paper converts "
    "them to 7x7 and 1x1 convolutions and averages the class-score map (Sec. 3.2). "
    "batch_norm=True on a plain VGG builder (vgg11 ... vgg19, vgg11_lrn, vgg16_c) adds "
    "BatchNorm after every conv; the _bn builders always have it."
)

# Deviation: torchvision's mean/std normalisation; the paper only subtracts the mean RGB
# value computed on the training set (Sec. 2.1).
VGG_FAMILY = Family(
    "vgg",
    SIMONYAN_2015,
    input_size=(3, 224, 224),
    num_classes=1000,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=_DEVIATIONS,
    notes=_NOTES,
    test_input_size=(3, 32, 32),  # five 2x2 pools: 32 -> 1; the adaptive pool feeds fc6 its 7x7
    table_format="Table 1, column {}",
)
# The _bn cards: the paper's column with BatchNorm after every conv (torchvision's vgg*_bn).
VGG_BN_FAMILY = dataclasses.replace(
    VGG_FAMILY, deviations=_DEVIATIONS + _BN_DEVIATIONS, table_format="Table 1, column {}, with BatchNorm"
)


def vgg(
    column: str, num_classes: int = 1000, in_chans: int = 3, batch_norm: bool = False, drop_prob: float = 0.5
) -> VGG:
    """A VGG of Table 1: ``column`` is "A", "A-LRN", "B", "C", "D" or "E"."""
    return VGG(VGG_TABLE1[column], num_classes, in_chans, batch_norm, drop_prob)


# Multiply-accumulates at 224x224, by hand from Table 1 (sum of H*W*Cin*Cout*k*k per conv,
# blocks at 224, 112, 56, 28, 14) plus the FC layers 25088*4096 + 4096*4096 + 4096*1000 =
# 123,633,664. Column D: 1,936,392,192 + 2,774,532,096 + 4,624,220,160 + 4,624,220,160 +
# 1,387,266,048 + 123,633,664. BatchNorm, LRN and pooling add no multiply-accumulates here.
MACS_A = 7_609_090_048
MACS_B = 11_308_466_176
MACS_C = 11_770_888_192
MACS_D = 15_470_264_320
MACS_E = 19_632_062_464

# Exact counts (the specification; the _bn ones are torchvision's published num_params and
# equal the plain count plus 2 x the channels of every conv). Each variant: its card (name,
# Table 1 column, parameters, multiply-adds, the paper's Table 2 count), builder, column.
_LRN_NOTES = (
    " LRN: Krizhevsky et al.'s k=2, n=5, alpha=1e-4, beta=0.75 (PyTorch's "
    "LocalResponseNorm gets alpha*n, since it divides alpha by n); no parameters."
)
_C_NOTES = " Column C: the third conv of blocks 3-5 is 1x1 (conv3_3, conv4_3, conv5_3)."
_TV = {n: _tv(n, f"{n.upper()}_Weights.IMAGENET1K_V1") for n in ("vgg11", "vgg13", "vgg16", "vgg19")}
_TV_BN = {n: _tv(n, f"{n.upper()}_Weights.IMAGENET1K_V1") for n in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")}

vgg11 = register_variant(
    VGG_FAMILY.card("vgg11", "A", 132_863_336, MACS_A, paper_params="133M (Table 2, A)", torchvision=_TV["vgg11"]),
    vgg,
    column="A",
)
vgg11_lrn = register_variant(
    VGG_FAMILY.card("vgg11_lrn", "A-LRN", 132_863_336, MACS_A, paper_params="133M (Table 2, A-LRN)", notes=_LRN_NOTES),
    vgg,
    column="A-LRN",
)
vgg13 = register_variant(
    VGG_FAMILY.card("vgg13", "B", 133_047_848, MACS_B, paper_params="133M (Table 2, B)", torchvision=_TV["vgg13"]),
    vgg,
    column="B",
)
vgg16_c = register_variant(
    VGG_FAMILY.card("vgg16_c", "C", 133_638_952, MACS_C, paper_params="134M (Table 2, C)", notes=_C_NOTES),
    vgg,
    column="C",
)
vgg16 = register_variant(
    VGG_FAMILY.card("vgg16", "D", 138_357_544, MACS_D, paper_params="138M (Table 2, D)", torchvision=_TV["vgg16"]),
    vgg,
    column="D",
)
vgg19 = register_variant(
    VGG_FAMILY.card("vgg19", "E", 143_667_240, MACS_E, paper_params="144M (Table 2, E)", torchvision=_TV["vgg19"]),
    vgg,
    column="E",
)

# The _bn builders always have BatchNorm (their card and torchvision entry say so): no
# batch_norm option. The plain builders keep it as a documented variant. Table 2 counts the
# columns without BatchNorm.
_NO_BN = {
    c: f"{n} (Table 2, {c}; no BatchNorm)" for c, n in (("A", "133M"), ("B", "133M"), ("D", "138M"), ("E", "144M"))
}
vgg11_bn = register_variant(
    VGG_BN_FAMILY.card("vgg11_bn", "A", 132_868_840, MACS_A, paper_params=_NO_BN["A"], torchvision=_TV_BN["vgg11_bn"]),
    vgg,
    column="A",
    batch_norm=True,
)
vgg13_bn = register_variant(
    VGG_BN_FAMILY.card("vgg13_bn", "B", 133_053_736, MACS_B, paper_params=_NO_BN["B"], torchvision=_TV_BN["vgg13_bn"]),
    vgg,
    column="B",
    batch_norm=True,
)
vgg16_bn = register_variant(
    VGG_BN_FAMILY.card("vgg16_bn", "D", 138_365_992, MACS_D, paper_params=_NO_BN["D"], torchvision=_TV_BN["vgg16_bn"]),
    vgg,
    column="D",
    batch_norm=True,
)
vgg19_bn = register_variant(
    VGG_BN_FAMILY.card("vgg19_bn", "E", 143_678_248, MACS_E, paper_params=_NO_BN["E"], torchvision=_TV_BN["vgg19_bn"]),
    vgg,
    column="E",
    batch_norm=True,
)
