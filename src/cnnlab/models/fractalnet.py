"""FractalNet: Larsson, Maire & Shakhnarovich (2017), "FractalNet: Ultra-deep neural networks
without residuals", ICLR 2017, arXiv:1605.07648.

A fractal block with C columns follows the expansion rule of Sec. 2 (Fig. 1)::

    f_1(z) = conv(z)
    f_{C+1}(z) = join(f_C o f_C (z), conv(z))

Unrolled, column c (1 = shallowest) is a chain of 2^(c-1) convolutions, 2^C - 1 in all, and
a join (element-wise mean) merges every column whose convolution ends at the same depth:
for C = 3 the deepest column's second and fourth convolutions end in joins of 2 and 3
inputs. The first convolution of every column reads the block input. B blocks, each
followed by 2x2 max pooling, give a deepest path of B * 2^(C-1) convolutions.

Drop-path (Sec. 3.1) regularises the joins in training. Local: a join drops each input with
a fixed probability, keeping at least one. Global: a single column is chosen for the whole
network, which is then that plain column. Each mini-batch is local or global, 50/50 in the
paper's experiments. In eval every join averages all its inputs.

Module names: ``block1`` .. ``blockB``; in a block ``col1`` .. ``colC`` (nn.Sequential of
``conv1``, ``conv2`` ..., each conv, [drop], bn, act) and ``joinS`` (the join after depth S
of the deepest column); ``pool1`` .. ``poolB``; ``fc``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import CIFAR10_MEAN, CIFAR10_STD, Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

LARSSON_2017 = Paper(
    authors="Larsson, Maire & Shakhnarovich",
    title="FractalNet: Ultra-deep neural networks without residuals",
    year=2017,
    venue="ICLR 2017",
    arxiv="1605.07648",
)


class FractalSpec(NamedTuple):
    """A fractal network: ``columns`` (C) per block, one block per entry of ``widths``."""

    columns: int
    widths: tuple[int, ...]  # filters of every convolution in block b


# Sec. 4, the CIFAR/SVHN network: B = 5 blocks of C = 3 columns (20 layers along the deepest
# column), 3x3 convolutions with 64, 128, 256, 512, 512 filters in the five blocks, 2x2 max
# pooling after each block (32 -> 1 pixels), then the prediction layer.
# Deviation (declared): these give 33,724,618 parameters, not Table 1's 38.6M.
FRACTALNET_20 = FractalSpec(columns=3, widths=(64, 128, 256, 512, 512))

# Sec. 4: "For experiments using dropout, we fix drop rate per block at (0%, 10%, 20%, 30%,
# 40%)"; pass drop_prob=PAPER_DROPOUT for the paper's drop-path + dropout setting.
PAPER_DROPOUT = (0.0, 0.1, 0.2, 0.3, 0.4)
# Sec. 4: "Local drop-path uses 15% drop rate across the entire network"; Sec. 3.1 mixes
# local and global sampling 50/50 per mini-batch.
LOCAL_DROP_PATH = 0.15
GLOBAL_DROP_RATIO = 0.5


def _xavier_caffe(layer: nn.Conv2d | nn.Linear) -> None:
    # The authors' Caffe generator (gustavla/fractalnet, generation/globals.crox) fills weights
    # with "xavier" (Caffe's: uniform in +-sqrt(3 / fan_in)) and biases with 0.
    fan_in = layer.weight[0].numel()
    bound = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class FractalConv(nn.Sequential):
    """One convolution of a column: 3x3 conv, [dropout], BatchNorm, ReLU.

    Dropout sits between the conv and BatchNorm, as in the authors' Caffe generator
    (Convolution, Dropout, BatchNorm, ReLU); it is left out where the block's rate is 0.
    """

    def __init__(self, in_chs: int, out_chs: int, drop_prob: float = 0.0) -> None:
        super().__init__()
        # Deviation (declared): no conv bias and BatchNorm with a learned scale and shift; the
        # authors' Caffe generator gives the conv a bias and uses Caffe's BatchNorm without a
        # Scale layer (no learned scale or shift).
        self.conv = nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False)
        if drop_prob > 0:
            self.drop = nn.Dropout(drop_prob)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = nn.ReLU(inplace=True)
        _xavier_caffe(self.conv)


class Join(nn.Module):
    """Element-wise mean of its inputs (Sec. 2), with local drop-path in training (Sec. 3.1).

    Local drop-path drops each input with probability ``drop_path_local``, drawn once per
    mini-batch; if all would be dropped, one input chosen uniformly is kept (as the authors'
    Caffe ``FractalJoin`` layer does). The mean is over the inputs kept. In eval, or on the
    meta device (shape traces), every input is kept and nothing random is drawn.
    """

    def __init__(self, num_inputs: int, drop_path_local: float = 0.0) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.drop_path_local = float(drop_path_local)

    def sample_kept(self) -> list[int]:
        """Indices of the inputs one training mini-batch keeps: never empty."""
        # The decision is Python control flow: drawn on the CPU from torch's default
        # generator, so torch.manual_seed makes it reproducible on any device.
        drawn = torch.rand(self.num_inputs, device="cpu")
        kept = [i for i in range(self.num_inputs) if drawn[i].item() >= self.drop_path_local]
        if not kept:
            kept = [int(torch.randint(self.num_inputs, (1,), device="cpu").item())]
        return kept

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.num_inputs:
            raise ValueError(f"join expects {self.num_inputs} inputs, got {len(inputs)}")
        if self.training and self.drop_path_local > 0 and not inputs[0].is_meta:
            inputs = [inputs[i] for i in self.sample_kept()]
        out = inputs[0]
        for t in inputs[1:]:
            out = out + t
        return out / len(inputs) if len(inputs) > 1 else out

    def extra_repr(self) -> str:
        return f"inputs={self.num_inputs}, drop_path_local={self.drop_path_local:g}"


class FractalBlock(nn.Module):
    """f_C of Sec. 2 unrolled: columns ``col1`` (1 conv) .. ``colC`` (2^(C-1) convs) and a
    ``joinS`` wherever two or more columns end a convolution at depth S."""

    def __init__(self, in_chs: int, width: int, columns: int, drop_prob: float, drop_path_local: float) -> None:
        super().__init__()
        self.columns = columns
        self.depth = 2 ** (columns - 1)  # convolutions along the deepest column
        for c in range(1, columns + 1):
            n = 2 ** (c - 1)
            convs = OrderedDict(
                (f"conv{k}", FractalConv(in_chs if k == 1 else width, width, drop_prob)) for k in range(1, n + 1)
            )
            self.add_module(f"col{c}", nn.Sequential(convs))
        self.join_steps = tuple(s for s in range(1, self.depth + 1) if len(self._ending(s)) > 1)
        for s in self.join_steps:
            self.add_module(f"join{s}", Join(len(self._ending(s)), drop_path_local))

    def _ending(self, step: int) -> list[int]:
        # Column c's convolutions each span depth / 2^(c-1) steps of the deepest column.
        return [c for c in range(1, self.columns + 1) if step % (self.depth // 2 ** (c - 1)) == 0]

    def forward(self, x: torch.Tensor, column: int | None = None) -> torch.Tensor:
        if column is not None:  # global drop-path or single-column evaluation: a plain chain
            return getattr(self, f"col{column}")(x)
        signal = {c: x for c in range(1, self.columns + 1)}  # what each column reads next
        for step in range(1, self.depth + 1):
            ending = self._ending(step)
            for c in ending:
                span = self.depth // 2 ** (c - 1)
                signal[c] = getattr(self, f"col{c}")[step // span - 1](signal[c])
            if len(ending) > 1:
                joined = getattr(self, f"join{step}")([signal[c] for c in ending])
                for c in ending:
                    signal[c] = joined
        return signal[1]  # after the last join every column holds the block's output


def _per_block(drop_prob: float | Sequence[float], blocks: int) -> tuple[float, ...]:
    one_rate = isinstance(drop_prob, (int, float)) and not isinstance(drop_prob, bool)
    rates = (drop_prob,) * blocks if one_rate else drop_prob
    ok = (
        isinstance(rates, (tuple, list))
        and len(rates) == blocks
        and all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0 <= r < 1 for r in rates)
    )
    if not ok:
        raise ConfigError(
            f"drop_prob must be a dropout rate in [0, 1) or {blocks} of them, one per block, got "
            f"{drop_prob!r}; the paper uses {PAPER_DROPOUT} (cnnlab.models.fractalnet.PAPER_DROPOUT)"
        )
    return tuple(float(r) for r in rates)


class FractalNet(ClassifierNet):
    """A fractal network from a :class:`FractalSpec`: blocks, each followed by 2x2 max
    pooling, and a linear prediction layer ``fc`` on the 1x1 map at the end.

    Training draws drop-path per mini-batch: with probability ``global_drop_ratio`` one
    column (uniform) for the whole network, else local drop-path in every join. ``column``
    (or :meth:`select_column`) fixes the network to one column in train and eval: the
    paper's "deepest column alone" is ``column=C``.
    """

    default_input_size = (3, 32, 32)

    def __init__(
        self,
        spec: FractalSpec,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_path_local: float = LOCAL_DROP_PATH,
        global_drop_ratio: float = GLOBAL_DROP_RATIO,
        drop_prob: float | Sequence[float] = 0.0,
        column: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(spec.columns, bool) or not isinstance(spec.columns, int) or spec.columns < 1 or not spec.widths:
            raise ConfigError(f"a fractal network needs columns >= 1 and at least one block, got {spec!r}")
        # drop_path_local < 1 (a join always keeps an input anyway); global_drop_ratio may be 1.
        checks = (
            ("drop_path_local", drop_path_local, "[0, 1)", False, LOCAL_DROP_PATH),
            ("global_drop_ratio", global_drop_ratio, "[0, 1]", True, GLOBAL_DROP_RATIO),
        )
        for name, value, interval, one_ok, paper in checks:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not (0 <= value < 1 or (one_ok and value == 1)):
                raise ConfigError(f"{name} must be a probability in {interval}, got {value!r}; the paper uses {paper}")
        rates = _per_block(drop_prob, len(spec.widths))
        self.num_classes, self.in_chans = num_classes, in_chans
        self.num_columns = spec.columns
        self.drop_path_local = float(drop_path_local)
        self.global_drop_ratio = float(global_drop_ratio)
        self.column: int | None = None
        self.select_column(column)

        self.feature_info = []
        chs, reduction = in_chans, 1
        for b, (width, rate) in enumerate(zip(spec.widths, rates), 1):
            self.add_module(f"block{b}", FractalBlock(chs, width, spec.columns, rate, drop_path_local))
            self.feature_info.append(FeatureInfo(f"block{b}", width, reduction))
            # 2x2 non-overlapping max pooling after the block (Sec. 4). Deviation (declared):
            # after the block's last join, as Fig. 1 draws it; the authors' Caffe generator
            # pools every column and then joins.
            self.add_module(f"pool{b}", nn.MaxPool2d(2))
            chs, reduction = width, reduction * 2
        self.num_blocks = len(spec.widths)
        # Sec. 4: after the last pooling the map is 1x1 at 32x32; the prediction layer reads
        # it flattened.
        self.fc = nn.Linear(chs, num_classes)
        self.init_classifier(self.fc)

    def select_column(self, column: int | None) -> FractalNet:
        """Run only column ``column`` (1 = shallowest, C = deepest) in every block, in train
        and eval, without drop-path; ``None`` restores the full network."""
        valid = isinstance(column, int) and not isinstance(column, bool) and 1 <= column <= self.num_columns
        if column is not None and not valid:
            raise ConfigError(
                f"column must be None (all columns) or 1..{self.num_columns}, got {column!r}; "
                f"column={self.num_columns} is the paper's deepest column alone"
            )
        self.column = column
        return self

    def sample_global_column(self) -> int | None:
        """One training mini-batch's draw: a column for global drop-path (probability
        ``global_drop_ratio``, column uniform), or None for local drop-path."""
        if self.global_drop_ratio > 0 and torch.rand(1, device="cpu").item() < self.global_drop_ratio:
            return int(torch.randint(self.num_columns, (1,), device="cpu").item()) + 1
        return None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        column = self.column
        if column is None and self.training and not x.is_meta:
            column = self.sample_global_column()
        # At 32x32: blocks 1-5 N x 64 x 32 x 32, N x 128 x 16 x 16, N x 256 x 8 x 8,
        # N x 512 x 4 x 4, N x 512 x 2 x 2, each pooled to half.
        for b in range(1, self.num_blocks + 1):
            x = getattr(self, f"pool{b}")(getattr(self, f"block{b}")(x, column))
        return x  # N x 512 x 1 x 1

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(x, 1)  # N x 512
        return x if pre_logits else self.fc(x)

    def init_classifier(self, layer: nn.Module) -> None:
        _xavier_caffe(layer)


_PARAMS_DEVIATION = (
    "33,724,618 parameters, not the 38.6M Table 1 prints for the 20-layer net: the count follows "
    "from the stated widths (64, 128, 256, 512, 512), C=3, B=5 and a 10-way fc; no reading we "
    "tried reproduces 38.6M (giving every conv of a block the block's width on its input, as if "
    "each block were first widened, gives 38,474,890)"
)


FRACTALNET = Family(
    "fractalnet",
    LARSSON_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    # Deviation (declared): CIFAR-10 per-channel mean/std normalisation.
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    deviations=(
        _PARAMS_DEVIATION,
        "3x3 convs without bias, BatchNorm with a learned scale and shift; the authors' Caffe "
        "generator gives each conv a bias and uses BatchNorm without a Scale layer "
        "(33,714,314 parameters that way)",
        "2x2 max pooling after each block's last join (Fig. 1's layout); the authors' Caffe "
        "generator pools every column and then joins",
        "inputs normalised with the CIFAR-10 per-channel mean and std (cnnlab's default); "
        "the paper's own preprocessing is not reproduced",
    ),
    notes=(
        "Training: per mini-batch, global drop-path (one column, uniform, for the whole network) "
        "with probability global_drop_ratio=0.5, else local drop-path (each join input dropped "
        "with probability drop_path_local=0.15, at least one kept). Eval averages all columns. "
        "column=3 (or model.select_column(3)) is the deepest column alone, a plain 20-layer "
        "network; drop_prob=PAPER_DROPOUT gives Sec. 4's per-block dropout 0-40%; "
        "drop_path_local=0, global_drop_ratio=0 turns drop-path off. Xavier (Caffe's) "
        "initialisation and dropout between conv and BatchNorm, as the authors' Caffe generator."
    ),
    test_input_size=(3, 32, 32),
)


def fractalnet(
    spec: FractalSpec,
    num_classes: int = 10,
    in_chans: int = 3,
    drop_path_local: float = LOCAL_DROP_PATH,
    global_drop_ratio: float = GLOBAL_DROP_RATIO,
    drop_prob: float | tuple[float, ...] = 0.0,
    column: int | None = None,
) -> FractalNet:
    """A fractal network of ``spec`` (:data:`FRACTALNET_20`: Sec. 4's CIFAR network);
    ``drop_prob`` is one dropout rate or one per block (:data:`PAPER_DROPOUT`)."""
    return FractalNet(spec, num_classes, in_chans, drop_path_local, global_drop_ratio, drop_prob, column)


# By hand, weights per position x positions, all columns (eval): block1 (3*3*64*9 +
# 4*64*64*9) * 32*32; block2 (3*64*128*9 + 4*128*128*9) * 16*16; block3 (3*128*256*9 +
# 4*256*256*9) * 8*8; block4 (3*256*512*9 + 4*512*512*9) * 4*4; block5 7*512*512*9
# * 2*2; fc 512*10.
MACS_20 = 152_640 * 1024 + 811_008 * 256 + 3_244_032 * 64 + 12_976_128 * 16 + 16_515_072 * 4 + 5_120
_TABLE_20 = "Sec. 4 (CIFAR: B=5, C=3, 20 layers, widths 64-128-256-512-512), Fig. 1"

# Params: 35 convs 3x3 without bias (7 per block, the first of each column reading the
# previous block's width) with BatchNorm scale and shift, and the fc 512 x 10 + 10.
fractalnet20 = register_variant(
    FRACTALNET.card(
        "fractalnet20", _TABLE_20, 33_724_618, MACS_20, paper_params="38.6M (Table 1, FractalNet 20 layers)"
    ),
    fractalnet,
    spec=FRACTALNET_20,
)
