"""GoogLeNet: Szegedy et al. (2014), "Going deeper with convolutions", built from Table 1.

Two registered builds of one table:

- ``googlenet``: Table 1 as printed, with Fig. 3's stem (LRN after the first max pool and
  after conv2) and Sec. 5's two auxiliary classifiers: convolutions with biases and ReLU,
  true 5x5 convolutions, 40% dropout, average pool 7x7/1.
- ``googlenet_tv``: torchvision's ``GoogLeNet`` (BatchNorm after every convolution, 3x3
  kernels in the "5x5" branch, no LRN ...), the structure its ImageNet weights fit.

Module names: ``conv1``, ``maxpool1`` .. ``maxpool4``, ``inception3a`` .. ``inception5b``,
``avgpool``, ``dropout``, ``fc``, ``aux1``/``aux2``; inside a module ``branch1`` (#1x1),
``branch2`` (#3x3 reduce, #3x3), ``branch3`` (#5x5 reduce, #5x5), ``branch4`` (pool, pool
proj), as torchvision names them. The stem follows each build's own layers: the paper's
``conv2`` row (depth 2) is ``conv2_reduce`` + ``conv2`` with ``lrn1``/``lrn2``; torchvision
calls the same two convolutions ``conv2`` and ``conv3``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import ConvNormAct, resized_like
from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, TorchvisionWeights, register_variant
from .base import ClassifierNet, FeatureInfo

SZEGEDY_2014 = Paper(
    authors="Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke & Rabinovich",
    title="Going deeper with convolutions",
    year=2014,
    venue="CVPR 2015",
    arxiv="1409.4842",
)


class Conv(NamedTuple):
    """A "convolution" row: patch size/stride and output size (H, W, C) as printed. The
    depth-2 row (conv2) also fills "#3x3 reduce": a 1x1 convolution before the 3x3."""

    name: str
    patch: int
    stride: int
    output: tuple[int, int, int]
    reduce: int | None = None
    params: str = ""  # Table 1's "params" column, as printed
    ops: str = ""  # Table 1's "ops" column (multiply-adds), as printed


class Pool(NamedTuple):
    """A "max pool" or "avg pool" row."""

    name: str
    kind: str  # "max" | "avg"
    patch: int
    stride: int
    output: tuple[int, int, int]


class Inception(NamedTuple):
    """An "inception" row: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int
    output: tuple[int, int, int] = (0, 0, 0)
    params: str = ""
    ops: str = ""


class Dropout(NamedTuple):
    name: str
    drop_prob: float
    output: tuple[int, int, int]


class Linear(NamedTuple):
    name: str
    output: tuple[int, int, int]
    params: str = ""
    ops: str = ""


class Softmax(NamedTuple):
    name: str
    output: tuple[int, int, int]


# Szegedy et al. 2014, Table 1 ("GoogLeNet incarnation of the Inception architecture"), every
# row top to bottom. Input channels are derived from the row above. The "params" column is
# in units of 1024 (conv2: 114,688 weights = 112K; linear: 1,024,000 = 1000K) and does not
# follow from the filter counts in every row: see PRINTED_PARAMS_OFF below.
TABLE1 = (
    Conv("conv1", 7, 2, (112, 112, 64), params="2.7K", ops="34M"),
    Pool("maxpool1", "max", 3, 2, (56, 56, 64)),
    Conv("conv2", 3, 1, (56, 56, 192), reduce=64, params="112K", ops="360M"),
    Pool("maxpool2", "max", 3, 2, (28, 28, 192)),
    Inception("3a", 64, 96, 128, 16, 32, 32, (28, 28, 256), "159K", "128M"),
    Inception("3b", 128, 128, 192, 32, 96, 64, (28, 28, 480), "380K", "304M"),
    Pool("maxpool3", "max", 3, 2, (14, 14, 480)),
    Inception("4a", 192, 96, 208, 16, 48, 64, (14, 14, 512), "364K", "73M"),
    Inception("4b", 160, 112, 224, 24, 64, 64, (14, 14, 512), "437K", "88M"),
    Inception("4c", 128, 128, 256, 24, 64, 64, (14, 14, 512), "463K", "100M"),
    Inception("4d", 112, 144, 288, 32, 64, 64, (14, 14, 528), "580K", "119M"),
    Inception("4e", 256, 160, 320, 32, 128, 128, (14, 14, 832), "840K", "170M"),
    Pool("maxpool4", "max", 3, 2, (7, 7, 832)),
    Inception("5a", 256, 160, 320, 32, 128, 128, (7, 7, 832), "1072K", "54M"),
    Inception("5b", 384, 192, 384, 48, 128, 128, (7, 7, 1024), "1388K", "71M"),
    Pool("avgpool", "avg", 7, 1, (1, 1, 1024)),
    Dropout("dropout", 0.4, (1, 1, 1024)),
    Linear("fc", (1, 1, 1000), "1000K", "1M"),
    Softmax("softmax", (1, 1, 1000)),
)

# Rows whose printed params differ from their filter counts by more than the rounding
# (weights / 1024, biases excluded): name -> (printed K, K from the filter counts).
# conv1's printed ops (34M = 2.7K x 112 x 112) follow its printed params, not its filters
# (7x7x3x64 x 112x112 = 118M); 5a's ops are printed 54M for 51.1M. Every other ops entry
# matches the filter counts.
PRINTED_PARAMS_OFF = {
    "conv1": (2.7, 9.1875),
    "inception4a": (364, 366.75),
    "inception4c": (463, 497.5),
    "inception4d": (580, 590.5),
    "inception4e": (840, 847.0),
    "inception5a": (1072, 1018.0),
    "inception5b": (1388, 1409.0),
}

# Table 1's dropout row: the rate the head uses unless a build says otherwise.
TABLE1_DROPOUT = next(row for row in TABLE1 if isinstance(row, Dropout))

# Fig. 3 draws LocalRespNorm after the first max pool and after conv2's 3x3 convolution.
LRN_AFTER = ("maxpool1", "conv2")
# Deviation (declared on the googlenet card): the paper gives no LRN hyper-parameters; these
# are the BVLC Caffe reproduction's (bvlc_googlenet: local_size 5, alpha 1e-4, beta 0.75, k 1),
# in Caffe's convention, where alpha is divided by local_size (see GoogLeNet.__init__).
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 1.0

# Sec. 5, the auxiliary classifiers: on top of (4a) and (4d); average pool 5x5/3 (4x4
# output on the 14x14 maps), 1x1 convolution with 128 filters + ReLU, fully connected 1024 +
# ReLU, dropout 70%, linear classifier; their losses are added with weight 0.3.
AUX_AFTER = (("aux1", "inception4a"), ("aux2", "inception4d"))
AUX_POOL_PATCH, AUX_POOL_STRIDE, AUX_GRID = 5, 3, 4
AUX_CONV, AUX_FC, AUX_DROP_PROB = 128, 1024, 0.7
AUX_WEIGHT = 0.3

# torchvision.models.googlenet realises Table 1 with these rows changed (declared on the
# googlenet_tv card): conv2's "#3x3 reduce" is a module of its own named conv2 and the 3x3
# is conv3; maxpool4 is 2x2/2 (the same 7x7 output at 224); dropout 20% instead of 40%.
TORCHVISION_ROWS: Mapping[str, tuple[Any, ...]] = {
    "conv2": (Conv("conv2", 1, 1, (56, 56, 64)), Conv("conv3", 3, 1, (56, 56, 192))),
    "maxpool4": (Pool("maxpool4", "max", 2, 2, (7, 7, 832)),),
    "dropout": (Dropout("dropout", 0.2, (1, 1, 1024)),),
}
TORCHVISION_LAYOUT = tuple(new for row in TABLE1 for new in TORCHVISION_ROWS.get(row.name, (row,)))
TORCHVISION_DROPOUT = next(row for row in TORCHVISION_LAYOUT if isinstance(row, Dropout))
# torchvision's GoogLeNet(init_weights=True): conv and linear weights from N(0, 0.01^2)
# truncated to [-2, 2] (absolute bounds, so in effect untruncated), BatchNorm at identity.
TORCHVISION_INIT_STD = 0.01

ConvFactory = Callable[..., nn.Module]


def module_name(row: Any) -> str:
    """The cnnlab module that realises a table row ("3a" -> "inception3a")."""
    return f"inception{row.name}" if isinstance(row, Inception) else row.name


class InceptionModule(nn.Module):
    """Fig. 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated."""

    def __init__(self, in_chs: int, row: Inception, conv: ConvFactory, kernel_5x5: int = 5) -> None:
        super().__init__()
        self.branch1 = conv(in_chs, row.n1x1, 1)
        self.branch2 = nn.Sequential(conv(in_chs, row.n3x3_reduce, 1), conv(row.n3x3_reduce, row.n3x3, 3, padding=1))
        self.branch3 = nn.Sequential(
            conv(in_chs, row.n5x5_reduce, 1),
            conv(row.n5x5_reduce, row.n5x5, kernel_5x5, padding=kernel_5x5 // 2),
        )
        # Deviation (declared): Fig. 2 gives no padding; 1 keeps the size for the concatenation.
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv(in_chs, row.pool_proj, 1)
        )
        self.out_chs = row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class AuxClassifier(nn.Module):
    """Sec. 5's auxiliary classifier on a 14x14 map (4a: 512, 4d: 528 channels)."""

    def __init__(self, in_chs: int, num_classes: int, conv: ConvFactory, adaptive_pool: bool, drop_prob: float) -> None:
        super().__init__()
        if adaptive_pool:  # torchvision: adaptive average pool to 4x4, any input size
            self.pool: nn.Module = nn.AdaptiveAvgPool2d(AUX_GRID)
        else:
            self.pool = nn.AvgPool2d(AUX_POOL_PATCH, stride=AUX_POOL_STRIDE)
        self.conv = conv(in_chs, AUX_CONV, 1)
        self.fc1 = nn.Linear(AUX_CONV * AUX_GRID * AUX_GRID, AUX_FC)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(drop_prob)
        self.fc2 = nn.Linear(AUX_FC, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # N x 128 x 4 x 4
        x = self.dropout(self.act(self.fc1(torch.flatten(x, 1))))  # N x 1024
        return self.fc2(x)


class GoogLeNet(ClassifierNet):
    """GoogLeNet built by walking a Table 1 layout.

    ``order`` is ``"conv-act"`` for the paper (convolutions with biases, ReLU) or
    ``"conv-bn-act"`` for torchvision's BatchNorm build; ``kernel_5x5`` is the kernel of the
    "#5x5" branch; ``lrn`` adds Fig. 3's LocalRespNorm layers; ``adaptive_pool`` replaces
    the fixed 7x7 and 5x5/3 average pools with adaptive ones (torchvision). ``drop_prob``
    ``None`` takes the rate of the layout's dropout row (Table 1: 40%). ``init_std``
    draws conv and linear weights from N(0, init_std^2) as torchvision does (truncated at
    +-2); ``None`` keeps PyTorch's default initialisation. ``transform_input`` is ``None``
    (off until torchvision's ImageNet weights are loaded, then on), ``True`` or ``False``.

    ``forward`` returns the main logits in train and eval mode; the auxiliary classifiers,
    used only for training, are reached through :meth:`forward_aux`, and their loss weights
    are ``aux_weights`` (0.3 each, Sec. 5).
    """

    default_input_size = (3, 224, 224)

    def __init__(
        self,
        layout: tuple[Any, ...] = TABLE1,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        drop_prob: float | None = None,
        aux_drop_prob: float = AUX_DROP_PROB,
        order: str = "conv-act",
        bn_eps: float = 1e-5,
        kernel_5x5: int = 5,
        lrn: bool = True,
        adaptive_pool: bool = False,
        transform_input: bool | None = False,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        # Types and probability ranges of the registered options are checked by create_model.
        if transform_input and in_chans != 3:
            raise ConfigError(
                f"transform_input=True re-normalises 3 ImageNet channels, got in_chans={in_chans}; "
                "use transform_input=False"
            )
        if drop_prob is None:  # the layout's dropout row (a layout without one never uses it)
            drop_prob = next((row.drop_prob for row in layout if isinstance(row, Dropout)), 0.0)
        self.num_classes, self.in_chans = num_classes, in_chans
        # None: off, switched on when torchvision's ImageNet weights are loaded (on_weights_loaded).
        self.transform_input = transform_input
        self.init_std = init_std
        conv: ConvFactory = partial(ConvNormAct, order=order, bn_eps=bn_eps)
        # Stage outputs for feature_info: conv1, the stem's last convolution, and the last
        # Inception module at each resolution.
        stem_end = [row.name for row in layout if isinstance(row, Conv)][-1]
        stages = ("conv1", stem_end, "inception3b", "inception4e", "inception5b")
        first_inception = next(i for i, row in enumerate(layout) if isinstance(row, Inception))
        self.stem: list[str] = []  # the layers before inception3a, in order (forward walks them)
        self.feature_info = []
        chs, reduction = in_chans, 1
        for i, row in enumerate(layout):
            name = module_name(row)
            add = partial(self._add, in_stem=i < first_inception)
            if isinstance(row, Conv):
                if row.reduce is not None:  # the "#3x3 reduce" 1x1 convolution of a depth-2 row
                    add(f"{name}_reduce", conv(chs, row.reduce, 1))
                    chs = row.reduce
                # Deviation (declared): Table 1 prints no padding; k // 2 gives its 112 and 56.
                add(name, conv(chs, row.output[2], row.patch, row.stride, row.patch // 2))
                chs, reduction = row.output[2], reduction * row.stride
            elif isinstance(row, Pool) and row.kind == "max":
                # Deviation (declared): Table 1 prints no rounding; ceil_mode (Caffe's) gives
                # its 112 -> 56 -> 28 -> 14 -> 7, where floor would give 55 from 112.
                add(name, nn.MaxPool2d(row.patch, row.stride, ceil_mode=True))
                reduction *= row.stride
            elif isinstance(row, Pool):
                # torchvision pools adaptively (any input size); Table 1 is 7x7/1 on 7x7 maps.
                add(name, nn.AdaptiveAvgPool2d(1) if adaptive_pool else nn.AvgPool2d(row.patch, row.stride))
            elif isinstance(row, Inception):
                add(name, InceptionModule(chs, row, conv, kernel_5x5))
                chs = row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj
            elif isinstance(row, Dropout):
                add(name, nn.Dropout(drop_prob))  # the row's rate unless drop_prob says otherwise
            elif isinstance(row, Linear):
                add(name, nn.Linear(chs, num_classes))
            # Softmax: left to the loss; forward returns logits.
            if lrn and name in LRN_AFTER:
                # nn.LocalResponseNorm directly: Caffe's LRN (the source of the constants)
                # divides alpha by local_size, as PyTorch does. cnnlab.layers.LRN takes
                # Krizhevsky et al.'s convention (alpha multiplies the plain sum) instead.
                add(f"lrn{LRN_AFTER.index(name) + 1}", nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K))
            if name in stages:
                self.feature_info.append(FeatureInfo(name, chs, reduction))

        self.aux_logits = aux_logits
        self.aux_weights: tuple[float, ...] = (AUX_WEIGHT,) * len(AUX_AFTER) if aux_logits else ()
        self._aux_after = dict(AUX_AFTER) if aux_logits else {}
        for aux, after in self._aux_after.items():
            in_chs = self.get_submodule(after).out_chs
            self.add_module(aux, AuxClassifier(in_chs, num_classes, conv, adaptive_pool, aux_drop_prob))
        if init_std is not None:
            for m in self.modules():
                self._init_layer(m)

    def _init_layer(self, module: nn.Module) -> None:
        # torchvision's GoogLeNet._initialize_weights, term for term; biases keep PyTorch's
        # default. With init_std None every layer keeps PyTorch's default.
        if self.init_std is None:
            return
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=self.init_std, a=-2, b=2)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def _add(self, name: str, module: nn.Module, in_stem: bool) -> None:
        self.add_module(name, module)
        if in_stem:
            self.stem.append(name)

    # -- torchvision's input transform ------------------------------------------------
    @property
    def transforms_input(self) -> bool:
        """Whether forward re-normalises its input now (``transform_input`` resolved)."""
        return bool(self.transform_input)

    def on_weights_loaded(self, kind: str) -> None:
        # Called by create_model after loading weights. Like torchvision.models.googlenet(
        # weights=...), torchvision's ImageNet weights switch transform_input on unless the
        # caller chose it explicitly (True or False).
        if self.transform_input is None and kind == "torchvision":
            self.transform_input = True

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        # ImageNet-normalised input -> the [-1, 1] range of the Google-trained weights,
        # x * std / 0.5 + (mean - 0.5) / 0.5 per channel (torchvision's arithmetic).
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    # -- the contract -------------------------------------------------------------------
    def _trunk(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if self.transforms_input:
            x = self._transform_input(x)
        for name in self.stem:
            x = getattr(self, name)(x)  # conv1 .. maxpool2: N x 192 x 28 x 28
        aux: list[torch.Tensor] = []
        x = self.inception3a(x)  # N x 256 x 28 x 28
        x = self.inception3b(x)  # N x 480 x 28 x 28
        x = self.maxpool3(x)  # N x 480 x 14 x 14
        x = self.inception4a(x)  # N x 512 x 14 x 14
        if with_aux and "aux1" in self._aux_after:
            aux.append(self.aux1(x))  # N x num_classes
        x = self.inception4b(x)  # N x 512 x 14 x 14
        x = self.inception4c(x)  # N x 512 x 14 x 14
        x = self.inception4d(x)  # N x 528 x 14 x 14
        if with_aux and "aux2" in self._aux_after:
            aux.append(self.aux2(x))  # N x num_classes
        x = self.inception4e(x)  # N x 832 x 14 x 14
        x = self.maxpool4(x)  # N x 832 x 7 x 7
        x = self.inception5a(x)  # N x 832 x 7 x 7
        x = self.inception5b(x)  # N x 1024 x 7 x 7
        return x, tuple(aux)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._trunk(x, with_aux=False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # N x 1024
        return x if pre_logits else self.fc(x)

    def forward_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Main logits and the auxiliary classifiers' logits ``(aux1, aux2)``, for training
        with ``loss = ce(logits) + sum(w * ce(a) for w, a in zip(model.aux_weights, aux))``.
        A model built with ``aux_logits=False`` returns an empty tuple."""
        features, aux = self._trunk(x, with_aux=True)
        return self.forward_head(features), aux

    def init_classifier(self, layer: nn.Module) -> None:
        self._init_layer(layer)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)  # fc
        for aux in self._aux_after:
            head = self.get_submodule(aux)
            head.fc2 = resized_like(head.fc2, num_classes)
            self._init_layer(head.fc2)


def _googlenet_tv_remap(state: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """torchvision's keys are cnnlab's; only the auxiliary heads' entries, which torchvision's
    ImageNet checkpoint carries, are dropped for a model built with aux_logits=False."""
    own = model.state_dict()
    return {k: v for k, v in state.items() if k in own or not k.startswith(("aux1.", "aux2."))}


# Deviations of both builds; each is also commented beside the line that makes it.
_PADDING = (
    "padding and rounding are not printed (Table 1, Fig. 2): convolutions pad k // 2, the "
    "Inception modules' 3x3/1 max pool pads 1, and the 3x3/2 max pools round up (ceil_mode, "
    "as Caffe), which reproduces Table 1's 112-56-28-14-7 maps"
)
_MEAN_STD = (
    "inputs normalised with the ImageNet mean and std (torchvision's preprocessing); the paper "
    "takes 'RGB color channels with mean subtraction' only (Sec. 5)"
)
_PAPER_DEVIATIONS = (
    _PADDING,
    "LocalRespNorm constants (size 5, alpha 1e-4, beta 0.75, k 1) are the BVLC Caffe "
    "reproduction's; the paper gives none",
    _MEAN_STD,
)

_TV_DEVIATIONS = (
    "BatchNorm (eps 0.001) after every convolution and convolutions without bias, the "
    "structure torchvision's ported ImageNet weights need (the paper has no BatchNorm; its "
    "convolutions have biases)",
    "3x3 convolutions in the '#5x5' branch of every Inception module "
    "(a known torchvision deviation, pytorch/vision#906; the ported weights are 3x3)",
    "no LocalRespNorm layers (Fig. 3 has two in the stem)",
    "maxpool4 is 2x2/2 instead of Table 1's 3x3/2 (the same 7x7 output at 224)",
    "dropout 20% before the final FC instead of Table 1's 40%",
    "final average pool adaptive to 1x1 and the auxiliary heads' pool adaptive to 4x4 "
    "(instead of 7x7/1 and 5x5/3; identical at 224, and smaller inputs work)",
    "BatchNorm after the auxiliary heads' 1x1 convolution, like every other convolution",
    "built without the auxiliary classifiers by default (aux_logits=False), as torchvision "
    "returns its ImageNet model; aux_logits=True adds Sec. 5's two heads",
    "transform_input option (torchvision's): re-normalises ImageNet-normalised input to "
    "the [-1, 1] range the ported weights expect; on with weights='torchvision'",
    _PADDING,
    _MEAN_STD,
)

_NOTES = (
    "Exact counts: 6,998,552 parameters without the auxiliary classifiers "
    "(aux_logits=False), 13,378,280 with them (the default, as the paper trains). "
    "Table 1's params column sums to about 6.8M because it is rounded (units of 1024, "
    "biases excluded) and partly inconsistent with its own filter counts: conv1 "
    "prints 2.7K for 9.2K (7x7x3x64), 4a 364K for 366.75K, 4c 463K for 497.5K, 4d "
    "580K for 590.5K, 4e 840K for 847K, 5a 1072K for 1018K, 5b 1388K for 1409K; "
    "conv2, 3a, 3b, 4b and the linear layer agree within rounding. Its ops column "
    "follows the filter counts except conv1 (34M for 118M) and 5a (54M for 51.1M): "
    "its sum, 1.5G (Sec. 1: '1.5 billion multiply-adds'), falls short of the exact "
    "1,582,671,872 mostly by conv1's 84M. "
    "Initialisation: PyTorch's defaults (the paper gives none). Inputs from 223x223 "
    "to 254x254 all reach the 7x7 map the fixed 7x7 average pool needs; 224x224 is the "
    "designed size. Auxiliary logits come from forward_aux(x); weight their losses by "
    "model.aux_weights (0.3 each)."
)
_TV_NOTES = (
    "For torchvision's ImageNet weights: create_model('googlenet_tv', "
    "weights='torchvision') gives torchvision's googlenet(weights='DEFAULT'): "
    "transform_input switches on by itself (pass transform_input=False to keep it "
    "off), the auxiliary heads' entries of the checkpoint are dropped unless "
    "aux_logits=True (torchvision warns that they are not trained). When loading a "
    "torchvision-format file by path, or a fine-tuned copy of these weights, pass "
    "transform_input=True yourself: the option is not stored in state dicts. "
    "6,624,904 parameters with aux_logits=False, 13,004,888 with aux_logits=True; Table 1's "
    "params column sums to about 6.8M, rounded and partly inconsistent with its own filter "
    "counts (see googlenet), for the paper's 5x5 convolutions. "
    "Initialisation as torchvision's GoogLeNet(init_weights=True): conv and linear "
    "weights N(0, 0.01^2) (truncated at +-2), BatchNorm scale 1 and shift 0, biases "
    "PyTorch's default (the paper gives no initialisation)."
)

GOOGLENET = Family(
    "googlenet",
    SZEGEDY_2014,
    input_size=(3, 224, 224),
    num_classes=1000,
    # Deviation (declared): torchvision's mean/std normalisation; the paper subtracts the
    # mean only (Sec. 5).
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=_PAPER_DEVIATIONS,
    notes=_NOTES,
    test_input_size=(3, 224, 224),  # fixed: the aux heads' FC expects 4x4 maps from 14x14
)
# googlenet_tv's cards: torchvision's build (adaptive pools: a small test input works).
GOOGLENET_TV = dataclasses.replace(
    GOOGLENET,
    deviations=_TV_DEVIATIONS,
    notes=_TV_NOTES,
    test_input_size=(3, 96, 96),
    test_kwargs={"aux_logits": True},
)

# The two builds of Table 1: GoogLeNet's structural arguments for each.
BUILDS: Mapping[str, Mapping[str, Any]] = {
    "paper": {"layout": TABLE1},
    "torchvision": {
        "layout": TORCHVISION_LAYOUT,  # its dropout row is 0.2 (Table 1: 40%)
        "order": "conv-bn-act",  # torchvision's BasicConv2d: conv (no bias), BN, ReLU
        "bn_eps": 1e-3,
        "kernel_5x5": 3,  # torchvision's "5x5" branch is 3x3 (pytorch/vision#906)
        "lrn": False,  # torchvision has no LRN
        "adaptive_pool": True,  # torchvision: AdaptiveAvgPool2d(1), adaptive 4x4 in the aux heads
        "init_std": TORCHVISION_INIT_STD,  # torchvision's truncated normal
    },
}


def build_googlenet(
    build: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    aux_logits: bool = True,
    transform_input: bool | None = None,
    drop_prob: float = TABLE1_DROPOUT.drop_prob,
    aux_drop_prob: float = AUX_DROP_PROB,
) -> GoogLeNet:
    """A GoogLeNet of Table 1: ``build`` is "paper" (Table 1 as printed) or "torchvision" (the
    structure torchvision's ImageNet weights fit). ``transform_input=None``: off, switched on
    by weights="torchvision"."""
    return GoogLeNet(
        **BUILDS[build],
        num_classes=num_classes,
        in_chans=in_chans,
        aux_logits=aux_logits,
        drop_prob=drop_prob,
        aux_drop_prob=aux_drop_prob,
        transform_input=transform_input,
    )


# Table 1's filter counts x output positions, conv + linear weights, no aux heads:
# conv1 112*112*(3*49*64) 118,013,952; conv2 56*56*(64*64 + 64*9*192) 359,661,568;
# 3a 784*163,328; 3b 784*388,096; 4a 196*375,552; 4b 196*448,512; 4c 196*509,440;
# 4d 196*604,672; 4e 196*867,328; 5a 49*1,042,432; 5b 49*1,442,816; fc 1,024,000.
MACS = 1_582_671_872
# googlenet's MACS less the 5x5 -> 3x3 saving, #5x5 reduce x #5x5 x 16 x H x W:
# 3a 784*16*32*16, 3b 784*32*96*16, 4a 196*16*48*16, 4b and 4c 196*24*64*16 each,
# 4d 196*32*64*16, 4e 196*32*128*16, 5a 49*32*128*16, 5b 49*48*128*16 = 84,295,680
# (torchvision's own figure: 1.498 GFLOPS).
MACS_TV = MACS - 84_295_680
# The paper's counts: Table 1's params and ops columns summed.
_T1_PARAMS = "6.8M (sum of Table 1's params column)"
_T1_MACS = "1.5G (sum of Table 1's ops column)"
_T1_MACS_SEC1 = "1.5G (sum of Table 1's ops column; '1.5 billion multiply-adds', Sec. 1)"
_TABLE = "Table 1 (all rows), Fig. 3 (LRN in the stem), Sec. 5 (auxiliary classifiers)"
_TABLE_TV = "Table 1, as torchvision.models.googlenet builds it"
_TV = TorchvisionWeights(
    builder="googlenet",
    weights="GoogLeNet_Weights.IMAGENET1K_V1",
    builder_kwargs={"aux_logits": True, "init_weights": True, "transform_input": False},
    remap=_googlenet_tv_remap,
    model_kwargs={"aux_logits": True, "transform_input": False},
)

# Params: 6,998,552 without the auxiliary classifiers; each head adds 1x1 conv 128 (+bias),
# FC 2048 -> 1024, FC 1024 -> 1000: 3,188,840 (after 4a) + 3,190,888 (after 4d). No input
# transform (the paper's build does not take torchvision's weights).
googlenet = register_variant(
    GOOGLENET.card("googlenet", _TABLE, 13_378_280, MACS, paper_params=_T1_PARAMS, paper_macs=_T1_MACS_SEC1),
    build_googlenet,
    build="paper",
    transform_input=False,
)
# Params: torchvision's GoogLeNet_Weights.IMAGENET1K_V1 num_params; 13,004,888 with aux heads.
# Like torchvision, built without aux heads by default, with its 0.2 dropout (Table 1: 40%).
googlenet_tv = register_variant(
    GOOGLENET_TV.card(
        "googlenet_tv", _TABLE_TV, 6_624_904, MACS_TV, paper_params=_T1_PARAMS, paper_macs=_T1_MACS, torchvision=_TV
    ),
    build_googlenet,
    defaults={"aux_logits": False, "drop_prob": TORCHVISION_DROPOUT.drop_prob},
    build="torchvision",
)
