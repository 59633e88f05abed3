"""MiniVGGNet: the course's small VGG-style network for CIFAR-10.

Rosebrock (2017), *Deep Learning for Computer Vision with Python*, Starter Bundle, chapter
"MiniVGGNet: Going Deeper with CNNs" (its layer table and ``minivggnet.py``, Keras).

Module names: ``conv1`` ... ``conv4``, ``pool1``/``pool2``, ``dropout1`` ... ``dropout3`` in the
book's row order, ``fc1`` (the 512-unit block) and ``fc2`` (the classifier).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.keras_compat import KERAS_BN_EPS, KERAS_BN_MOMENTUM, LinearNormAct, glorot_init_, keras_conv
from ..registry import Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

ROSEBROCK_STARTER = Paper(
    authors="Rosebrock",
    title="Deep Learning for Computer Vision with Python, Starter Bundle",
    year=2017,
    venue="PyImageSearch, 1st ed.",
)


class Row(NamedTuple):
    """One row of the book's table: ``CONV`` (K filters, k x k), ``POOL`` (window),
    ``DROPOUT`` (drop probability) or ``FC`` (units)."""

    layer: str
    size: int | float
    kernel: int | None = None


# The book's MiniVGGNet table in its row order (32x32x3 input). Every CONV row and the first
# FC row is followed by ACT and BN rows in the book: that pairing is the `order` option. The
# last FC row (the classes) and the SOFTMAX row are the classifier, built separately.
MINIVGG_TABLE = (
    Row("CONV", 32, 3),  # 32x32x32
    Row("CONV", 32, 3),  # 32x32x32
    Row("POOL", 2),  # 16x16x32
    Row("DROPOUT", 0.25),
    Row("CONV", 64, 3),  # 16x16x64
    Row("CONV", 64, 3),  # 16x16x64
    Row("POOL", 2),  # 8x8x64
    Row("DROPOUT", 0.25),
    Row("FC", 512),
    Row("DROPOUT", 0.5),
)

ORDERS = ("conv-act-bn", "conv-bn-act")


class MiniVGG(ClassifierNet):
    """MiniVGGNet: ``(CONV => ACT => BN) x 2 => POOL => DROPOUT`` at 32 and then 64
    filters, ``FC 512 => ACT => BN => DROPOUT``, ``FC classes``. ``forward`` returns logits
    (the book's SOFTMAX row is the loss's job).

    ``order="conv-act-bn"`` is the book's (BatchNorm after ReLU); ``"conv-bn-act"`` is Ioffe &
    Szegedy's placement, with the same parameters (Keras' conv biases are kept in both).
    """

    default_input_size = (3, 32, 32)

    def __init__(
        self,
        table: tuple[Row, ...] = MINIVGG_TABLE,
        num_classes: int = 10,
        in_chans: int = 3,
        input_size: int = 32,
        order: str = "conv-act-bn",
        bn_eps: float = KERAS_BN_EPS,
        bn_momentum: float = KERAS_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise ConfigError(f"unknown order {order!r} for MiniVGGNet; choose one of {', '.join(ORDERS)}")
        if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or bn_eps <= 0:
            raise ConfigError(f"bn_eps must be a positive number, got {bn_eps!r}; Keras' default is {KERAS_BN_EPS}")
        if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum <= 1:
            raise ConfigError(
                f"bn_momentum must be in [0, 1] (PyTorch's convention: the new batch's weight), got "
                f"{bn_momentum!r}; Keras' momentum 0.99 is {KERAS_BN_MOMENTUM}"
            )
        self.num_classes, self.in_chans = num_classes, in_chans
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        chs, size, count = in_chans, input_size, {"CONV": 0, "POOL": 0, "DROPOUT": 0, "FC": 0}
        self.feature_info = []
        for row in table:
            count[row.layer] += 1
            n = count[row.layer]
            if row.layer == "CONV":  # Conv2D(K, (3, 3), padding="same")
                self.add_module(f"conv{n}", keras_conv(chs, row.size, row.kernel, order=order, **bn))
                chs = row.size
            elif row.layer == "POOL":  # MaxPooling2D(pool_size=(2, 2)): stride = window
                self.add_module(f"pool{n}", nn.MaxPool2d(row.size))
                size //= row.size
                self.feature_info.append(FeatureInfo(f"pool{n}", chs, input_size // size))
            elif row.layer == "DROPOUT":
                self.add_module(f"dropout{n}", nn.Dropout(row.size))
            elif row.layer == "FC":  # Flatten() then Dense(512)
                fc_order = order.replace("conv", "linear")
                self.add_module(f"fc{n}", LinearNormAct(chs * size * size, row.size, order=fc_order, **bn))
                chs, size = row.size, 1
        self.fc2 = nn.Linear(chs, num_classes)  # Dense(classes); softmax left to the loss
        self.classifier_name = "fc2"
        glorot_init_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv2(self.conv1(x)))  # N x 32 x 16 x 16
        x = self.dropout1(x)
        x = self.pool2(self.conv4(self.conv3(x)))  # N x 64 x 8 x 8
        return self.dropout2(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # Keras flattens channels-last (H, W, C); PyTorch flattens C, H, W. Only a Keras
        # checkpoint port needs to permute fc1's weight columns.
        x = self.dropout3(self.fc1(torch.flatten(x, 1)))  # N x 512
        return x if pre_logits else self.fc2(x)

    def init_classifier(self, layer: nn.Module) -> None:
        glorot_init_(layer)  # Keras' default, as the build's


MINIVGG_FAMILY = Family(
    "teaching",
    ROSEBROCK_STARTER,
    input_size=(3, 32, 32),
    num_classes=10,
    # The book's preprocessing (pixels / 255, no mean subtraction): not a deviation.
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    deviations=("forward returns logits: the book's final softmax activation is left to the loss",),
    notes=(
        "Keras conventions kept as defaults: conv and dense biases before BatchNorm, "
        "BatchNorm eps=1e-3 and momentum=0.01 (PyTorch convention; Keras momentum=0.99), "
        "glorot-uniform weights with zero biases. Keras' summary reports 2,171,178 "
        "parameters because it counts the BatchNorm moving mean and variance "
        "(2 x 704 channels = 1,408); cnnlab counts those as buffers: 2,169,770. "
        "order='conv-bn-act' moves each BatchNorm before its ReLU (same count). "
        "Keras flattens channels-last, so porting a Keras checkpoint must permute fc1's "
        "input columns from (H, W, C) to (C, H, W) order. Input scaling as in the book: "
        "pixels / 255, no mean subtraction."
    ),
    test_input_size=(3, 32, 32),
    table_format='chapter "MiniVGGNet: Going Deeper with CNNs", {}',
)
# Hand count from the table, output positions x kernel volume x filters:
# conv1 32*32*32 * 3*9 + conv2 32*32*32 * 32*9 + conv3 16*16*64 * 32*9
# + conv4 16*16*64 * 64*9 + fc1 4096*512 + fc2 512*10.
MINIVGG_MACS = 884_736 + 9_437_184 + 4_718_592 + 9_437_184 + 2_097_152 + 5_120
KERAS_PARAMS = "2,171,178 (Keras model.summary(), which counts BatchNorm's 1,408 moving means and variances)"

# The book's table at its 32x32 input: neither is an option.
minivgg = register_variant(
    MINIVGG_FAMILY.card("minivgg", "layer table (minivggnet.py)", 2_169_770, MINIVGG_MACS, paper_params=KERAS_PARAMS),
    MiniVGG,
    table=MINIVGG_TABLE,
    input_size=32,
)
