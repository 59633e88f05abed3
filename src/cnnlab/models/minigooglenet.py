"""MiniGoogLeNet: the small Inception network of Zhang, Bengio, Hardt, Recht & Vinyals (2017),
"Understanding deep learning requires rethinking generalization", ICLR 2017, Appendix A,
Fig. 3 ("Inception (small)"), as the course builds it for CIFAR-10: Rosebrock (2017), *Deep
Learning for Computer Vision with Python*, Practitioner Bundle, chapter "GoogLeNet",
``minigooglenet.py`` (Keras).

Module names: ``conv1`` (the stem), ``inception1a``/``inception1b``, ``downsample1``,
``inception2a`` ... ``inception2d``, ``downsample2``, ``inception3a``/``inception3b`` (one number
per resolution: 32x32, 15x15, 7x7), then ``avgpool``, ``dropout``, ``fc``. Inside the modules
the branches keep the course's names: ``conv_1x1``, ``conv_3x3``, ``pool``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.keras_compat import KERAS_BN_EPS, KERAS_BN_MOMENTUM, glorot_init_, keras_conv
from ..registry import Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

ZHANG_2017 = Paper(
    authors="Zhang, Bengio, Hardt, Recht & Vinyals",
    title="Understanding deep learning requires rethinking generalization",
    year=2017,
    venue="ICLR 2017",
    arxiv="1611.03530",
)


class Conv(NamedTuple):
    """Conv module: CONV (K filters, k x k, stride 1, "same") => BN => RELU."""

    name: str
    k: int
    kernel: int


class Inception(NamedTuple):
    """Inception module: conv module 1x1 (``k1x1``) || conv module 3x3 (``k3x3``), concatenated."""

    name: str
    k1x1: int
    k3x3: int


class Downsample(NamedTuple):
    """Downsample module: conv module 3x3/2 "valid" (``k3x3``) || max pool 3x3/2, concatenated."""

    name: str
    k3x3: int


# Zhang et al. 2017, Fig. 3 ("Inception (small)"), top to bottom; the course's build() calls
# in the same order. Output sizes on the course's 32x32 input.
MINIGOOGLENET_TABLE = (
    Conv("conv1", 96, 3),  # 32x32x96
    Inception("inception1a", 32, 32),  # 32x32x64
    Inception("inception1b", 32, 48),  # 32x32x80
    Downsample("downsample1", 80),  # 15x15x160
    Inception("inception2a", 112, 48),  # 15x15x160
    Inception("inception2b", 96, 64),  # 15x15x160
    Inception("inception2c", 80, 80),  # 15x15x160
    Inception("inception2d", 48, 96),  # 15x15x144
    Downsample("downsample2", 96),  # 7x7x240
    Inception("inception3a", 176, 160),  # 7x7x336
    Inception("inception3b", 176, 160),  # 7x7x336
)
# Mean pooling 7x7, dropout 0.5 (the course's; Fig. 3 has none), fully connected 10.
AVGPOOL_WINDOW = 7


class InceptionModule(nn.Module):
    def __init__(self, in_chs: int, k1x1: int, k3x3: int, **conv: float) -> None:
        super().__init__()
        self.conv_1x1 = keras_conv(in_chs, k1x1, 1, **conv)
        self.conv_3x3 = keras_conv(in_chs, k3x3, 3, **conv)
        self.out_chs = k1x1 + k3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv_1x1(x), self.conv_3x3(x)], 1)


class DownsampleModule(nn.Module):
    def __init__(self, in_chs: int, k3x3: int, **conv: float) -> None:
        super().__init__()
        self.conv_3x3 = keras_conv(in_chs, k3x3, 3, stride=2, padding="valid", **conv)
        self.pool = nn.MaxPool2d(3, 2)  # MaxPooling2D((3, 3), strides=(2, 2)), "valid"
        self.out_chs = k3x3 + in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv_3x3(x), self.pool(x)], 1)


class MiniGoogLeNet(ClassifierNet):
    """Zhang et al.'s "Inception (small)" with the course's Keras layers: conv modules
    CONV (with bias) => BN => RELU, a 0.5 dropout before the classifier, logits out."""

    default_input_size = (3, 32, 32)

    def __init__(
        self,
        table: tuple[Conv | Inception | Downsample, ...] = MINIGOOGLENET_TABLE,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_prob: float = 0.5,
        bn_eps: float = KERAS_BN_EPS,
        bn_momentum: float = KERAS_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be a number in [0, 1), got {drop_prob!r}; the course uses 0.5")
        if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or bn_eps <= 0:
            raise ConfigError(f"bn_eps must be a positive number, got {bn_eps!r}; Keras' default is {KERAS_BN_EPS}")
        if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum <= 1:
            raise ConfigError(
                f"bn_momentum must be in [0, 1] (PyTorch's convention: the new batch's weight), got "
                f"{bn_momentum!r}; Keras' momentum 0.99 is {KERAS_BN_MOMENTUM}"
            )
        self.num_classes, self.in_chans = num_classes, in_chans
        conv = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        chs, reduction, last, self.feature_info = in_chans, 1, "", []
        for row in table:
            if isinstance(row, Conv):
                self.add_module(row.name, keras_conv(chs, row.k, row.kernel, **conv))
                chs = row.k
            elif isinstance(row, Inception):
                self.add_module(row.name, InceptionModule(chs, row.k1x1, row.k3x3, **conv))
                chs = row.k1x1 + row.k3x3
            else:
                # The last module before each downsampling is a stage output.
                self.feature_info.append(FeatureInfo(last, chs, reduction))
                self.add_module(row.name, DownsampleModule(chs, row.k3x3, **conv))
                chs, reduction = row.k3x3 + chs, reduction * 2
            last = row.name
        self.feature_info.append(FeatureInfo(last, chs, reduction))
        self.avgpool = nn.AvgPool2d(AVGPOOL_WINDOW)  # AveragePooling2D((7, 7)): 7x7 -> 1x1
        self.dropout = nn.Dropout(drop_prob)
        self.fc = nn.Linear(chs, num_classes)  # Dense(classes); softmax left to the loss
        glorot_init_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # N x 96 x 32 x 32
        x = self.inception1b(self.inception1a(x))  # N x 80 x 32 x 32
        x = self.downsample1(x)  # N x 160 x 15 x 15
        x = self.inception2b(self.inception2a(x))  # N x 160 x 15 x 15
        x = self.inception2d(self.inception2c(x))  # N x 144 x 15 x 15
        x = self.downsample2(x)  # N x 240 x 7 x 7
        return self.inception3b(self.inception3a(x))  # N x 336 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # N x 336
        return x if pre_logits else self.fc(x)

    def init_classifier(self, layer: nn.Module) -> None:
        glorot_init_(layer)  # Keras' default, as the build's


MINIGOOGLENET = Family(
    "teaching",
    ZHANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    # Deviation (declared): CIFAR-10's per-channel means, where the course subtracts a
    # per-pixel mean image; std 1/255 keeps the course's 0-255 scale.
    mean=(0.4914, 0.4822, 0.4465),
    std=(1 / 255, 1 / 255, 1 / 255),
    deviations=(
        "32x32 input, the full CIFAR-10 image, where Zhang et al. feed 28x28 crops (their "
        "Table 1 MLP counts imply 28x28x3 inputs); the 'valid' 3x3/2 downsampling still "
        "ends at 7x7 (32 -> 15 -> 7)",
        "conv modules carry a conv bias and a BatchNorm scale and shift (Keras defaults): "
        "3,424 = 2 x 1,712 parameters more than the paper's 1,649,402, i.e. two per-channel "
        "vectors over the 1,712 conv output channels",
        "dropout 0.5 before the classifier (the course's; not in Fig. 3)",
        "card mean/std normalise per channel; the course subtracts a per-pixel mean image",
        "forward returns logits: the course's final softmax activation is left to the loss",
    ),
    notes=(
        "The course's Keras conventions are defaults: conv biases before BatchNorm, "
        "BatchNorm eps=1e-3 and momentum=0.01 (PyTorch convention; Keras momentum=0.99), "
        "glorot-uniform weights with zero biases. Keras' summary would add the BatchNorm "
        "moving statistics (2 x 1,712 = 3,424). The paper's count leaves room for one value "
        "per conv output channel (its 'Inception w/o BatchNorm' row prints the same count), "
        "consistent with a conv bias without BatchNorm or a BatchNorm shift without scale. "
        "Preprocessing: the course subtracts the training set's per-pixel mean image from "
        "0-255 pixels; the card's mean/std express that per channel (CIFAR-10 channel "
        "means, std 1/255 keeps the 0-255 scale)."
    ),
    test_input_size=(3, 32, 32),
)
_TABLE = (
    'Appendix A, Fig. 3 "Inception (small)", as built by Rosebrock (2017), Deep Learning '
    'for Computer Vision with Python, Practitioner Bundle, chapter "GoogLeNet" '
    "(minigooglenet.py, Keras)"
)

# Hand count from the table, output positions x (input channels x kernel area x K):
# conv1 1024*(3*9*96); inception1a 1024*(96*32 + 96*9*32); inception1b
# 1024*(64*32 + 64*9*48); downsample1 225*(80*9*80); inception2a 225*(160*112 +
# 160*9*48); 2b 225*(160*96 + 160*9*64); 2c 225*(160*80 + 160*9*80); 2d 225*(160*48 +
# 160*9*96); downsample2 49*(144*9*96); inception3a 49*(240*176 + 240*9*160);
# 3b 49*(336*176 + 336*9*160); fc 336*10.
MACS = (
    2_654_208
    + 31_457_280
    + 30_408_704
    + 12_960_000
    + 19_584_000
    + 24_192_000
    + 28_800_000
    + 32_832_000
    + 6_096_384
    + 19_004_160
    + 26_605_824
    + 3_360
)

minigooglenet = register_variant(
    MINIGOOGLENET.card("minigooglenet", _TABLE, 1_652_826, MACS, paper_params="1,649,402 (Table 1, Inception)"),
    MiniGoogLeNet,
    table=MINIGOOGLENET_TABLE,
)
