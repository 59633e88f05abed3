"""AlexNet: Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep
convolutional neural networks", NIPS 2012, Sec. 3 and Fig. 2; and the one-tower network of
Krizhevsky (2014), "One weird trick for parallelizing convolutional neural networks",
arXiv:1404.5997, as torchvision builds it.

Module names are Caffe's for the same net (conv1, relu1, norm1, pool1, ..., fc6, relu6,
drop6, fc7, relu7, drop7, fc8), which number the layers as the paper's Fig. 2 does. The
builder :class:`AlexNet` also builds ZFNet (``zfnet.py``), which is this network re-tuned.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.lrn import LRN
from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, TorchvisionWeights, register_variant
from ..weights import rename_keys
from .base import ClassifierNet, FeatureInfo

KRIZHEVSKY_2012 = Paper(
    authors="Krizhevsky, Sutskever & Hinton",
    title="ImageNet classification with deep convolutional neural networks",
    year=2012,
    venue="NIPS 2012",
)
KRIZHEVSKY_2014 = Paper(
    authors="Krizhevsky",
    title="One weird trick for parallelizing convolutional neural networks",
    year=2014,
    venue="arXiv preprint",
    arxiv="1404.5997",
)


class Conv(NamedTuple):
    """One convolutional layer: kernels, then what follows its ReLU, in order."""

    name: str  # "conv1"
    kernels: int  # output maps
    size: int  # kernel size
    stride: int
    padding: int  # not printed in the papers: chosen to give the printed map sizes
    towers: int  # 2: sees only the maps on its own GPU (Krizhevsky 2012, Sec. 3.5)
    then: tuple[str, ...]  # "LRN" and/or "maxpool", in the order applied after the ReLU


class LRNParams(NamedTuple):
    k: float
    n: int
    alpha: float  # multiplies the sum of squares (Sec. 3.3), see layers/lrn.py
    beta: float


class Pool(NamedTuple):
    size: int
    stride: int
    ceil_mode: bool = False  # Caffe's rounding; ZFNet needs it for its printed sizes


class Init(NamedTuple):
    """Initial weights N(0, std^2); biases 1 in ``unit_bias`` layers, 0 elsewhere."""

    std: float
    unit_bias: tuple[str, ...]


class Spec(NamedTuple):
    """Everything that distinguishes one AlexNet-like network from another."""

    input_size: tuple[int, int, int]  # the input the printed map sizes need
    convs: tuple[Conv, ...]
    hidden: tuple[tuple[str, int], ...]  # fully connected hidden layers; the output layer follows
    output: str  # name of the last (classifier) layer
    lrn: LRNParams | None
    pool: Pool
    dropout_before_fc: bool  # torchvision: Dropout precedes fc6/fc7; the papers: it follows their ReLU
    avgpool: int | None  # adaptive average pooling to this size before the first hidden layer
    init: Init | None  # None: PyTorch's default initialisation (torchvision's)


# Krizhevsky et al. 2012, Sec. 3.5 and Fig. 2, layers 1-5 in order. "The first convolutional
# layer filters the 224x224x3 input image with 96 kernels of size 11x11x3 with a stride of 4
# pixels"; layer 2: 256 kernels 5x5x48; layer 3: 384 kernels 3x3x256 (connected to all
# kernel maps of layer 2); layer 4: 384 kernels 3x3x192; layer 5: 256 kernels 3x3x192.
# Response normalisation follows layers 1 and 2, max pooling follows both normalisations and
# layer 5. Padding: the paper gives none; 0/2/1/1/1 on a 227x227 input give Fig. 2's
# 55-27-13-13-13 maps (and are the Caffe reference model's).
ALEXNET_2012_CONVS = (
    Conv("conv1", 96, 11, 4, 0, towers=1, then=("LRN", "maxpool")),
    Conv("conv2", 256, 5, 1, 2, towers=2, then=("LRN", "maxpool")),
    Conv("conv3", 384, 3, 1, 1, towers=1, then=()),
    Conv("conv4", 384, 3, 1, 1, towers=2, then=()),
    Conv("conv5", 256, 3, 1, 1, towers=2, then=("maxpool",)),
)
# Sec. 3.5: "The fully-connected layers have 4096 neurons each"; the last feeds a 1000-way softmax.
ALEXNET_2012_FC = (("fc6", 4096), ("fc7", 4096))
# Sec. 3.3: "k = 2, n = 5, alpha = 10^-4, and beta = 0.75".
ALEXNET_LRN = LRNParams(k=2.0, n=5, alpha=1e-4, beta=0.75)
# Sec. 3.4: overlapping pooling, s = 2, z = 3.
ALEXNET_POOL = Pool(3, 2)
# Sec. 5: weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the hidden fully
# connected layers, 0 in the rest.
ALEXNET_INIT = Init(0.01, ("conv2", "conv4", "conv5", "fc6", "fc7"))

ALEXNET_2012 = Spec(
    input_size=(3, 227, 227),  # the paper says 224 (Sec. 3.5); its 55x55 conv1 maps need 227
    convs=ALEXNET_2012_CONVS,
    hidden=ALEXNET_2012_FC,
    output="fc8",
    lrn=ALEXNET_LRN,
    pool=ALEXNET_POOL,
    dropout_before_fc=False,
    avgpool=None,
    init=ALEXNET_INIT,
)
# Deviation (declared on the alexnet card): the single-tower net most courses count, every
# layer seeing all maps of the one before.
ALEXNET_ONE_TOWER = ALEXNET_2012._replace(convs=tuple(c._replace(towers=1) for c in ALEXNET_2012_CONVS))

# torchvision.models.alexnet, "based on" Krizhevsky 2014: its footnote on p. 5 gives 64, 192,
# 384, 384, 256 kernels; torchvision (from cuda-convnet2's layers-imagenet-1gpu.cfg) has 256
# in conv4, and its pretrained weights fix that shape. No response normalisation.
ALEXNET_OWT_CONVS = (
    Conv("conv1", 64, 11, 4, 2, towers=1, then=("maxpool",)),
    Conv("conv2", 192, 5, 1, 2, towers=1, then=("maxpool",)),
    Conv("conv3", 384, 3, 1, 1, towers=1, then=()),
    Conv("conv4", 256, 3, 1, 1, towers=1, then=()),  # paper's footnote: 384 (see above)
    Conv("conv5", 256, 3, 1, 1, towers=1, then=("maxpool",)),
)
ALEXNET_OWT = Spec(
    input_size=(3, 224, 224),
    convs=ALEXNET_OWT_CONVS,
    hidden=ALEXNET_2012_FC,
    output="fc8",
    lrn=None,
    pool=ALEXNET_POOL,
    dropout_before_fc=True,  # torchvision's order (pytorch/vision#549), kept for its weights
    avgpool=6,  # torchvision's AdaptiveAvgPool2d((6, 6)): any input from 63x63 up
    init=None,  # torchvision's (PyTorch's default), not the 2012 paper's N(0, 0.01^2)
)


class AlexNet(ClassifierNet):
    """Five convolutional and three fully connected layers, walked from a :class:`Spec`.

    Layers whose ``towers`` is 2 are grouped convolutions: the paper's two GPUs on one device,
    each half of the kernels seeing only its own half of the input maps.
    """

    default_input_size = (3, 227, 227)

    def __init__(self, spec: Spec, num_classes: int = 1000, in_chans: int = 3, drop_prob: float = 0.5) -> None:
        super().__init__()
        if isinstance(drop_prob, bool) or not isinstance(drop_prob, (int, float)) or not 0 <= drop_prob < 1:
            raise ConfigError(
                f"drop_prob must be a number in [0, 1), got {drop_prob!r}; "
                "the paper uses 0.5 (Sec. 4.2), 0 disables dropout"
            )
        self.spec = spec
        self.classifier_name = spec.output
        self.default_input_size = spec.input_size
        self.num_classes, self.in_chans = num_classes, in_chans
        self._features: list[str] = []
        self.feature_info = []
        # Map side at spec.input_size, to size the first fully connected layer.
        chs, reduction, side = in_chans, 1, spec.input_size[-1]
        for i, row in enumerate(spec.convs, start=1):
            # towers > 1 only after conv1, where the channel count is the table's (even) kernels.
            self._add(row.name, nn.Conv2d(chs, row.kernels, row.size, row.stride, row.padding, groups=row.towers))
            self._add(f"relu{i}", nn.ReLU(inplace=True))
            chs, reduction = row.kernels, reduction * row.stride
            side = (side + 2 * row.padding - row.size) // row.stride + 1
            for op in row.then:
                if op == "LRN":
                    lrn = spec.lrn
                    self._add(f"norm{i}", LRN(n=lrn.n, alpha=lrn.alpha, beta=lrn.beta, k=lrn.k))
                elif op == "maxpool":
                    pool = spec.pool
                    self._add(f"pool{i}", nn.MaxPool2d(pool.size, pool.stride, ceil_mode=pool.ceil_mode))
                    reduction *= pool.stride
                    rounding = math.ceil if pool.ceil_mode else math.floor
                    side = rounding((side - pool.size) / pool.stride) + 1
                else:
                    raise ConfigError(f"unknown operation {op!r} in {row.name}; use 'LRN' or 'maxpool'")
            self.feature_info.append(FeatureInfo(self._features[-1], chs, reduction))
        self.avgpool = nn.AdaptiveAvgPool2d(spec.avgpool) if spec.avgpool else None
        side = spec.avgpool or side  # 6 in every spec
        features = chs * side * side
        self._head: list[str] = []
        for name, units in spec.hidden:
            n = name.removeprefix("fc")
            if spec.dropout_before_fc:
                self._add(f"drop{n}", nn.Dropout(drop_prob), head=True)
            self._add(name, nn.Linear(features, units), head=True)
            self._add(f"relu{n}", nn.ReLU(inplace=True), head=True)
            if not spec.dropout_before_fc:
                # Sec. 4.2: dropout "in the first two fully-connected layers", on their outputs.
                self._add(f"drop{n}", nn.Dropout(drop_prob), head=True)
            features = units
        self.add_module(spec.output, nn.Linear(features, num_classes))
        self._init_weights()

    def _add(self, name: str, module: nn.Module, head: bool = False) -> None:
        self.add_module(name, module)
        (self._head if head else self._features).append(name)

    def _init_weights(self) -> None:
        init = self.spec.init
        if init is None:
            return  # PyTorch's default, as torchvision
        for name, module in self.named_children():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self._init_layer(name, module)

    def _init_layer(self, name: str, module: nn.Module) -> None:
        init = self.spec.init
        if init is None:
            return
        nn.init.normal_(module.weight, 0.0, init.std)
        nn.init.constant_(module.bias, 1.0 if name in init.unit_bias else 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # alexnet (227):   N x 96 x 55 x 55 (conv1) -> 96 x 27 x 27 (pool1) -> 256 x 27 x 27
        #   (conv2) -> 256 x 13 x 13 (pool2) -> 384 x 13 x 13 (conv3, conv4) -> 256 x 13 x 13
        #   (conv5) -> N x 256 x 6 x 6 (pool5)
        # alexnet_owt (224): 64 x 55 x 55 -> 64 x 27 x 27 -> 192 x 27 x 27 -> 192 x 13 x 13
        #   -> 384 x 13 x 13 -> 256 x 13 x 13 -> 256 x 13 x 13 -> N x 256 x 6 x 6
        # zfnet (224):     96 x 110 x 110 -> 96 x 55 x 55 -> 256 x 26 x 26 -> 256 x 13 x 13
        #   -> 384 x 13 x 13 -> 384 x 13 x 13 -> 256 x 13 x 13 -> N x 256 x 6 x 6
        for name in self._features:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.avgpool is not None:
            x = self.avgpool(x)  # N x 256 x 6 x 6
        x = torch.flatten(x, 1)  # N x 9216
        for name in self._head:
            x = getattr(self, name)(x)  # N x 4096 after fc6 and after fc7
        return x if pre_logits else self.get_classifier()(x)

    def init_classifier(self, layer: nn.Module) -> None:
        self._init_layer(self.spec.output, layer)  # the spec's initialisation (None: PyTorch's)


def remap_torchvision_alexnet(state, model):
    """torchvision's ``features.N`` / ``classifier.N`` keys to the paper's layer names."""
    return rename_keys(
        state,
        [
            (r"^features\.0\.", "conv1."),
            (r"^features\.3\.", "conv2."),
            (r"^features\.6\.", "conv3."),
            (r"^features\.8\.", "conv4."),
            (r"^features\.10\.", "conv5."),
            (r"^classifier\.1\.", "fc6."),
            (r"^classifier\.4\.", "fc7."),
            (r"^classifier\.6\.", "fc8."),
        ],
    )


_SIZES = "227 -> 55 (conv1) -> 27 (pool1) -> 13 (pool2) -> 6 (pool5)"
_INPUT_227 = (
    "input 3x227x227 instead of the 224x224 the paper states (Sec. 3.5): with conv1 11x11 "
    "stride 4 unpadded only 227 gives Fig. 2's 55x55 maps"
)
# Sec. 2: "We did not pre-process the images in any other way, except for subtracting the
# mean activity over the training set from each pixel."
_MEAN_STD = (
    "inputs normalised with the ImageNet mean and std (torchvision's preprocessing); the paper "
    "only subtracts the mean activity over the training set from each pixel (Sec. 2)"
)
_PADDING = (
    "padding not given in the paper: conv1 0, conv2 2, conv3-conv5 1 (the Caffe reference model's), "
    "chosen to give Fig. 2's 55-27-13-13-13 maps"
)
_SINGLE_TOWER = (
    "single tower: conv2, conv4 and conv5 see all maps of the layer before, not only "
    "those on their own GPU (the paper's two-tower net is alexnet_2012): 62,378,344 "
    "parameters instead of 60,965,224"
)
_ONE_TOWER_NOTES = (
    f"Map sizes {_SIZES}. LRN k=2, n=5, alpha=1e-4 on the sum of squares, beta=0.75, after the "
    "ReLU of conv1 and conv2 (Sec. 3.3); overlapping max pooling 3x3 stride 2 (Sec. 3.4); "
    "dropout 0.5 on the outputs of fc6 and fc7 (Sec. 4.2); initial weights N(0, 0.01^2), "
    "biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere (Sec. 5). The fully "
    "connected head fixes the input at 227x227. The paper's '60 million' parameters (Sec. 3) "
    "are the two-tower net's, rounded (alexnet_2012: 60,965,224); one tower has 62,378,344."
)
_TWO_TOWERS_NOTES = (
    f"The two GPUs' towers as grouped convolutions (groups=2) in conv2, conv4 and conv5, "
    "on one device; conv3 and the fully connected layers see both towers (Sec. 3.2, 3.5). "
    f"Map sizes {_SIZES}. LRN, pooling, dropout and initialisation as alexnet. The paper's "
    "'60 million' parameters (Sec. 3) is a round figure for this net's 60,965,224."
)
_OWT_DEVIATIONS = (
    "conv4 has 256 kernels, not the 384 of the paper's footnote (torchvision's layout, "
    "from cuda-convnet2's one-GPU configuration; its weights need it)",
    "dropout before fc6 and fc7 rather than on their outputs (torchvision's order)",
    "adaptive average pooling to 6x6 before fc6 (torchvision), so inputs from 63x63 up run",
    "PyTorch's default initialisation (torchvision's), not N(0, 0.01^2)",
    "inputs normalised with the ImageNet mean and std (torchvision's preprocessing, which "
    "its weights need); Krizhevsky et al. only subtract the mean activity over the "
    "training set from each pixel (2012, Sec. 2)",
)
_OWT_NOTES = "No response normalisation. Takes torchvision's ImageNet weights (weights='torchvision')."
_OWT_TV = TorchvisionWeights(
    builder="alexnet", weights="AlexNet_Weights.IMAGENET1K_V1", remap=remap_torchvision_alexnet
)


# Multiply-accumulates by hand from Fig. 2's map sizes (out H*W * kernels * fan-in per tower):
# conv1 55*55*96*(3*121) = 105,415,200; conv2 27*27*256*(96*25) = 447,897,600;
# conv3 13*13*384*(256*9) = 149,520,384; conv4 13*13*384*(384*9) = 224,280,576;
# conv5 13*13*256*(384*9) = 149,520,384; fc6 9216*4096 = 37,748,736; fc7 4096*4096 =
# 16,777,216; fc8 4096*1000 = 4,096,000. Two towers halve the fan-in of conv2, conv4, conv5.
_MACS_ONE_TOWER = (
    105_415_200 + 447_897_600 + 149_520_384 + 224_280_576 + 149_520_384 + 37_748_736 + 16_777_216 + 4_096_000
)
_MACS_TWO_TOWERS = _MACS_ONE_TOWER - (447_897_600 + 224_280_576 + 149_520_384) // 2
# alexnet_owt by hand at 224: conv1 55*55*64*363 = 70,276,800; conv2 27*27*192*1600 = 223,948,800;
# conv3 13*13*384*1728 = 112,140,288; conv4 13*13*256*3456 = 149,520,384; conv5
# 13*13*256*2304 = 99,680,256; fc 37,748,736 + 16,777,216 + 4,096,000.
_MACS_OWT = 70_276_800 + 223_948_800 + 112_140_288 + 149_520_384 + 99_680_256 + 37_748_736 + 16_777_216 + 4_096_000

# The 2012 paper's nets at 227x227 (Fig. 2's map sizes need it).
ALEXNET_FAMILY = Family(
    "alexnet",
    KRIZHEVSKY_2012,
    input_size=(3, 227, 227),
    num_classes=1000,
    # Deviation (declared): torchvision's mean/std normalisation; the paper subtracts the
    # mean activity only (Sec. 2).
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=(_INPUT_227,),
    test_input_size=(3, 227, 227),
)
# torchvision's net after Krizhevsky 2014, at 224x224; its mean/std normalisation (declared) is
# what its weights need.
ALEXNET_OWT_FAMILY = dataclasses.replace(
    ALEXNET_FAMILY, paper=KRIZHEVSKY_2014, input_size=(3, 224, 224), deviations=(), test_input_size=(3, 224, 224)
)

# Each variant: its card (name, table, parameters, multiply-adds), AlexNet, its Spec.
# alexnet: conv1..conv5 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992; fc6 37,752,832,
# fc7 16,781,312, fc8 4,097,000.
alexnet = register_variant(
    ALEXNET_FAMILY.card(
        "alexnet",
        "Sec. 3.5 and Fig. 2, on one GPU (single tower)",
        62_378_344,
        _MACS_ONE_TOWER,
        paper_params="60 million (Sec. 3, for the two-tower net)",
        deviations=(_SINGLE_TOWER, _PADDING, _MEAN_STD),
        notes=_ONE_TOWER_NOTES,
    ),
    AlexNet,
    spec=ALEXNET_ONE_TOWER,
)
# The single tower's 62,378,344 less half of conv2's, conv4's and conv5's weights:
# 307,200 + 663,552 + 442,368.
alexnet_2012 = register_variant(
    ALEXNET_FAMILY.card(
        "alexnet_2012",
        "Sec. 3.5 and Fig. 2 (two towers)",
        60_965_224,
        _MACS_TWO_TOWERS,
        paper_params="60 million (Sec. 3)",
        deviations=(_PADDING, _MEAN_STD),
        notes=_TWO_TOWERS_NOTES,
    ),
    AlexNet,
    spec=ALEXNET_2012,
)
# conv 23,296 + 307,392 + 663,936 + 884,992 + 590,080; fc 37,752,832 + 16,781,312 + 4,097,000.
alexnet_owt = register_variant(
    ALEXNET_OWT_FAMILY.card(
        "alexnet_owt",
        "torchvision.models.alexnet (after the one-tower net of the footnote on p. 5)",
        61_100_840,
        _MACS_OWT,
        paper_macs="0.71 GFLOPS (torchvision's documentation; the paper prints none)",
        deviations=_OWT_DEVIATIONS,
        notes=_OWT_NOTES,
        torchvision=_OWT_TV,
    ),
    AlexNet,
    spec=ALEXNET_OWT,
)
