"""DeeperGoogLeNet: the course's GoogLeNet for Tiny ImageNet (64x64, 200 classes).

Rosebrock (2017), *Deep Learning for Computer Vision with Python*, Practitioner Bundle,
chapter "GoogLeNet", ``deepergooglenet.py`` (Keras): Szegedy et al.'s Table 1 inception rows
3a-4e on a smaller stem, with BatchNorm in every conv module.

Module names follow the course's Keras layer names: ``block1``, ``pool1``, ``block2``,
``block3``, ``pool2``, ``inception3a``/``inception3b`` (Keras ``3a_*``, ``3b_*``), ``pool3``,
``inception4a`` ... ``inception4e``, ``pool4``, ``pool5``, ``dropout`` (Keras ``do``) and ``fc``
(Keras ``labels``). Inside an inception module: ``first`` (1x1), ``second1``/``second2``
(1x1 reduce, 3x3), ``third1``/``third2`` (1x1 reduce, 5x5), ``pool`` and ``fourth`` (3x3 max
pool, 1x1 projection), so Keras' ``3a_second2_conv`` is cnnlab's ``inception3a.second2.conv``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.keras_compat import KERAS_BN_EPS, KERAS_BN_MOMENTUM, MaxPool2dSame, glorot_init_, keras_conv
from ..registry import IMAGENET_MEAN, Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

ROSEBROCK_PRACTITIONER = Paper(
    authors="Rosebrock",
    title="Deep Learning for Computer Vision with Python, Practitioner Bundle",
    year=2017,
    venue="PyImageSearch, 1st ed.",
)


class Conv(NamedTuple):
    """conv_module: CONV (K filters, k x k, stride 1, "same") => BN => RELU."""

    name: str
    k: int
    kernel: int


class Pool(NamedTuple):
    """``MaxPooling2D((3, 3), strides=(2, 2), padding="same")`` or the final
    ``AveragePooling2D((4, 4))`` (stride = window, "valid")."""

    name: str
    kind: str  # "max" or "avg"
    window: int
    stride: int


class Inception(NamedTuple):
    """Szegedy et al. (2015) Table 1 columns: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
    pool proj."""

    name: str
    n1x1: int
    n3x3red: int
    n3x3: int
    n5x5red: int
    n5x5: int
    pool_proj: int


# The course's DeeperGoogLeNet.build(), in its order; output sizes at 64x64. The inception
# rows are Szegedy et al. 2015, Table 1, rows 3a-4e.
DEEPERGOOGLENET_TABLE = (
    Conv("block1", 64, 5),  # 64x64x64
    Pool("pool1", "max", 3, 2),  # 32x32x64
    Conv("block2", 64, 1),  # 32x32x64
    Conv("block3", 192, 3),  # 32x32x192
    Pool("pool2", "max", 3, 2),  # 16x16x192
    Inception("inception3a", 64, 96, 128, 16, 32, 32),  # 16x16x256
    Inception("inception3b", 128, 128, 192, 32, 96, 64),  # 16x16x480
    Pool("pool3", "max", 3, 2),  # 8x8x480
    Inception("inception4a", 192, 96, 208, 16, 48, 64),  # 8x8x512
    Inception("inception4b", 160, 112, 224, 24, 64, 64),  # 8x8x512
    Inception("inception4c", 128, 128, 256, 24, 64, 64),  # 8x8x512
    Inception("inception4d", 112, 144, 288, 32, 64, 64),  # 8x8x528
    Inception("inception4e", 256, 160, 320, 32, 128, 128),  # 8x8x832
    Pool("pool4", "max", 3, 2),  # 4x4x832
    Pool("pool5", "avg", 4, 4),  # 1x1x832, then dropout 0.4 and FC 200
)
# stage4=False leaves these rows out (the smaller experiment): 3b's 16x16x480 map goes
# straight to pool4 (8x8) and pool5 (2x2), and the classifier sees 2 * 2 * 480 = 1,920 features.
STAGE4_ROWS = ("pool3", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e")

ORDERS = ("conv-bn-act", "conv-act-bn")
ACTS = ("relu", "elu")


class InceptionModule(nn.Module):
    """The course's inception_module: four branches concatenated on channels."""

    def __init__(self, in_chs: int, row: Inception, **conv: object) -> None:
        super().__init__()
        self.first = keras_conv(in_chs, row.n1x1, 1, **conv)
        self.second1 = keras_conv(in_chs, row.n3x3red, 1, **conv)
        self.second2 = keras_conv(row.n3x3red, row.n3x3, 3, **conv)
        self.third1 = keras_conv(in_chs, row.n5x5red, 1, **conv)
        self.third2 = keras_conv(row.n5x5red, row.n5x5, 5, **conv)
        self.pool = nn.MaxPool2d(3, 1, 1)  # "same" at stride 1: one pixel each side, as Keras
        self.fourth = keras_conv(in_chs, row.pool_proj, 1, **conv)
        self.out_chs = row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.first(x),
                self.second2(self.second1(x)),
                self.third2(self.third1(x)),
                self.fourth(self.pool(x)),
            ],
            1,
        )


class DeeperGoogLeNet(ClassifierNet):
    """The course's DeeperGoogLeNet: conv modules CONV (with bias) => BN => ACT, inception
    modules 3a-4e, max pool 3x3/2 "same" after the stem, after 3b and after 4e, average pool
    4x4, dropout 0.4, FC ``num_classes`` (logits out)."""

    default_input_size = (3, 64, 64)

    def __init__(
        self,
        table: tuple[Conv | Pool | Inception, ...] = DEEPERGOOGLENET_TABLE,
        num_classes: int = 200,
        in_chans: int = 3,
        input_size: int = 64,
        order: str = "conv-bn-act",
        act: str = "relu",
        stage4: bool = True,
        drop_prob: float = 0.4,
        bn_eps: float = KERAS_BN_EPS,
        bn_momentum: float = KERAS_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise ConfigError(f"unknown order {order!r} for DeeperGoogLeNet; choose one of {', '.join(ORDERS)}")
        if act not in ACTS:
            raise ConfigError(f"unknown act {act!r} for DeeperGoogLeNet; choose one of {', '.join(ACTS)}")
        if not isinstance(stage4, bool):
            raise ConfigError(f"stage4 must be True or False, got {stage4!r}")
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be a number in [0, 1), got {drop_prob!r}; the course uses 0.4")
        if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or bn_eps <= 0:
            raise ConfigError(f"bn_eps must be a positive number, got {bn_eps!r}; Keras' default is {KERAS_BN_EPS}")
        if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum <= 1:
            raise ConfigError(
                f"bn_momentum must be in [0, 1] (PyTorch's convention: the new batch's weight), got "
                f"{bn_momentum!r}; Keras' momentum 0.99 is {KERAS_BN_MOMENTUM}"
            )
        self.num_classes, self.in_chans, self.stage4 = num_classes, in_chans, stage4
        conv = {"order": order, "act": act, "bn_eps": bn_eps, "bn_momentum": bn_momentum}
        rows = [r for r in table if stage4 or r.name not in STAGE4_ROWS]
        chs, size, last, self.feature_info = in_chans, input_size, "", []
        for row in rows:
            if isinstance(row, Conv):
                self.add_module(row.name, keras_conv(chs, row.k, row.kernel, **conv))
                chs = row.k
            elif isinstance(row, Inception):
                self.add_module(row.name, InceptionModule(chs, row, **conv))
                chs = row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj
            elif row.kind == "max":
                # Keras "same" at stride 2 pads only the bottom/right pixel: nn.MaxPool2d(3, 2, 1)
                # would give the same size with every window shifted by one pixel.
                self.feature_info.append(FeatureInfo(last, chs, input_size // size))
                self.add_module(row.name, MaxPool2dSame(row.window, row.stride))
                size = -(-size // row.stride)
            else:
                break  # the average pool belongs to the head
            last = row.name
        self.feature_info.append(FeatureInfo(last, chs, input_size // size))
        self.pool5 = nn.AvgPool2d(row.window)  # AveragePooling2D((4, 4)): stride 4, "valid"
        self.dropout = nn.Dropout(drop_prob)
        size //= row.window
        # Dense(classes), Keras name "labels"; the softmax is left to the loss.
        self.fc = nn.Linear(chs * size * size, num_classes)
        glorot_init_(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.block1(x))  # N x 64 x 32 x 32
        x = self.pool2(self.block3(self.block2(x)))  # N x 192 x 16 x 16
        x = self.inception3b(self.inception3a(x))  # N x 480 x 16 x 16
        if self.stage4:
            x = self.pool3(x)  # N x 480 x 8 x 8
            x = self.inception4a(x)  # N x 512 x 8 x 8
            x = self.inception4c(self.inception4b(x))  # N x 512 x 8 x 8
            x = self.inception4d(x)  # N x 528 x 8 x 8
            x = self.inception4e(x)  # N x 832 x 8 x 8
        return self.pool4(x)  # N x 832 x 4 x 4 (stage4=False: N x 480 x 8 x 8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.pool5(x), 1))  # N x 832 (stage4=False: N x 1920)
        return x if pre_logits else self.fc(x)

    def init_classifier(self, layer: nn.Module) -> None:
        glorot_init_(layer)  # Keras' default, as the build's


DEEPERGOOGLENET = Family(
    "teaching",
    ROSEBROCK_PRACTITIONER,
    input_size=(3, 64, 64),
    num_classes=200,
    # Per-channel mean in 0-1 units with std 1/255: (x - mean) * 255 is the course's
    # mean-subtracted 0-255 input; ImageNet's means stand in for Tiny ImageNet's own.
    mean=IMAGENET_MEAN,
    std=(1 / 255, 1 / 255, 1 / 255),
    deviations=(
        "forward returns logits: the course's final softmax activation is left to the loss",
        "the course's L2 weight decay (kernel_regularizer=l2(0.0005) on every conv and the "
        "dense kernel) is a training setting, not part of the model",
        "card mean is ImageNet's channel mean, standing in for the course's Tiny ImageNet training-set RGB mean",
    ),
    notes=(
        "The course's build() has a 3x3/2 'same' max pool (pool4) after inception4e, so "
        "4e's 8x8 map is 4x4 before the 4x4 average pool (pool5) and the classifier sees "
        "1x1x832 features: that reading gives 3,657,992 parameters. Without pool4 the "
        "average pool would leave 2x2x832 and the count would be 4,157,192. "
        "Keras conventions kept as defaults: conv and dense biases before BatchNorm, "
        "BatchNorm eps=1e-3 and momentum=0.01 (PyTorch convention; Keras momentum=0.99), "
        "glorot-uniform weights with zero biases, 'same' max pools padded at the "
        "bottom/right. For training recipes: Keras' l2(0.0005) adds 0.0005 * sum(w^2) to "
        "the loss for conv and dense kernels only (not biases, not BatchNorm), i.e. SGD "
        "weight_decay=0.001 on those weights alone. Options: order='conv-act-bn' (BN after "
        "the activation), act='elu', stage4=False (drops pool3 and inception4a-4e: "
        "1,059,096 parameters). Preprocessing: the course subtracts the training set's "
        "per-channel RGB mean from 0-255 pixels; the card uses ImageNet's channel means "
        "(Tiny ImageNet is drawn from ImageNet) with std 1/255 to keep the 0-255 scale."
    ),
    test_input_size=(3, 64, 64),
)

# Hand count from the table, output positions x (input channels x kernel area x K);
# an inception module with input C adds C*(n1x1 + n3x3red + n5x5red + pool_proj)
# + 9*n3x3red*n3x3 + 25*n5x5red*n5x5 per position:
# block1 4096*(3*25*64); block2 1024*(64*64); block3 1024*(64*9*192);
# 3a 256*(192*208 + 9*96*128 + 25*16*32); 3b 256*(256*352 + 9*128*192 + 25*32*96);
# 4a 64*(480*368 + 9*96*208 + 25*16*48); 4b 64*(512*360 + 9*112*224 + 25*24*64);
# 4c 64*(512*344 + 9*128*256 + 25*24*64); 4d 64*(512*352 + 9*144*288 + 25*32*64);
# 4e 64*(528*576 + 9*160*320 + 25*32*128); fc 832*200.
MACS = (
    19_660_800
    + 4_194_304
    + 113_246_208
    + (10_223_616 + 28_311_552 + 3_276_800)
    + (23_068_672 + 56_623_104 + 19_660_800)
    + (11_304_960 + 11_501_568 + 1_228_800)
    + (11_796_480 + 14_450_688 + 2_457_600)
    + (11_272_192 + 18_874_368 + 2_457_600)
    + (11_534_336 + 23_887_872 + 3_276_800)
    + (19_464_192 + 29_491_200 + 6_553_600)
    + 166_400
)
_TABLE = 'chapter "GoogLeNet", DeeperGoogLeNet on Tiny ImageNet (deepergooglenet.py, Keras)'

# The course's 64x64 Tiny ImageNet input (input_size: the feature_info reductions).
deepergooglenet = register_variant(
    DEEPERGOOGLENET.card("deepergooglenet", _TABLE, 3_657_992, MACS),
    DeeperGoogLeNet,
    table=DEEPERGOOGLENET_TABLE,
    input_size=64,
)
