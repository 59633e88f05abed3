"""Network in Network: Lin, Chen & Yan (2014), "Network in network", ICLR 2014,
arXiv:1312.4400.

The paper gives the structure (Sec. 3.3, Fig. 2): stacked mlpconv layers, each a convolution
followed by 1x1 convolutions ("cascaded cross channel parametric pooling", cccp), with
ReLUs, pooling between them and global average pooling over the last one's class maps in
place of fully connected layers (Sec. 3.2). The layer sizes, pooling kinds and dropout
places come from the authors' published Caffe definitions: the CIFAR-10 model (Model Zoo,
gist mavenlin/e56253735ef32c3c296d) and the ImageNet model (Model Zoo, gist
mavenlin/d802a5849de39225bcc6; the paper reports no ImageNet model).

Module names are those definitions' names: ``conv1``, ``cccp1``, ``cccp2``, ``pool1``,
``drop1``, ``conv2``, ... with ``relu_conv1``, ``relu_cccp1`` ... after each convolution;
``cccp6`` (CIFAR-10) or ``cccp8`` (ImageNet) is the class-producing 1x1 conv, then
``gap``. (Caffe's ImageNet file calls them ``conv4-1024``, ``cccp7-1024``, ``cccp8-1024``,
``pool0``, ``drop``; here they are ``conv4``, ``cccp7``, ``cccp8``, ``pool1``, ``drop3``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

LIN_2014 = Paper(
    authors="Lin, Chen & Yan",
    title="Network in network",
    year=2014,
    venue="ICLR 2014",
    arxiv="1312.4400",
)


class MLPConv(NamedTuple):
    """One mlpconv layer (Sec. 3.1, Fig. 2) and what follows it.

    A ``kernel`` x ``kernel`` convolution with ``channels`` outputs, then one 1x1 convolution
    per entry of ``cccp``, each followed by a ReLU; then ``pool`` ("max" or "avg": 3x3,
    stride 2; "global": global average pooling, the last layer only) and, if ``dropout``,
    dropout on the pooled output.
    """

    channels: int
    kernel: int
    stride: int
    padding: int
    cccp: tuple[int, ...]
    pool: str
    dropout: bool


# The authors' CIFAR-10 definition (Sec. 4.1 of the paper: three mlpconv layers, dropout on
# the outputs of all but the last). The last cccp's 10 is the class count.
NIN_CIFAR10 = (
    MLPConv(192, 5, 1, 2, cccp=(160, 96), pool="max", dropout=True),
    # Deviation from Sec. 4.1 ("followed by a spatial max pooling layer"): the authors'
    # definition average-pools here, and so does this model.
    MLPConv(192, 5, 1, 2, cccp=(192, 192), pool="avg", dropout=True),
    MLPConv(192, 3, 1, 1, cccp=(192, 10), pool="global", dropout=False),
)

# The authors' ImageNet definition (Model Zoo): four mlpconv layers, dropout after the
# third one's pooling only. The last cccp's 1000 is the class count.
NIN_IMAGENET = (
    MLPConv(96, 11, 4, 0, cccp=(96, 96), pool="max", dropout=False),
    MLPConv(256, 5, 1, 2, cccp=(256, 256), pool="max", dropout=False),
    MLPConv(384, 3, 1, 1, cccp=(384, 384), pool="max", dropout=True),
    MLPConv(1024, 3, 1, 1, cccp=(1024, 1000), pool="global", dropout=False),
)


_POOLS = ("max", "avg", "global")


def _pool(kind: str) -> nn.Module:
    # 3x3 windows with stride 2 rounded up, as Caffe rounds pooling output sizes
    # (ceil_mode=True): 32 -> 16 -> 8 on CIFAR-10 and 54 -> 27 -> 13 -> 6 on ImageNet, the
    # sizes the definitions' final 8x8 and 6x6 average pools expect.
    if kind == "max":
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)
    return nn.AvgPool2d(3, stride=2, ceil_mode=True)


class NIN(ClassifierNet):
    """Network in Network: the rows of a table of :class:`MLPConv`, ending in global average
    pooling of the last 1x1 conv's class maps.

    The last 1x1 conv (``cccp6`` / ``cccp8``) is the classifier: ``forward_features`` stops
    before it, ``forward_head`` applies it, its ReLU and global average pooling.
    ``forward_head(f, pre_logits=True)`` returns the global average of the feature map
    entering the classifier (N x 192 for CIFAR-10, N x 1024 for ImageNet). The classifier
    is followed by a ReLU, so the logits are the averages of rectified class maps, not a
    linear function of those pre-logits.
    """

    def __init__(
        self,
        table: Sequence[MLPConv],
        num_classes: int,
        in_chans: int = 3,
        drop_prob: float = 0.5,
    ) -> None:
        super().__init__()
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be a number in [0, 1), got {drop_prob!r}; the definitions use 0.5")
        for i, row in enumerate(table, 1):
            if row.pool not in _POOLS or (row.pool == "global") != (i == len(table)):
                raise ConfigError(
                    f"mlpconv{i} has pool={row.pool!r}; use 'max' or 'avg' between mlpconv "
                    "layers and 'global' after the last one only"
                )
        self.num_classes, self.in_chans = num_classes, in_chans

        names: list[str] = []
        self.feature_info = []
        chs, reduction, cccp = in_chans, 1, 0
        for i, row in enumerate(table, 1):
            last_row = i == len(table)
            self.add_module(f"conv{i}", nn.Conv2d(chs, row.channels, row.kernel, row.stride, row.padding))
            self.add_module(f"relu_conv{i}", nn.ReLU())
            names += [f"conv{i}", f"relu_conv{i}"]
            chs, reduction = row.channels, reduction * row.stride
            widths = row.cccp[:-1] if last_row else row.cccp  # the last cccp is the classifier
            for width in widths:
                cccp += 1
                self.add_module(f"cccp{cccp}", nn.Conv2d(chs, width, 1))
                self.add_module(f"relu_cccp{cccp}", nn.ReLU())
                names += [f"cccp{cccp}", f"relu_cccp{cccp}"]
                chs = width
            self.feature_info.append(FeatureInfo(names[-1], chs, reduction))
            if not last_row:
                self.add_module(f"pool{i}", _pool(row.pool))
                names.append(f"pool{i}")
                reduction *= 2
                if row.dropout:
                    self.add_module(f"drop{i}", nn.Dropout(drop_prob))
                    names.append(f"drop{i}")
        self.feature_names = tuple(names)

        # The class-producing 1x1 conv; its width in the table is the class count.
        self.classifier_name = f"cccp{cccp + 1}"
        self.add_module(self.classifier_name, nn.Conv2d(chs, num_classes, 1))
        self.add_module(f"relu_{self.classifier_name}", nn.ReLU())  # as in both definitions
        # Global average pooling (Sec. 3.2). The definitions write it as a fixed 8x8 (CIFAR-10)
        # or 6x6 (ImageNet) average pool, the whole map at their input sizes; adaptive
        # pooling is the same there and also pools other sizes globally.
        self.gap = nn.AdaptiveAvgPool2d(1)
        init_nin_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # CIFAR-10 at 32: mlpconv1 N x 96 x 32 x 32, pool1 N x 96 x 16 x 16, mlpconv2
        # N x 192 x 16 x 16, pool2 N x 192 x 8 x 8, conv3 + cccp5 N x 192 x 8 x 8.
        # ImageNet at 224: N x 96 x 54 x 54, pool1 27x27, N x 256 x 27 x 27, pool2 13x13,
        # N x 384 x 13 x 13, pool3 6x6, conv4 + cccp7 N x 1024 x 6 x 6.
        for name in self.feature_names:
            x = getattr(self, name)(x)
        return x  # N x 192 x 8 x 8 (CIFAR-10), N x 1024 x 6 x 6 (ImageNet)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return torch.flatten(self.gap(x), 1)  # N x 192 (CIFAR-10), N x 1024 (ImageNet)
        x = getattr(self, f"relu_{self.classifier_name}")(self.get_classifier()(x))  # N x classes x 8 x 8
        return torch.flatten(self.gap(x), 1)  # N x num_classes

    def init_classifier(self, layer: nn.Module) -> None:
        _init_conv(layer)


def _init_conv(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(conv.bias)


def init_nin_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions (fan-out) with zero biases."""
    # Deviation: the Caffe definitions draw weights from Gaussians with hand-set standard
    # deviations (0.01 or 0.05 per layer); the paper gives no initialisation.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            _init_conv(m)


_INIT_DEVIATION = (
    "Kaiming-normal (fan-out) initialisation with zero biases; the authors' Caffe definitions "
    "use Gaussians with hand-set standard deviations (0.01 or 0.05), the paper gives none"
)
_SOURCE_NOTE = (
    "Layer sizes, paddings, pooling kinds (3x3 stride 2, output sizes rounded up as Caffe "
    "does: ceil_mode=True) and dropout places come from the authors' Caffe definition "
    "({gist}); the paper gives only the structure. The class-producing 1x1 conv {cls} is the "
    "classifier and is followed by a ReLU, as in the definition; global average pooling is "
    "AdaptiveAvgPool2d(1) (the definition's fixed {k}x{k} average pool at {size}x{size}). "
    "forward_head(f, pre_logits=True) returns the global average of the {chs}-channel map "
    "entering {cls}."
)


NIN_CIFAR10_FAMILY = Family(
    "nin",
    LIN_2014,
    input_size=(3, 32, 32),
    num_classes=10,
    # Deviation (declared): per-channel mean/std normalisation; the paper uses global contrast
    # normalisation and ZCA whitening (Sec. 4.2).
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    deviations=(
        "the second pooling is 3x3/2 average pooling, as in the authors' Caffe definition; "
        "Sec. 4.1 says every mlpconv layer is followed by max pooling",
        _INIT_DEVIATION,
        "inputs normalised with the CIFAR-10 per-channel mean and std; the paper uses global "
        "contrast normalisation and ZCA whitening (Sec. 4.2)",
    ),
    notes=_SOURCE_NOTE.format(gist="Model Zoo, gist mavenlin/e56253735ef32c3c296d", cls="cccp6", k=8, size=32, chs=192),
    test_input_size=(3, 32, 32),
    table_format="{}, sizes from the authors' CIFAR-10 Caffe definition",
)
NIN_IMAGENET_FAMILY = Family(
    "nin",
    LIN_2014,
    input_size=(3, 224, 224),
    num_classes=1000,
    # Deviation (declared): ImageNet mean/std on [0, 1] pixels; the definition subtracts the training
    # set's mean image from 0-255 pixels.
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=(
        _INIT_DEVIATION,
        "inputs in [0, 1] normalised with the ImageNet mean and std; the definition "
        "subtracts the training set's mean image from 0-255 pixels",
    ),
    notes=_SOURCE_NOTE.format(
        gist="Model Zoo, gist mavenlin/d802a5849de39225bcc6", cls="cccp8", k=6, size=224, chs=1024
    ),
    test_input_size=(3, 64, 64),  # conv1 14x14, pools 7, 3, 1: every layer runs, fast
    table_format="not in the paper: the authors' ImageNet Caffe definition (Model Zoo), {}",
)

# By hand at 32x32 (maps 32, 16, 8; H*W*Cin*Cout*k*k): conv1 14,745,600 + cccp1
# 31,457,280 + cccp2 15,728,640 + conv2 117,964,800 + cccp3, cccp4 2 x 9,437,184 +
# conv3 21,233,664 + cccp5 2,359,296 + cccp6 122,880.
CIFAR10_MACS = 222_486_528
# By hand at 224x224 (maps 54, 27, 13, 6): conv1 101,616,768 + cccp1, cccp2
# 2 x 26,873,856 + conv2 447,897,600 + cccp3, cccp4 2 x 47,775,744 + conv3 149,520,384
# + cccp5, cccp6 2 x 24,920,064 + conv4 127,401,984 + cccp7 37,748,736 + cccp8 36,864,000.
IMAGENET_MACS = 1_100_188_800

# Each variant: its card (name, table, parameters, multiply-adds), NIN, its table; NIN has no
# default class count, so each variant gives its card's.
nin_cifar10 = register_variant(
    NIN_CIFAR10_FAMILY.card("nin_cifar10", "Sec. 4.1 (three mlpconv layers)", 966_986, CIFAR10_MACS),
    NIN,
    defaults={"num_classes": 10},
    table=NIN_CIFAR10,
)
# paper_params None: the paper has no ImageNet model.
nin_imagenet = register_variant(
    NIN_IMAGENET_FAMILY.card("nin_imagenet", "four mlpconv layers", 7_595_176, IMAGENET_MACS),
    NIN,
    defaults={"num_classes": 1000},
    table=NIN_IMAGENET,
)
