"""LeNet-5: LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11), Fig. 2 and Sec. II.B.

Module names are the paper's layer names: C1, S2, C3, S4, C5, F6 and the output layer.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..errors import ConfigError
from ..layers import make_act
from ..layers.heads import resized_like
from ..registry import Family, Paper, register_variant
from .base import ClassifierNet, FeatureInfo

LECUN_1998 = Paper(
    authors="LeCun, Bottou, Bengio & Haffner",
    title="Gradient-based learning applied to document recognition",
    year=1998,
    venue="Proc. IEEE 86(11):2278-2324",
)

# Fig. 2 of the paper, as (layer, kind, feature maps, kernel or window).
# Input 32x32: C1 28x28, S2 14x14, C3 10x10, S4 5x5, C5 1x1, F6 84 units.
LENET5_TABLE = (
    ("c1", "conv", 6, 5),
    ("s2", "subsample", 6, 2),
    ("c3", "conv", 16, 5),
    ("s4", "subsample", 16, 2),
    ("c5", "conv", 120, 5),
    ("f6", "full", 84, None),
)

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


class LeNet5(ClassifierNet):
    """The modern LeNet-5 taught in courses: the paper's layer sizes with ReLU, max pooling,
    full C3 connections and a plain linear output layer.

    ``padding=2`` on C1 keeps 28x28 MNIST images at the paper's 32x32 geometry: the model
    is then designed for 28x28 input (``default_input_size``, which error hints and
    ``pretrained_cfg`` use).
    """

    default_input_size = (1, 32, 32)
    classifier_name = "output"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, padding: int = 0, act: str = "relu") -> None:
        super().__init__()
        (_, _, c1, k1), _, (_, _, c3, k3), _, (_, _, c5, k5), (_, _, f6, _) = LENET5_TABLE
        largest = 15  # the designed input, 32 - 2 x padding, keeps at least 2x2 pixels
        if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding <= largest:
            raise ConfigError(
                f"padding must be an integer from 0 to {largest} (the input is then 32 - 2 x padding), "
                f"got {padding!r}; use 2 for 28x28 MNIST digits"
            )
        self.num_classes, self.in_chans = num_classes, in_chans
        # The input that gives C1 its 28x28 maps: 32x32 without padding, 28x28 with padding=2.
        self.default_input_size = (in_chans, 32 - 2 * padding, 32 - 2 * padding)
        self.c1 = nn.Conv2d(in_chans, c1, k1, padding=padding)
        self.act1 = make_act(act)
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(c1, c3, k3)
        self.act3 = make_act(act)
        self.s4 = nn.MaxPool2d(2)
        # C5 is a 5x5 convolution on a 5x5 map: a fully connected layer on the flattened S4.
        self.c5 = nn.Linear(c3 * k5 * k5, c5)
        self.act5 = make_act(act)
        self.f6 = nn.Linear(c5, f6)
        self.act6 = make_act(act)
        self.output = nn.Linear(f6, num_classes)
        self.feature_info = [FeatureInfo("act1", c1, 1), FeatureInfo("s4", c3, 4)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(self.act1(self.c1(x)))  # N x 6 x 14 x 14
        return self.s4(self.act3(self.c3(x)))  # N x 16 x 5 x 5

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.act5(self.c5(torch.flatten(x, 1)))  # N x 120
        x = self.act6(self.f6(x))  # N x 84
        return x if pre_logits else self.output(x)


# The modern LeNet-5 (lenet5); lenet5_1998 replaces its deviations, notes and normalisation.
LENET_FAMILY = Family(
    "lenet",
    LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    mean=MNIST_MEAN,
    std=MNIST_STD,
    deviations=(
        "ReLU instead of the scaled tanh 1.7159 tanh(2x/3)",
        "max pooling instead of trainable subsampling (S2, S4 have no parameters)",
        "C3 connects to all six S2 maps instead of the sparse table (Table I)",
        "linear output layer with cross-entropy instead of Euclidean RBF units",
    ),
    notes=(
        "padding=2 accepts 28x28 MNIST digits with the same layer sizes. The paper's '60,000 trainable "
        "parameters' count the 1998 net (lenet5_1998: sparse C3, RBF output); C3's full connections and "
        "the linear output give this build 61,706."
    ),
    test_input_size=(1, 32, 32),
)
PAPER_PARAMS = "60,000 trainable parameters (Sec. II.B)"
# C1 28*28*6*(1*25) + C3 10*10*16*(6*25) + 400*120 + 120*84 + 84*10, from Fig. 2's sizes.
LENET5_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840

lenet5 = register_variant(
    LENET_FAMILY.card("lenet5", "Fig. 2 (layer sizes), modernised", 61_706, LENET5_MACS, paper_params=PAPER_PARAMS),
    LeNet5,
)


# --------------------------------------------------------------------------------------------
# LeNet-5 as printed in 1998: Sec. II.B, Table I, Appendix A.

# Table I: "Each column indicates which feature map in S2 are combined by the units in a
# particular feature map of C3." Column j lists the S2 maps that C3 map j sees. Sec. II.B:
# "The first six C3 feature maps take inputs from every contiguous subsets of three feature
# maps in S2. The next six take input from every contiguous subset of four. The next three
# take input from some discontinuous subsets of four. Finally the last one takes input from
# all S2 feature maps." 60 connected 5x5 kernels: 1,500 weights + 16 biases = 1,516.
C3_TABLE_I = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# Sec. II.B: the output RBF units' parameter vectors "were designed to represent a stylized
# image of the corresponding character class drawn on a 7x12 bitmap (hence the number 84)",
# components -1 or +1 (Fig. 3 of the paper). The paper prints the bitmaps only as a picture;
# these are drawn after it ("#" = +1, "." = -1), 12 rows of 7.
RBF_DIGITS_7X12 = (
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),  # 0
    ("...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", "...#...", ".#####."),  # 1
    ("..###..", ".#...#.", "#.....#", "......#", ".....#.", "....#..",
     "...#...", "..#....", ".#.....", "#......", "#......", "#######"),  # 2
    (".#####.", "#.....#", "......#", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "......#", "#.....#", ".#####."),  # 3
    ("....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.", "#....#.",
     "#######", ".....#.", ".....#.", ".....#.", ".....#.", ".....#."),  # 4
    ("#######", "#......", "#......", "#......", "#####..", ".....#.",
     "......#", "......#", "......#", "......#", "#....#.", ".####.."),  # 5
    ("..####.", ".#.....", "#......", "#......", "#.###..", "##...#.",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),  # 6
    ("#######", "......#", "......#", ".....#.", ".....#.", "....#..",
     "....#..", "...#...", "...#...", "..#....", "..#....", "..#...."),  # 7
    ("..###..", ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),  # 8
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", ".#...##",
     "..###.#", "......#", "......#", "......#", ".....#.", ".####.."),  # 9
)  # fmt: skip

# Sec. II.A: inputs "normalized so that the background level (white) corresponds to a value
# of -0.1 and the foreground (black) corresponds to 1.175"; for pixels in [0, 1] with 0 the
# background (MNIST's files), (x - mean) / std does exactly that.
LECUN_1998_MEAN, LECUN_1998_STD = (0.1 / 1.275,), (1 / 1.275,)
# Appendix A: f(a) = A tanh(S a) with A = 1.7159 and S = 2/3.
SQUASH_A, SQUASH_S = 1.7159, 2 / 3
# Appendix A: initial weights uniform in (-2.4 / F_i, 2.4 / F_i), F_i the unit's fan-in.
INIT_RANGE = 2.4


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)`` (Appendix A): f(1) = 1, f(-1) = -1."""

    def __init__(self, amplitude: float = SQUASH_A, slope: float = SQUASH_S) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"A={self.amplitude}, S={self.slope:.4g}"


class TrainableSubsampling(nn.Module):
    """S2 and S4 (Sec. II.B): "The four inputs to a unit in S2 are added, then multiplied by
    a trainable coefficient, and added to a trainable bias", one coefficient and one bias per
    map; the squashing function follows as a separate module."""

    def __init__(self, channels: int, window: int = 2) -> None:
        super().__init__()
        self.window = window
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        bound = INIT_RANGE / window**2  # fan-in: the window's inputs
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # divisor_override=1: the window's sum, not its mean.
        total = nn.functional.avg_pool2d(x, self.window, divisor_override=1)
        return total * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, window={self.window}"


class ConnectionTableConv2d(nn.Module):
    """A convolution in which output map ``j`` sees only the input maps ``table[j]``.

    Consecutive output maps with the same number of inputs form one grouped convolution over
    their gathered inputs, so exactly the connected kernels exist as parameters (and count as
    multiply-accumulates). For Table I: maps 0-5 (3 inputs each), 6-14 (4), 15 (6).
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        runs: list[list[tuple[int, ...]]] = []
        for sources in table:
            if runs and len(runs[-1][0]) == len(sources):
                runs[-1].append(sources)
            else:
                runs.append([sources])
        self.table = table
        start = 0
        for run in runs:
            fan_in = len(run[0])
            end = start + len(run) - 1
            name = f"maps_{start}_{end}" if end > start else f"map_{start}"
            conv = nn.Conv2d(fan_in * len(run), len(run), kernel_size, groups=len(run))
            bound = INIT_RANGE / (fan_in * kernel_size**2)
            nn.init.uniform_(conv.weight, -bound, bound)
            nn.init.uniform_(conv.bias, -bound, bound)
            self.add_module(name, conv)
            # Which input maps to gather for this run, in its groups' order.
            index = torch.tensor([s for sources in run for s in sources], dtype=torch.long)
            self.register_buffer(f"{name}_sources", index, persistent=False)
            start += len(run)
        self._runs = [n for n, _ in self.named_children()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [getattr(self, n)(x.index_select(1, getattr(self, f"{n}_sources"))) for n in self._runs]
        return torch.cat(outs, 1)


class EuclideanRBF(nn.Module):
    """The output layer (Sec. II.B, Eq. 7): y_i = sum_j (x_j - w_ij)^2 with fixed w.

    The prototypes are a buffer, not parameters: the paper keeps them fixed. The module
    returns ``-y``: the paper's penalties as logits, so that cross-entropy on them is the
    paper's MAP criterion (Eq. 9) without its constant "rubbish class" term j.
    """

    def __init__(self, prototypes: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("prototypes", prototypes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x.unsqueeze(1) - self.prototypes).pow(2).sum(-1)  # N x classes

    def extra_repr(self) -> str:
        classes, features = self.prototypes.shape
        return f"{features} -> {classes}, fixed prototypes"


def rbf_prototypes(num_classes: int, features: int = 84) -> torch.Tensor:
    """The 7x12 digit bitmaps for 10 classes; otherwise random +-1 codes, the alternative the
    paper names ("chosen at random with equal probabilities for -1 and +1"), from a fixed seed
    so the same class count always gets the same codes."""
    if num_classes == len(RBF_DIGITS_7X12) and features == 84:
        rows = ["".join(bitmap) for bitmap in RBF_DIGITS_7X12]
        codes = torch.tensor([[1.0 if c == "#" else -1.0 for c in row] for row in rows], device="cpu")
    else:
        generator = torch.Generator(device="cpu").manual_seed(1998)
        codes = torch.randint(0, 2, (num_classes, features), generator=generator, device="cpu") * 2.0 - 1
    return codes.to(torch.get_default_device())  # built on the CPU for the seeded generator


class LeNet5_1998(ClassifierNet):
    """LeNet-5 as the paper prints it: scaled tanh, trainable subsampling, Table I's sparse C3,
    C5 as a convolution, and fixed Euclidean RBF output units.

    The RBF layer has no trainable parameters, so F6, the last trainable layer, is the
    classifier of the model contract: :meth:`get_classifier` returns it,
    ``forward_head(pre_logits=True)`` returns its 120-d input, and :meth:`reset_classifier`
    gives F6 fresh weights and the RBF layer prototypes for the new class count.
    """

    default_input_size = (1, 32, 32)

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        (_, _, c1, k1), (_, _, _, w2), (_, _, c3, k3), (_, _, _, w4), (_, _, c5, k5), (_, _, f6, _) = LENET5_TABLE
        self.c1 = _uniform_init(nn.Conv2d(in_chans, c1, k1))
        self.act1 = ScaledTanh()
        self.s2 = TrainableSubsampling(c1, w2)
        self.act2 = ScaledTanh()
        self.c3 = ConnectionTableConv2d(C3_TABLE_I, k3)
        self.act3 = ScaledTanh()
        self.s4 = TrainableSubsampling(c3, w4)
        self.act4 = ScaledTanh()
        # Sec. II.B: C5 "is labeled as a convolutional layer, instead of a fully-connected
        # layer, because if LeNet-5 input were made bigger [...] the feature map dimension
        # would be larger than 1x1".
        self.c5 = _uniform_init(nn.Conv2d(c3, c5, k5))
        self.act5 = ScaledTanh()
        self.f6 = _uniform_init(nn.Linear(c5, f6))
        self.act6 = ScaledTanh()
        self.output = EuclideanRBF(rbf_prototypes(num_classes, f6))
        self.feature_info = [
            FeatureInfo("act1", c1, 1),
            FeatureInfo("act2", c1, 2),
            FeatureInfo("act3", c3, 2),
            FeatureInfo("act4", c3, 4),
            FeatureInfo("act5", c5, 4),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.c1(x))  # N x 6 x 28 x 28
        x = self.act2(self.s2(x))  # N x 6 x 14 x 14
        x = self.act3(self.c3(x))  # N x 16 x 10 x 10
        x = self.act4(self.s4(x))  # N x 16 x 5 x 5
        return self.act5(self.c5(x))  # N x 120 x 1 x 1

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(x, 1)  # N x 120
        if pre_logits:
            return x
        x = self.act6(self.f6(x))  # N x 84
        return self.output(x)  # N x 10: minus the squared distance to each class's bitmap

    def get_classifier(self) -> nn.Module:
        return self.f6  # deviation (on the card): the RBF output layer has nothing to train

    def reset_classifier(self, num_classes: int) -> None:
        # F6 keeps its size (84, the bitmaps' 7x12); resized_like keeps its device and dtype.
        self.f6 = _uniform_init(resized_like(self.f6, self.f6.out_features))
        old = self.output.prototypes
        prototypes = rbf_prototypes(num_classes, self.f6.out_features)
        self.output = EuclideanRBF(prototypes.to(old.device, old.dtype))
        self.num_classes = num_classes


def _uniform_init(layer: nn.Module) -> nn.Module:
    # Appendix A: uniform in (-2.4 / F_i, 2.4 / F_i); the paper treats the bias as a weight.
    fan_in = layer.weight[0].numel()
    nn.init.uniform_(layer.weight, -INIT_RANGE / fan_in, INIT_RANGE / fan_in)
    nn.init.uniform_(layer.bias, -INIT_RANGE / fan_in, INIT_RANGE / fan_in)
    return layer


LENET_1998_FAMILY = dataclasses.replace(
    LENET_FAMILY,
    mean=LECUN_1998_MEAN,
    std=LECUN_1998_STD,
    deviations=(
        "the output RBF prototypes are 7x12 digit bitmaps drawn after the paper's Fig. 3, "
        "which prints them only as a picture; other class counts get random +-1 codes "
        "from a fixed seed (the alternative the paper names)",
        "the output returns minus the RBF penalties as logits; the paper's MAP criterion "
        "(Eq. 9) is cross-entropy on them plus a constant 'rubbish class' term, not built in",
        "get_classifier() returns F6, the last trainable layer, because the RBF output "
        "layer has no trainable parameters; reset_classifier() re-initialises F6 and "
        "sets new prototypes",
    ),
    notes=(
        "Squashing f(a) = 1.7159 tanh(2a/3) after C1, S2, C3, S4, C5 and F6 (Sec. II.B, "
        "Appendix A); S2 and S4 add each 2x2 window, then scale and shift per map; C3 "
        "follows Table I (60 of the 96 possible 5x5 kernels); initial weights uniform in "
        "+-2.4/fan-in (Appendix A). Input normalisation maps background 0 to -0.1 and ink "
        "1 to 1.175 (Sec. II.A); pad 28x28 MNIST digits by 2 pixels to the 32x32 field."
    ),
)
# Sec. II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164; output: none trainable.
LENET5_1998_PARAMS = 156 + 12 + 1_516 + 32 + 48_120 + 10_164
# Connections, biases included, as Sec. II.B prints them per layer: C1 122,304 + S2
# 5,880 + C3 151,600 + S4 2,000 + C5 48,120 + F6 10,164 (its parameters, fully
# connected) + the RBF output's 84 x 10 = 840.
PAPER_CONNECTIONS = "340,908 connections (Sec. II.B)"

lenet5_1998 = register_variant(
    LENET_1998_FAMILY.card(
        "lenet5_1998",
        "Fig. 2, Table I and Sec. II.B (as printed)",
        LENET5_1998_PARAMS,
        paper_params=PAPER_PARAMS,
        paper_macs=PAPER_CONNECTIONS,
    ),
    LeNet5_1998,
)
