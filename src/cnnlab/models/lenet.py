"""LeNet-5: LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11), Fig. 2 and Sec. II.B.

Module names are the paper's layer names: C1, S2, C3, S4, C5, F6 and the output layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import make_act
from ..registry import ModelCard, Paper, register_model
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

    ``padding=2`` on C1 keeps 28x28 MNIST images at the paper's 32x32 geometry.
    """

    default_input_size = (1, 32, 32)

    def __init__(self, num_classes: int = 10, in_chans: int = 1, padding: int = 0, act: str = "relu") -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        (_, _, c1, k1), _, (_, _, c3, k3), _, (_, _, c5, k5), (_, _, f6, _) = LENET5_TABLE
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

    def get_classifier(self) -> nn.Module:
        return self.output

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.output = nn.Linear(self.output.in_features, num_classes)


@register_model(
    ModelCard(
        name="lenet5",
        family="lenet",
        paper=LECUN_1998,
        table="Fig. 2 (layer sizes), modernised",
        input_size=(1, 32, 32),
        num_classes=10,
        params=61_706,
        # C1 28*28*6*(1*25) + C3 10*10*16*(6*25) + 400*120 + 120*84 + 84*10, from Fig. 2's sizes.
        macs=117_600 + 240_000 + 48_000 + 10_080 + 840,
        paper_params="60,000 trainable parameters (Sec. II.B)",
        deviations=(
            "ReLU instead of the scaled tanh 1.7159 tanh(2x/3)",
            "max pooling instead of trainable subsampling (S2, S4 have no parameters)",
            "C3 connects to all six S2 maps instead of the sparse table (Table I)",
            "linear output layer with cross-entropy instead of Euclidean RBF units",
        ),
        notes="padding=2 accepts 28x28 MNIST digits with the same layer sizes.",
        test_input_size=(1, 32, 32),
        mean=MNIST_MEAN,
        std=MNIST_STD,
    )
)
def lenet5(num_classes: int = 10, in_chans: int = 1, padding: int = 0, act: str = "relu") -> LeNet5:
    return LeNet5(num_classes=num_classes, in_chans=in_chans, padding=padding, act=act)
