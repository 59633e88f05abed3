"""DenseNet: Huang, Liu, van der Maaten & Weinberger (2017), "Densely connected convolutional
networks", CVPR 2017, arXiv:1608.06993, built from Table 1 (ImageNet) and Sec. 3,
"Implementation Details" (CIFAR).

Every registered build is a DenseNet-BC (Sec. 3): dense layers with the bottleneck
BN-ReLU-Conv(1x1, 4k)-BN-ReLU-Conv(3x3, k) (DenseNet-B) and transition layers
BN-ReLU-Conv(1x1)-AvgPool(2x2/2) that keep floor(theta m) of their m maps, theta = 0.5
(DenseNet-C).

Module names are torchvision's: ``features.conv0``, ``features.norm0``, ``features.relu0``,
``features.pool0``, ``features.denseblock1.denselayer1.norm1`` / ``relu1`` / ``conv1`` /
``norm2`` / ``relu2`` / ``conv2``, ``features.transition1.norm`` / ``relu`` / ``conv`` /
``pool``, ..., ``features.norm5``, then ``classifier``. The paper names no modules, and
these are the names DenseNet users and checkpoints already know. cnnlab adds ``features.relu5``
(torchvision applies that ReLU as a function), ``avgpool`` and, with ``drop_prob > 0``,
``dropout1`` / ``dropout2`` in dense layers and ``dropout`` in transitions; none holds
parameters. The final BatchNorm and ReLU are numbered after the last block: ``norm5`` and
``relu5`` for the four-block ImageNet nets, ``norm4`` and ``relu4`` for the three-block
CIFAR nets.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from ..registry import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    Family,
    Paper,
    TorchvisionWeights,
    register_variant,
)
from ..weights import rename_keys
from .base import ClassifierNet, FeatureInfo

HUANG_2017 = Paper(
    authors="Huang, Liu, van der Maaten & Weinberger",
    title="Densely connected convolutional networks",
    year=2017,
    venue="CVPR 2017",
    arxiv="1608.06993",
)


class Column(NamedTuple):
    """A network of Table 1: its growth rate k and the layers of each dense block."""

    name: str
    growth_rate: int
    block_config: tuple[int, ...]


# Table 1, "DenseNet architectures for ImageNet": "[1x1 conv, 3x3 conv] x n" per dense block
# and the growth rate k of each column. The fourth column is DenseNet-161 (k = 48), the largest
# ImageNet model the authors released (their Torch code: depth 161 -> 6, 12, 36, 24); the CVPR
# 2017 version of Table 1 prints DenseNet-264 (k = 32; 6, 12, 64, 48) in that place.
TABLE1: Mapping[str, Column] = {
    "DenseNet-121": Column("DenseNet-121", 32, (6, 12, 24, 16)),
    "DenseNet-169": Column("DenseNet-169", 32, (6, 12, 32, 32)),
    "DenseNet-201": Column("DenseNet-201", 32, (6, 12, 48, 32)),
    "DenseNet-161": Column("DenseNet-161", 48, (6, 12, 36, 24)),
}


class Conv(NamedTuple):
    """The "Convolution" row: kernel, stride, output size (H = W)."""

    kernel: int
    stride: int
    output: int


class Pool(NamedTuple):
    """The "Pooling" row: a max pool."""

    kernel: int
    stride: int
    output: int


class DenseBlock(NamedTuple):
    """A "Dense Block (i)" row; its number of layers comes from the column."""

    index: int
    output: int


class Transition(NamedTuple):
    """A "Transition Layer (i)" row: 1x1 conv (output ``conv_output``), 2x2 average pool,
    stride 2 (output ``output``)."""

    index: int
    conv_output: int
    output: int


class Classification(NamedTuple):
    """The "Classification Layer" row: global average pool over ``pool`` x ``pool`` maps,
    fully connected layer, softmax (left to the loss)."""

    pool: int
    output: int = 1


# Table 1's rows, top to bottom, with its "Output Size" column at 224x224 input. Caption:
# "each 'conv' layer shown in the table corresponds [to] the sequence BN-ReLU-Conv".
TABLE1_ROWS = (
    Conv(7, 2, 112),  # "7x7 conv, stride 2"
    Pool(3, 2, 56),  # "3x3 max pool, stride 2"
    DenseBlock(1, 56),
    Transition(1, 56, 28),
    DenseBlock(2, 28),
    Transition(2, 28, 14),
    DenseBlock(3, 14),
    Transition(3, 14, 7),
    DenseBlock(4, 7),
    Classification(7),  # "7x7 global average pool", "1000D fully-connected, softmax"
)

# Sec. 3, "Implementation Details", the CIFAR networks: "Before entering the first dense block,
# a convolution with 16 (or twice the growth rate for DenseNet-BC) output channels is performed
# on the input images"; three dense blocks with "equal number of layers"; 3x3 convolutions
# are zero-padded by one pixel; "The feature-map sizes in the three dense blocks are 32x32,
# 16x16, and 8x8"; "At the end of the last dense block, a global average pooling is performed
# and then a softmax classifier is attached."
CIFAR_ROWS = (
    Conv(3, 1, 32),
    DenseBlock(1, 32),
    Transition(1, 32, 16),
    DenseBlock(2, 16),
    Transition(2, 16, 8),
    DenseBlock(3, 8),
    Classification(8),
)

# Sec. 3, "Bottleneck layers": "we let each 1x1 convolution produce 4k feature-maps".
BOTTLENECK_FACTOR = 4
# Sec. 3, "Compression": theta = 0.5 in the experiments (DenseNet-C).
COMPRESSION = 0.5
# Sec. 3: DenseNet-BC's initial convolution has 2k maps (ImageNet: "2k convolutions of size
# 7x7 with stride 2"); the basic CIFAR DenseNet's has 16.
INIT_FEATURES_BC_FACTOR, INIT_FEATURES_BASIC = 2, 16
# Sec. 4.2: dropout rate 0.2 "after each convolutional layer (except the first one)" for the
# datasets without data augmentation (C10, C100, SVHN); none otherwise.
PAPER_DROP_PROB = 0.2

# Sec. 4.1: CIFAR normalised "using the channel means and standard deviations".


def depth(block_config: Sequence[int], bottleneck: bool = True) -> int:
    """The paper's L: the initial convolution, one (two with bottlenecks) per dense layer, one
    per transition, and the fully connected layer. DenseNet-121 = 1 + 2 x 58 + 3 + 1."""
    per_layer = 2 if bottleneck else 1
    return 1 + per_layer * sum(block_config) + (len(block_config) - 1) + 1


def cifar_block_config(depth: int, bottleneck: bool = True, num_blocks: int = 3) -> tuple[int, ...]:
    """Layers per dense block of the CIFAR DenseNet of depth L: L = 3n + 4, or 6n + 4 with
    bottleneck layers (DenseNet-BC L = 100: n = 16)."""
    per_layer = 2 if bottleneck else 1
    rest = depth - num_blocks - 1 if isinstance(depth, int) else -1  # the convs besides the dense layers
    if isinstance(depth, bool) or rest <= 0 or rest % (per_layer * num_blocks):
        rule = "6n + 4 (bottleneck=True)" if bottleneck else "3n + 4 (bottleneck=False)"
        example = 100 if bottleneck else 40
        raise ConfigError(f"depth={depth!r} does not fit L = {rule} with n >= 1 layers per block; use e.g. {example}")
    return (rest // (per_layer * num_blocks),) * num_blocks


# Recomputation of a checkpointed composite function during backward (memory_efficient=True)
# runs with this set, so BatchNorm does not update its running statistics a second time.
_RECOMPUTING: contextvars.ContextVar[bool] = contextvars.ContextVar("cnnlab_densenet_recomputing", default=False)


@contextlib.contextmanager
def _recomputing() -> Iterator[None]:
    token = _RECOMPUTING.set(True)
    try:
        yield
    finally:
        _RECOMPUTING.reset(token)


def _checkpoint_contexts() -> tuple[contextlib.AbstractContextManager[None], contextlib.AbstractContextManager[None]]:
    # torch.utils.checkpoint's context_fn: (forward context, recomputation context).
    return contextlib.nullcontext(), _recomputing()


class DenseLayer(nn.Module):
    """H_l of Sec. 3 on the concatenation [x_0, ..., x_{l-1}] of every earlier map.

    With the bottleneck (DenseNet-B): BN-ReLU-Conv(1x1, ``bn_size`` x k) then
    BN-ReLU-Conv(3x3, k); without it, BN-ReLU-Conv(3x3, k) alone (``norm1``/``relu1``/
    ``conv1``). ``memory_efficient`` recomputes the first composite function (concatenation,
    BN, ReLU, conv1) during backward instead of storing its output (Pleiss et al. 2017,
    arXiv:1707.06990), with ``torch.utils.checkpoint(use_reentrant=False)``.
    """

    def __init__(
        self,
        in_chs: int,
        growth_rate: int,
        bottleneck: bool = True,
        bn_size: int = BOTTLENECK_FACTOR,
        drop_prob: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        mid = bn_size * growth_rate if bottleneck else growth_rate
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        if bottleneck:
            self.conv1 = nn.Conv2d(in_chs, mid, 1, bias=False)  # Sec. 3: "1x1 convolution ... 4k"
        else:
            self.conv1 = nn.Conv2d(in_chs, mid, 3, padding=1, bias=False)
        if drop_prob > 0:  # Sec. 4.2: dropout after each convolution except the first
            self.dropout1 = nn.Dropout(drop_prob)
        if bottleneck:
            self.norm2 = nn.BatchNorm2d(mid)
            self.relu2 = nn.ReLU(inplace=True)
            # Sec. 3: 3x3 convolutions zero-pad one pixel on each side.
            self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
            if drop_prob > 0:
                self.dropout2 = nn.Dropout(drop_prob)
        self.bottleneck = bottleneck
        self.memory_efficient = memory_efficient

    def _composite1(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(inputs, 1)
        norm = self.norm1
        if _RECOMPUTING.get() and norm.training and norm.running_mean is not None:
            # Recomputed during backward: the forward pass already updated the running
            # statistics, so this second update goes to copies (the same tensors are saved for
            # backward as in the forward pass, as checkpoint requires).
            stats = (norm.running_mean.clone(), norm.running_var.clone())
            x = F.batch_norm(x, *stats, norm.weight, norm.bias, True, 0.0, norm.eps)
        else:
            x = norm(x)
        return self.conv1(self.relu1(x))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled() and any(t.requires_grad for t in features):
            x = checkpoint(self._composite1, *features, use_reentrant=False, context_fn=_checkpoint_contexts)
        else:
            x = self._composite1(*features)
        if hasattr(self, "dropout1"):
            x = self.dropout1(x)
        if not self.bottleneck:
            return x  # N x k x H x W
        x = self.conv2(self.relu2(self.norm2(x)))  # N x k x H x W
        return self.dropout2(x) if hasattr(self, "dropout2") else x


class DenseBlockModule(nn.Module):
    """``num_layers`` dense layers, each fed every earlier map of the block (Eq. 2); the block
    outputs all of them concatenated: k_0 + l x k maps."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, **layer_kwargs: Any) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_chs + i * growth_rate, growth_rate, **layer_kwargs))
        self.out_chs = in_chs + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return torch.cat(features, 1)  # N x (k_0 + l x k) x H x W


class TransitionModule(nn.Sequential):
    """Sec. 3, "Transition layers": BN, ReLU, 1x1 conv to ``out_chs`` maps, 2x2 average pool
    with stride 2."""

    def __init__(self, in_chs: int, out_chs: int, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_chs))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_chs, out_chs, 1, bias=False))
        if drop_prob > 0:  # Sec. 4.2: dropout after each convolution except the first
            self.add_module("dropout", nn.Dropout(drop_prob))
        self.add_module("pool", nn.AvgPool2d(2, stride=2))


class DenseNet(ClassifierNet):
    """A DenseNet built by walking a layout (``TABLE1_ROWS`` or ``CIFAR_ROWS``).

    ``growth_rate`` is k; ``block_config`` the number of layers of each dense block;
    ``num_init_features`` the maps of the initial convolution (k_0); ``bottleneck`` adds the
    1x1 bottleneck convolutions with ``bn_size`` x k maps (DenseNet-B); ``compression`` is
    theta, the fraction of maps a transition keeps (DenseNet-C for theta < 1);
    ``drop_prob`` the dropout rate after each convolution but the first (Sec. 4.2);
    ``memory_efficient`` checkpoints each dense layer's first composite function, which
    changes no result. ``stem_norm`` puts BN-ReLU after the initial convolution (the ImageNet
    nets of the authors' code).
    """

    classifier_name = "classifier"

    def __init__(
        self,
        layout: tuple[Any, ...] = TABLE1_ROWS,
        growth_rate: int = 32,
        block_config: Sequence[int] = TABLE1["DenseNet-121"].block_config,
        num_classes: int = 1000,
        in_chans: int = 3,
        num_init_features: int | None = None,
        bottleneck: bool = True,
        bn_size: int = BOTTLENECK_FACTOR,
        compression: float = COMPRESSION,
        drop_prob: float = 0.0,
        memory_efficient: bool = False,
        stem_norm: bool = True,
    ) -> None:
        super().__init__()
        block_config = _check_block_config(block_config, layout)
        _check_positive("growth_rate", growth_rate, "the paper uses 12, 24 or 40 (CIFAR) and 32 or 48 (ImageNet)")
        _check_positive("bn_size", bn_size, f"the paper's bottleneck has {BOTTLENECK_FACTOR}k maps")
        if num_init_features is None:
            num_init_features = INIT_FEATURES_BC_FACTOR * growth_rate
        _check_positive("num_init_features", num_init_features, "the paper uses 2k (DenseNet-BC) or 16")
        if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not 0 < compression <= 1:
            raise ConfigError(
                f"compression={compression!r} must be in (0, 1] (the paper's theta: a transition keeps "
                f"floor(theta m) of its m maps); use {COMPRESSION} for DenseNet-C/BC or 1 for none"
            )
        if isinstance(drop_prob, bool) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob={drop_prob!r} must be in [0, 1); the paper uses {PAPER_DROP_PROB} or 0")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.growth_rate, self.block_config = growth_rate, block_config
        self.bottleneck, self.compression = bottleneck, compression
        self.memory_efficient = memory_efficient
        stem = next(row for row in layout if isinstance(row, Conv))
        self.default_input_size = (in_chans, stem.output * stem.stride, stem.output * stem.stride)

        # torchvision's order: features (stem, blocks, transitions, final BN), then the head.
        self.features = features = nn.Sequential()
        self.feature_info = []
        chs, reduction = in_chans, 1
        for row in layout:
            if isinstance(row, Conv):
                # Deviation (declared, ImageNet): Table 1 prints no padding; k // 2 gives its 112
                # from 224 (CIFAR: Sec. 3 pads 3x3 convolutions by one pixel).
                conv0 = nn.Conv2d(chs, num_init_features, row.kernel, row.stride, row.kernel // 2, bias=False)
                features.add_module("conv0", conv0)
                chs, reduction = num_init_features, reduction * row.stride
                stem_out = "conv0"
                if stem_norm:
                    # Deviation (declared): conv-BN-ReLU, as the authors' Torch code and
                    # torchvision; Table 1's caption would make it BN-ReLU-Conv on the image.
                    features.add_module("norm0", nn.BatchNorm2d(chs))
                    features.add_module("relu0", nn.ReLU(inplace=True))
                    stem_out = "relu0"
                self.feature_info.append(FeatureInfo(f"features.{stem_out}", chs, reduction))
            elif isinstance(row, Pool):
                # Deviation (declared): padding not printed; 1 gives Table 1's 56 from 112.
                features.add_module("pool0", nn.MaxPool2d(row.kernel, row.stride, padding=row.kernel // 2))
                reduction *= row.stride
            elif isinstance(row, DenseBlock):
                block = DenseBlockModule(
                    block_config[row.index - 1],
                    chs,
                    growth_rate,
                    bottleneck=bottleneck,
                    bn_size=bn_size,
                    drop_prob=drop_prob,
                    memory_efficient=memory_efficient,
                )
                features.add_module(f"denseblock{row.index}", block)
                chs = block.out_chs  # k_0 + l x k
                if row.index < len(block_config):  # the last block's stage ends after norm/relu
                    self.feature_info.append(FeatureInfo(f"features.denseblock{row.index}", chs, reduction))
            elif isinstance(row, Transition):
                out = math.floor(compression * chs)  # Sec. 3: floor(theta m)
                if out < 1:
                    raise ConfigError(
                        f"compression={compression!r} leaves no maps after {chs}; use a larger compression"
                    )
                features.add_module(f"transition{row.index}", TransitionModule(chs, out, drop_prob))
                chs, reduction = out, reduction * 2
            elif isinstance(row, Classification):
                last = len(block_config) + 1
                # Deviation (declared): BN-ReLU before the global pool, as the authors' code and
                # torchvision; the paper prints none (each BN-ReLU belongs to a conv after it).
                features.add_module(f"norm{last}", nn.BatchNorm2d(chs))
                features.add_module(f"relu{last}", nn.ReLU(inplace=True))
                self.feature_info.append(FeatureInfo(f"features.relu{last}", chs, reduction))
                # Table 1's "7x7 global average pool" (CIFAR: 8x8): adaptive to 1x1 is the same
                # global pool at the designed size, and any other size works.
                self.avgpool = nn.AdaptiveAvgPool2d(1)
                self.classifier = nn.Linear(chs, num_classes)
        self.num_features = chs
        for m in self.modules():
            self._init_layer(m)

    @staticmethod
    def _init_layer(module: nn.Module) -> None:
        # Sec. 4.2: "the weight initialization introduced by [10]" (He et al. 2015): convolutions
        # normal with std sqrt(2 / (k^2 x output maps)), the fan-out form the authors' Torch code
        # uses (torchvision uses the fan-in form). BN scale 1 and shift 0, zero classifier bias.
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def init_classifier(self, layer: nn.Module) -> None:
        self._init_layer(layer)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # densenet121 at 224 (Table 1): conv0 N x 64 x 112 x 112; pool0 N x 64 x 56 x 56;
        # denseblock1 N x 256 x 56 x 56; transition1 N x 128 x 28 x 28; denseblock2
        # N x 512 x 28 x 28; transition2 N x 256 x 14 x 14; denseblock3 N x 1024 x 14 x 14;
        # transition3 N x 512 x 7 x 7; denseblock4, norm5, relu5 N x 1024 x 7 x 7.
        # densenet_bc_100_12 at 32: conv0 N x 24 x 32 x 32; denseblock1 N x 216 x 32 x 32;
        # transition1 N x 108 x 16 x 16; denseblock2 N x 300 x 16 x 16; transition2
        # N x 150 x 8 x 8; denseblock3, norm4, relu4 N x 342 x 8 x 8.
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 1024 (densenet121), N x 342 (BC-100-12)
        return x if pre_logits else self.classifier(x)


def _check_positive(name: str, value: object, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer; {hint}")


def _check_block_config(block_config: Sequence[int], layout: tuple[Any, ...]) -> tuple[int, ...]:
    blocks = sum(isinstance(row, DenseBlock) for row in layout)
    ok = isinstance(block_config, (tuple, list)) and len(block_config) == blocks
    if not ok or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in block_config):
        raise ConfigError(
            f"block_config={block_config!r} must list {blocks} positive layer counts, one per dense "
            f"block, e.g. {TABLE1['DenseNet-121'].block_config if blocks == 4 else (16, 16, 16)}"
        )
    return tuple(block_config)


# torchvision's DenseNet checkpoints from before its module-name fix (the ImageNet files it
# downloads) name the dense layers' modules 'norm.1', 'relu.1', 'conv.1', 'norm.2', ...;
# torchvision.models.densenet._load_state_dict renames them with this rule.
_LEGACY_DENSELAYER_KEY = (r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2.")


def _densenet_tv_remap(state: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """torchvision's keys are cnnlab's; the legacy ``denselayerN.norm.1.weight`` keys of the
    ImageNet checkpoint files become ``denselayerN.norm1.weight``."""
    return rename_keys(state, [_LEGACY_DENSELAYER_KEY])


# --------------------------------------------------------------------------------------------
# Registered builds.

_PADDING = (
    "stem padding is not printed in Table 1: the 7x7/2 convolution pads 3 and the 3x3/2 max "
    "pool pads 1, which give its 112 and 56"
)
_STEM = (
    "the initial convolution is conv-BN-ReLU (norm0, relu0), as in the authors' Torch code and "
    "torchvision; Table 1's caption ('each conv layer ... corresponds the sequence BN-ReLU-Conv') "
    "would put BN-ReLU on the raw image instead"
)
_FINAL_BN = (
    "BN-ReLU ({norm}, {relu}) after the last dense block, before the global average pool, as "
    "in the authors' code and torchvision; the paper prints none (its BN-ReLU pairs belong to "
    "the convolutions that follow them)"
)
_IMAGENET_DEVIATIONS = (_STEM, _FINAL_BN.format(norm="norm5", relu="relu5"), _PADDING)
_IMAGENET_NOTES = (
    "DenseNet-BC: bottleneck 1x1 convolutions with 4k maps and compression 0.5; the initial "
    "convolution has 2k maps. Depth L = 1 + 2 x {layers} dense-layer convolutions + 3 "
    "transitions + 1 FC = {depth}. The 7x7 global average pool is AdaptiveAvgPool2d(1): the "
    "same at 224, and inputs from 29x29 up work. Initialisation: He et al. normal for convolutions "
    "(Sec. 4.2; fan-out, as the authors' code), BN 1/0, classifier bias 0. Options: growth_rate (k), compression "
    "(theta), drop_prob (dropout after every convolution but the first, Sec. 4.2; torchvision's "
    "drop_rate drops only after the 3x3), memory_efficient (checkpointed, same results; "
    "BatchNorm running statistics are updated once)."
)


def densenet(
    column: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    growth_rate: int = TABLE1["DenseNet-121"].growth_rate,
    compression: float = COMPRESSION,
    drop_prob: float = 0.0,
    memory_efficient: bool = False,
) -> DenseNet:
    """A DenseNet-BC of Table 1: ``column`` is "DenseNet-121", "DenseNet-169", "DenseNet-201" or
    "DenseNet-161". ``growth_rate`` (k) defaults to 32, the k of all but DenseNet-161 (48: its
    variant's default)."""
    return DenseNet(
        TABLE1_ROWS,
        growth_rate=growth_rate,
        block_config=TABLE1[column].block_config,
        num_classes=num_classes,
        in_chans=in_chans,
        num_init_features=INIT_FEATURES_BC_FACTOR * growth_rate,  # Sec. 3: "2k convolutions"
        compression=compression,
        drop_prob=drop_prob,
        memory_efficient=memory_efficient,
        stem_norm=True,  # deviation (declared): conv-BN-ReLU stem, the authors' code
    )


def densenet_cifar(
    num_classes: int = 10,
    in_chans: int = 3,
    depth: int = 100,
    growth_rate: int = 12,
    bottleneck: bool = True,
    compression: float = COMPRESSION,
    num_init_features: int | None = None,
    drop_prob: float = 0.0,
    memory_efficient: bool = False,
) -> DenseNet:
    """A CIFAR DenseNet of Sec. 3 (DenseNet-BC L = 100, k = 12 by default).
    ``num_init_features=None``: 2k for DenseNet-BC, 16 otherwise (DenseNet, DenseNet-B and
    DenseNet-C): Sec. 3, "16 (or twice the growth rate for DenseNet-BC) convolutions"."""
    if num_init_features is None:
        bc = bottleneck and compression < 1
        num_init_features = INIT_FEATURES_BC_FACTOR * growth_rate if bc else INIT_FEATURES_BASIC
    return DenseNet(
        CIFAR_ROWS,
        growth_rate=growth_rate,
        block_config=cifar_block_config(depth, bottleneck),
        num_classes=num_classes,
        in_chans=in_chans,
        num_init_features=num_init_features,
        bottleneck=bottleneck,
        compression=compression,
        drop_prob=drop_prob,
        memory_efficient=memory_efficient,
        stem_norm=False,  # Sec. 3: the convolution alone; the first dense layer begins with BN-ReLU
    )


DENSENET_FAMILY = Family(
    "densenet",
    HUANG_2017,
    input_size=(3, 224, 224),
    num_classes=1000,
    deviations=_IMAGENET_DEVIATIONS,
    test_input_size=(3, 64, 64),
    table_format="Table 1, column {}",
)
# By depth L (121 for DenseNet-121): each column's notes, the DenseNet-BC facts with its L, and
# torchvision's weights for it.
_NOTES = {
    depth(c.block_config): _IMAGENET_NOTES.format(layers=sum(c.block_config), depth=depth(c.block_config))
    for c in TABLE1.values()
}
_TV = {
    L: TorchvisionWeights(f"densenet{L}", f"DenseNet{L}_Weights.IMAGENET1K_V1", remap=_densenet_tv_remap)
    for L in _NOTES
}

# MACs by hand from Table 1: conv and FC multiply-accumulates, H x W x C_in x C_out x k^2 per
# convolution, a transition's 1x1 conv at its pre-pool size. Dense layer with c inputs at side
# s: s^2 (c x 4k + 4k x 9k); block i's inputs are k_0 + j k for j = 0 .. n_i - 1.
# DenseNet-121 (k 32, k_0 64): conv0 112^2 x 3 x 49 x 64 = 118,013,952; blocks at 56/28/14/7
# 1,040,449,536 / 712,900,608 / 549,126,144 / 104,366,080; transitions 256->128 at 56,
# 512->256 at 28, 1024->512 at 14: 102,760,448 each; FC 1024 x 1000. (torchvision: 2.834 GFLOPS)
densenet121 = register_variant(
    DENSENET_FAMILY.card(
        "densenet121", "DenseNet-121 (k = 32)", 7_978_856, 2_834_161_664, notes=_NOTES[121], torchvision=_TV[121]
    ),
    densenet,
    column="DenseNet-121",
)
# DenseNet-169: as DenseNet-121 to transition 2; block 3 (32 layers) 834,928,640, transition
# 1280->640 at 14 160,563,200, block 4 (32 layers) 285,802,496, FC 1664 x 1000. (3.36 GFLOPS)
densenet169 = register_variant(
    DENSENET_FAMILY.card(
        "densenet169", "DenseNet-169 (k = 32)", 14_149_480, 3_359_843_328, notes=_NOTES[169], torchvision=_TV[169]
    ),
    densenet,
    column="DenseNet-169",
)
# DenseNet-201: as DenseNet-121 to transition 2; block 3 (48 layers) 1,560,674,304, transition
# 1792->896 at 14 314,703,872, block 4 (32 layers) 337,182,720, FC 1920 x 1000. (4.291 GFLOPS)
densenet201 = register_variant(
    DENSENET_FAMILY.card(
        "densenet201",
        "DenseNet-201 (k = 32)",
        20_013_928,
        4_291_365_888,
        notes=_NOTES[201],
        torchvision=_TV[201],
        paper_params="20M (Sec. 4.4: 'a DenseNet-201 with 20M parameters')",
    ),
    densenet,
    column="DenseNet-201",
)
# DenseNet-161 (k 48, k_0 96): conv0 177,020,928; blocks 2,341,011,456 / 1,604,026,368 /
# 2,243,469,312 / 460,615,680; transitions 384->192 at 56 231,211,008, 768->384 at 28
# 231,211,008, 2112->1056 at 14 437,133,312; FC 2208 x 1000. (7.728 GFLOPS)
_161_NOTES = (
    " DenseNet-161 (k = 48, 2k = 96 initial maps) is the largest ImageNet model the "
    "authors released (their Torch code and pretrained weights); the CVPR 2017 version of "
    "Table 1 prints DenseNet-264 (k = 32, blocks 6, 12, 64, 48) as its fourth column."
)
densenet161 = register_variant(
    DENSENET_FAMILY.card(
        "densenet161",
        "DenseNet-161 (k = 48)",
        28_681_000,
        7_727_907_072,
        notes=_NOTES[161] + _161_NOTES,
        torchvision=_TV[161],
    ),
    densenet,
    column="DenseNet-161",
    defaults={"growth_rate": TABLE1["DenseNet-161"].growth_rate},
)


# DenseNet-BC (L = 100, k = 12), Sec. 3 and Table 2, the CIFAR-10 build.
DENSENET_CIFAR_FAMILY = Family(
    "densenet",
    HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    deviations=(_FINAL_BN.format(norm="norm4", relu="relu4"),),
    notes=(
        "Three dense blocks of n = (L - 4) / 6 = 16 bottleneck layers (4k = 48 maps, then k = "
        "12) at 32x32, 16x16 and 8x8; initial 3x3 convolution with 2k = 24 maps (no BN-ReLU "
        "after it: the first dense layer starts with BN-ReLU); transitions keep half the maps "
        "(216 -> 108, 300 -> 150); 342 maps enter the 8x8 global average pool. Options: depth "
        "(L = 6n + 4 with bottleneck, 3n + 4 without), growth_rate (k), bottleneck, compression "
        "(theta), num_init_features (default 2k for DenseNet-BC, 16 for the plain DenseNet), "
        "drop_prob (the paper uses 0.2 without data augmentation, after every convolution but "
        "the first), memory_efficient. The paper trains CIFAR for 300 epochs, batch 64, SGD "
        "lr 0.1 divided by 10 at 50% and 75%, weight decay 1e-4, Nesterov momentum 0.9 (Sec. 4.2)."
    ),
    test_input_size=(3, 32, 32),
    test_kwargs={"depth": 16},  # n = 2 layers per block: the same structure, fast
    table_format="Sec. 3 'Implementation Details' (CIFAR) and Table 2, row {}",
)
# MACs by hand at 32x32: conv0 32^2 x 3 x 9 x 24 = 663,552; blocks of 16 bottleneck layers at
# 32/16/8: 174,587,904 / 60,162,048 / 17,104,896; transitions 216->108 at 32 23,887,872 and
# 300->150 at 16 11,520,000; FC 342 x 10.
densenet_bc_100_12 = register_variant(
    DENSENET_CIFAR_FAMILY.card(
        "densenet_bc_100_12", "DenseNet-BC (L = 100, k = 12)", 769_162, 287_929_692, paper_params="0.8M (Table 2)"
    ),
    densenet_cifar,
)
