"""SqueezeNet: Iandola, Han, Moskewicz, Ashraf, Dally & Keutzer (2016), "SqueezeNet:
AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size", arXiv:1602.07360,
Table 1 (v1.0); and SqueezeNet v1.1 of the authors' repository (forresti/SqueezeNet,
``SqueezeNet_v1.1/README.md``).

A Fire module (Sec. 3.2, Fig. 1) squeezes with ``s1x1`` 1x1 filters, then expands with
``e1x1`` 1x1 and ``e3x3`` 3x3 filters side by side, every convolution followed by a ReLU,
and concatenates the two expand outputs (1x1 first, as the authors' Caffe definition does).

Module names are Table 1's: ``conv1``, ``maxpool1``, ``fire2`` .. ``fire9``, ``conv10``,
``avgpool10``, pools named after the layer they follow (``maxpool4``, ``maxpool8``;
``maxpool3``, ``maxpool5`` in v1.1), with ``relu_conv1``, ``drop9`` and ``relu_conv10`` as
in the Caffe definition; inside a Fire module ``squeeze``, ``expand1x1``, ``expand3x3``
(torchvision's names) with ``relu_squeeze``, ``relu_expand1x1``, ``relu_expand3x3``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, TorchvisionWeights, register_variant
from ..weights import rename_keys
from .base import ClassifierNet, FeatureInfo

IANDOLA_2016 = Paper(
    authors="Iandola, Han, Moskewicz, Ashraf, Dally & Keutzer",
    title="SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
    year=2016,
    venue="arXiv preprint",
    arxiv="1602.07360",
)


class Conv(NamedTuple):
    """A convolution row: ``filters`` of ``size`` x ``size`` with ``stride``, no padding."""

    name: str
    filters: int
    size: int
    stride: int
    output: tuple[int, int, int] | None = None  # Table 1's "output size" (H, W, C), as printed
    params: int | None = None  # Table 1's "#parameter before pruning"


class MaxPool(NamedTuple):
    name: str
    size: int
    stride: int
    output: tuple[int, int, int] | None = None


class Fire(NamedTuple):
    """A Fire module row: the squeeze and the two expand widths (Sec. 3.2)."""

    name: str
    s1x1: int
    e1x1: int
    e3x3: int
    output: tuple[int, int, int] | None = None
    params: int | None = None


class Dropout(NamedTuple):
    name: str
    drop_prob: float


class AvgPool(NamedTuple):
    """Global average pooling of the class maps."""

    name: str
    output: tuple[int, int, int] | None = None


# Iandola et al. 2016, Table 1 ("SqueezeNet architectural dimensions"), every row top to
# bottom, with its output size and "#parameter before pruning" as printed. Input channels
# are derived from the row above. conv10's 1000 filters are the class count. Table 1 prints
# the input as 224x224x3 but conv1's output as 111x111, which an unpadded 7x7/2 conv gives
# only at 227x227 (the crop of the authors' Caffe definition); at 224x224 the maps are
# 109, 54, 27, 13 (ceil-mode pools reach Table 1's 27 and 13 from maxpool4 on).
SQUEEZENET_V1_0 = (
    Conv("conv1", 96, 7, 2, output=(111, 111, 96), params=14_208),
    MaxPool("maxpool1", 3, 2, output=(55, 55, 96)),
    Fire("fire2", 16, 64, 64, output=(55, 55, 128), params=11_920),
    Fire("fire3", 16, 64, 64, output=(55, 55, 128), params=12_432),
    Fire("fire4", 32, 128, 128, output=(55, 55, 256), params=45_344),
    MaxPool("maxpool4", 3, 2, output=(27, 27, 256)),
    Fire("fire5", 32, 128, 128, output=(27, 27, 256), params=49_440),
    Fire("fire6", 48, 192, 192, output=(27, 27, 384), params=104_880),
    Fire("fire7", 48, 192, 192, output=(27, 27, 384), params=111_024),
    Fire("fire8", 64, 256, 256, output=(27, 27, 512), params=188_992),
    MaxPool("maxpool8", 3, 2, output=(13, 13, 512)),  # printed "13x12x512"
    Fire("fire9", 64, 256, 256, output=(13, 13, 512), params=197_184),
    # Not a row of Table 1: "we apply dropout with a ratio of 50% after the fire9 module"
    # (Sec. 3.3.1).
    Dropout("drop9", 0.5),
    Conv("conv10", 1000, 1, 1, output=(13, 13, 1000), params=513_000),
    AvgPool("avgpool10", output=(1, 1, 1000)),  # printed "13x13/1"
)

# SqueezeNet v1.1 (authors' repository, SqueezeNet_v1.1/README.md and train_val.prototxt):
# conv1 has 64 3x3 filters instead of 96 7x7, and the pools follow conv1, fire3 and fire5
# instead of conv1, fire4 and fire8; "2.4x less computation than v1.0". The paper has no
# table for it: no printed sizes or counts.
SQUEEZENET_V1_1 = (
    Conv("conv1", 64, 3, 2),
    MaxPool("maxpool1", 3, 2),
    Fire("fire2", 16, 64, 64),
    Fire("fire3", 16, 64, 64),
    MaxPool("maxpool3", 3, 2),
    Fire("fire4", 32, 128, 128),
    Fire("fire5", 32, 128, 128),
    MaxPool("maxpool5", 3, 2),
    Fire("fire6", 48, 192, 192),
    Fire("fire7", 48, 192, 192),
    Fire("fire8", 64, 256, 256),
    Fire("fire9", 64, 256, 256),
    Dropout("drop9", 0.5),
    Conv("conv10", 1000, 1, 1),
    AvgPool("avgpool10"),
)

# Row types a SqueezeNet table may hold, in the order the head needs them at the end.
_HEAD = (Dropout, Conv, AvgPool)


class FireModule(nn.Module):
    """squeeze 1x1 -> ReLU -> (expand 1x1 -> ReLU) || (expand 3x3, padding 1 -> ReLU),
    concatenated along channels, 1x1 first (Sec. 3.2, Fig. 1)."""

    def __init__(self, in_chs: int, s1x1: int, e1x1: int, e3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_chs, s1x1, 1)
        self.relu_squeeze = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(s1x1, e1x1, 1)
        self.relu_expand1x1 = nn.ReLU(inplace=True)
        # Sec. 3.3: "we add a 1-pixel border of zero-padding in the input data to 3x3 filters
        # of expand modules", so both expand outputs have the same size.
        self.expand3x3 = nn.Conv2d(s1x1, e3x3, 3, padding=1)
        self.relu_expand3x3 = nn.ReLU(inplace=True)
        self.out_chs = e1x1 + e3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.relu_squeeze(self.squeeze(x))  # N x s1x1 x H x W
        e1 = self.relu_expand1x1(self.expand1x1(s))  # N x e1x1 x H x W
        e3 = self.relu_expand3x3(self.expand3x3(s))  # N x e3x3 x H x W
        return torch.cat([e1, e3], 1)  # N x (e1x1 + e3x3) x H x W


def _check_table(table: Sequence[NamedTuple]) -> None:
    head = tuple(type(row) for row in table[-3:])
    body_ok = all(isinstance(row, (Conv, MaxPool, Fire)) for row in table[:-3])
    if head != _HEAD or not body_ok or not isinstance(table[0], Conv):
        raise ConfigError(
            "a SqueezeNet table starts with a Conv row, holds Conv, MaxPool and Fire rows, and "
            f"ends with Dropout, Conv (the classifier), AvgPool; got {[type(r).__name__ for r in table]}"
        )


class SqueezeNet(ClassifierNet):
    """SqueezeNet from a table of rows: conv1, max pools and Fire modules, then dropout, the
    class-producing 1x1 conv ``conv10`` with its ReLU, and global average pooling.

    ``conv10`` is the classifier (as in NiN): ``forward_features`` stops after the last Fire
    module (N x 512 x 13 x 13 at 224x224); ``forward_head`` applies ``drop9``, ``conv10``,
    ``relu_conv10`` and ``avgpool10``. ``forward_head(f, pre_logits=True)`` returns the global
    average of the (dropped-out) 512-channel map entering ``conv10``. The ReLU after conv10
    makes the logits averages of rectified class maps, not a linear function of the
    pre-logits.
    """

    def __init__(
        self,
        table: Sequence[NamedTuple],
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_prob: float = 0.5,
    ) -> None:
        super().__init__()
        _check_table(table)
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(
                f"drop_prob must be a number in [0, 1), got {drop_prob!r}; the paper uses 0.5 (Sec. 3.3.1)"
            )
        self.num_classes, self.in_chans = num_classes, in_chans
        self.table = tuple(table)

        # The features, in the order of torchvision's ``features`` Sequential (conv, ReLU,
        # pool, Fire ...), which the weight remap relies on.
        names: list[str] = []
        self.feature_info = []
        chs, reduction = in_chans, 1
        body = table[:-3]
        for i, row in enumerate(body):
            if isinstance(row, Conv):
                # Table 1 lists no padding for conv1; the Caffe definitions have none either.
                self.add_module(row.name, nn.Conv2d(chs, row.filters, row.size, row.stride))
                self.add_module(f"relu_{row.name}", nn.ReLU(inplace=True))
                names += [row.name, f"relu_{row.name}"]
                chs, reduction = row.filters, reduction * row.stride
                last = f"relu_{row.name}"
            elif isinstance(row, MaxPool):
                # Caffe rounds pooling output sizes up: ceil_mode=True, as torchvision. At
                # 224x224 this turns v1.0's 54x54 maps into Table 1's 27x27 and 13x13.
                self.add_module(row.name, nn.MaxPool2d(row.size, row.stride, ceil_mode=True))
                names.append(row.name)
                reduction *= row.stride
                continue
            else:
                fire = FireModule(chs, row.s1x1, row.e1x1, row.e3x3)
                self.add_module(row.name, fire)
                names.append(row.name)
                chs = fire.out_chs
                last = row.name
            # A stage ends where the next row is a pool, or at the end of the features.
            if i + 1 == len(body) or isinstance(body[i + 1], MaxPool):
                self.feature_info.append(FeatureInfo(last, chs, reduction))
        self.feature_names = tuple(names)

        drop, cls, gap = table[-3:]
        # Sec. 3.3.1: dropout after fire9 (the row's 0.5 unless drop_prob says otherwise).
        self.add_module(drop.name, nn.Dropout(drop_prob))
        self.classifier_name = cls.name
        self.add_module(cls.name, nn.Conv2d(chs, num_classes, cls.size, cls.stride))  # 1x1, no padding
        # A ReLU after conv10, as in the authors' Caffe definitions (relu_conv10) and torchvision.
        self.add_module(f"relu_{cls.name}", nn.ReLU(inplace=True))
        # Table 1's avgpool10 is 13x13/1, the whole map at the designed size; adaptive
        # pooling is the same there and global at any other input size (torchvision's).
        self.add_module(gap.name, nn.AdaptiveAvgPool2d(1))
        self.head_names = (drop.name, cls.name, f"relu_{cls.name}", gap.name)
        self.pre_logits_chs = chs
        init_squeezenet_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # v1.0 at 224: conv1 N x 96 x 109 x 109, maxpool1 54x54, fire2-fire4 N x 128/128/256
        # x 54 x 54, maxpool4 27x27, fire5-fire8 N x 256/384/384/512 x 27 x 27, maxpool8
        # 13x13. v1.1 at 224: conv1 N x 64 x 111 x 111, maxpool1 55x55, fire2-3 N x 128,
        # maxpool3 27x27, fire4-5 N x 256, maxpool5 13x13, fire6-fire9.
        for name in self.feature_names:
            x = getattr(self, name)(x)
        return x  # N x 512 x 13 x 13

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        drop, cls, relu, gap = (getattr(self, n) for n in self.head_names)
        x = drop(x)
        if pre_logits:
            return torch.flatten(gap(x), 1)  # N x 512
        x = relu(cls(x))  # N x num_classes x 13 x 13
        return torch.flatten(gap(x), 1)  # N x num_classes

    def init_classifier(self, layer: nn.Module) -> None:
        _init_final_conv(layer)


def _init_final_conv(conv: nn.Conv2d) -> None:
    # conv10: N(0, 0.01), zero bias, in the Caffe definitions (gaussian std 0.01) and
    # torchvision alike.
    nn.init.normal_(conv.weight, mean=0.0, std=0.01)
    nn.init.zeros_(conv.bias)


def init_squeezenet_weights(model: SqueezeNet) -> None:
    """torchvision's initialisation: Kaiming-uniform convolutions with zero biases, and
    N(0, 0.01) for the final conv."""
    final = model.get_classifier()
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m is not final:
            # Deviation (declared): Kaiming-uniform as torchvision; the authors' Caffe
            # definitions use Xavier fillers, the paper gives no initialisation.
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    _init_final_conv(final)


def remap_torchvision_squeezenet(state: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """torchvision's ``features.N`` / ``classifier.1`` keys -> cnnlab's names.

    torchvision's ``features`` holds conv1, ReLU, pools and Fire modules in the table's
    order, exactly like ``model.feature_names``, and its Fire modules name their convs
    ``squeeze``, ``expand1x1``, ``expand3x3`` as cnnlab does; ``classifier`` is Dropout,
    final conv, ReLU, pool.
    """
    rules = [(rf"^features\.{i}\.", f"{name}.") for i, name in enumerate(model.feature_names)]
    rules.append((r"^classifier\.1\.", f"{model.classifier_name}."))
    return rename_keys(state, rules)


_PREPROCESSING = (
    "inputs in [0, 1] normalised with the ImageNet mean and std (torchvision's preprocessing, "
    "which its weights need); the authors' Caffe definitions subtract the per-channel means "
    "104, 117, 123 from 0-255 BGR pixels"
)
_INIT = (
    "Kaiming-uniform initialisation of conv1 and the Fire convolutions with zero biases "
    "(torchvision's); the authors' Caffe definitions use Xavier fillers (conv10 N(0, 0.01) in both)"
)
_NOTES = (
    "Max pools 3x3/2 with output sizes rounded up (ceil_mode=True), as Caffe and torchvision. "
    "avgpool10 is AdaptiveAvgPool2d(1): Table 1's 13x13/1 average at the designed size. "
    "conv10 has no padding, as Table 1's 13x13 output needs (the v1.0 Caffe file pads it by 1; "
    "torchvision does not). forward_head(f, pre_logits=True) is the global average of the "
    "512-channel map entering conv10. Takes torchvision's ImageNet weights (weights='torchvision')."
)


_INPUT_224 = (
    "input 224x224 as Table 1 states, so conv1, maxpool1 and fire2-fire4 are 109x109, "
    "54x54 (Table 1 prints 111x111 and 55x55, the sizes at the Caffe definition's "
    "227x227 crop); ceil-mode pools reach Table 1's 27x27 and 13x13 from maxpool4 on"
)
_V1_1_NOTES = (
    "conv1 64 filters 3x3/2 and pools after conv1, fire3 and fire5 (v1.0: after conv1, "
    "fire4 and fire8); Fire modules, dropout and classifier as v1.0. Maps at 224x224: 111, 55, "
    "27, 13. " + _NOTES
)


def _tv(builder: str, weights: str) -> TorchvisionWeights:
    return TorchvisionWeights(builder=builder, weights=weights, remap=remap_torchvision_squeezenet)


SQUEEZENET_FAMILY = Family(
    "squeezenet",
    IANDOLA_2016,
    input_size=(3, 224, 224),
    num_classes=1000,
    # Deviation (declared): ImageNet mean/std on [0, 1] pixels, which torchvision's weights
    # need; the Caffe definition subtracts BGR means from 0-255 pixels.
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    # v1.0: conv1 29x29, pools 14, 7, 3; v1.1: conv1 31x31, pools 15, 7, 3. Every layer runs, fast.
    test_input_size=(3, 64, 64),
)

# By hand at 224x224 (maps 109, 54, 27, 13): H*W x weights per position.
# conv1 109*109*96*147; fire2 96*16 + 16*64 + 16*9*64 = 11,776, fire3 12,288,
# fire4 45,056 at 54*54; fire5 49,152, fire6 104,448, fire7 110,592, fire8 188,416
# at 27*27; fire9 196,608 and conv10 512,000 at 13*13.
SQUEEZENET1_0_MACS = (
    109 * 109 * 96 * 147
    + 54 * 54 * (11_776 + 12_288 + 45_056)
    + 27 * 27 * (49_152 + 104_448 + 110_592 + 188_416)
    + 13 * 13 * (196_608 + 512_000)
)
# By hand at 224x224 (maps 111, 55, 27, 13): conv1 111*111*64*27; fire2 64*16 + 16*64
# + 16*9*64 = 11,264 and fire3 12,288 at 55*55; fire4 45,056 and fire5 49,152 at
# 27*27; fire6 104,448, fire7 110,592, fire8 188,416, fire9 196,608, conv10 512,000
# at 13*13.
SQUEEZENET1_1_MACS = (
    111 * 111 * 64 * 27
    + 55 * 55 * (11_264 + 12_288)
    + 27 * 27 * (45_056 + 49_152)
    + 13 * 13 * (104_448 + 110_592 + 188_416 + 196_608 + 512_000)
)
_V1_0_PAPER_PARAMS = (
    "1,248,424 before pruning, 421,098 after (Table 1); 4.8MB at 32 bits, 0.47MB with Deep Compression (Table 2)"
)

# Table 1's "#parameter before pruning" column: conv1 14,208 + fire2..fire9 11,920 +
# 12,432 + 45,344 + 49,440 + 104,880 + 111,024 + 188,992 + 197,184 + conv10 513,000.
squeezenet1_0 = register_variant(
    SQUEEZENET_FAMILY.card(
        "squeezenet1_0",
        "Table 1 (SqueezeNet architectural dimensions)",
        1_248_424,
        SQUEEZENET1_0_MACS,
        paper_params=_V1_0_PAPER_PARAMS,
        deviations=(_INPUT_224, _INIT, _PREPROCESSING),
        notes=_NOTES,
        torchvision=_tv("squeezenet1_0", "SqueezeNet1_0_Weights.IMAGENET1K_V1"),
    ),
    SqueezeNet,
    table=SQUEEZENET_V1_0,
)
# Table 1's 1,248,424 with conv1 64 3x3 filters (1,792 instead of 14,208) and fire2
# squeezing 64 channels instead of 96 (1,040 instead of 1,552). Not in the paper: no paper_params.
squeezenet1_1 = register_variant(
    SQUEEZENET_FAMILY.card(
        "squeezenet1_1",
        "SqueezeNet v1.1 of the authors' repository (forresti/SqueezeNet, SqueezeNet_v1.1)",
        1_235_496,
        SQUEEZENET1_1_MACS,
        paper_macs="2.4x less computation than v1.0 (authors' SqueezeNet_v1.1/README.md)",
        deviations=(_INIT, _PREPROCESSING),
        notes=_V1_1_NOTES,
        torchvision=_tv("squeezenet1_1", "SqueezeNet1_1_Weights.IMAGENET1K_V1"),
    ),
    SqueezeNet,
    table=SQUEEZENET_V1_1,
)
