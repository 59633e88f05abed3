"""Shortcut connections of residual networks: He, Zhang, Ren & Sun (2015), "Deep residual
learning for image recognition", arXiv:1512.03385, Sec. 3.3 and Sec. 4.1.

The paper's three options for a block whose output has more channels (or a smaller map)
than its input:

- ``"A"``: "the shortcut still performs identity mapping, with extra zero entries padded
  for increasing dimensions" (no parameters); "when the shortcuts go across feature maps of
  two sizes, they are performed with a stride of 2";
- ``"B"``: "projection shortcuts are used for increasing dimensions, and other shortcuts are
  identity" (a 1x1 convolution, stride 2 across sizes, followed by BatchNorm);
- ``"C"``: "all shortcuts are projections".

``None`` builds no shortcut at all: the plain network the paper compares against.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

SHORTCUTS = ("A", "B", "C", None)


class ConvNorm(nn.Sequential):
    """A convolution followed by BatchNorm and no activation: the last layer of a residual
    branch (its ReLU comes after the addition, Fig. 2) and the projection shortcut."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(out_chs)


class ZeroPadShortcut(nn.Module):
    """Option A: identity on the first ``in_chs`` channels, zeros for the new ones, and
    subsampling (every ``stride``-th pixel) across feature-map sizes. No parameters.

    The paper does not say where the zero entries go; they are appended after the input's
    channels, as in the stochastic-depth authors' Torch code (``nn.Padding`` on the channel
    dimension) and most reimplementations.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1) -> None:
        super().__init__()
        if out_chs < in_chs:
            raise ConfigError(
                f"option A shortcuts can only add channels (zero padding), got {in_chs} -> {out_chs}; "
                "use shortcut='B' or 'C' (projections) for fewer output channels"
            )
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_chs - self.in_chs))

    def extra_repr(self) -> str:
        return f"{self.in_chs} -> {self.out_chs}, stride={self.stride}"


def make_shortcut(shortcut: str | None, in_chs: int, out_chs: int, stride: int, bias: bool = False) -> nn.Module | None:
    """The shortcut of one residual block for option ``shortcut`` ("A", "B", "C" or None).

    ``bias`` gives a projection's convolution a bias (it precedes BatchNorm, which cancels
    it; only for reproducing code that keeps one).
    """
    if shortcut not in SHORTCUTS:
        raise ConfigError(
            f"unknown shortcut {shortcut!r}; choose 'A' (zero-padding identity), 'B' (projections "
            "where dimensions change), 'C' (projections everywhere) or None (plain network)"
        )
    if shortcut is None:
        return None
    same = in_chs == out_chs and stride == 1
    if shortcut == "C" or (shortcut == "B" and not same):
        return ConvNorm(in_chs, out_chs, 1, stride, bias=bias)
    if same:
        return nn.Identity()
    return ZeroPadShortcut(in_chs, out_chs, stride)


def preact_shortcut(in_chs: int, out_chs: int, stride: int = 1) -> nn.Module:
    """The shortcut of a full pre-activation unit (He et al. 2016, arXiv:1603.05027; the
    authors' resnet-pre-act.lua, and Zagoruyko & Komodakis' wide-residual-networks code): a
    1x1 projection without BatchNorm or bias where the width or the map size changes, the
    identity elsewhere. The caller feeds a projection the block's pre-activated input
    BN-ReLU(x) ("common BN, ReLU" before splitting) and the identity the untouched x; test
    ``isinstance(shortcut, nn.Identity)`` to tell which."""
    if stride != 1 or in_chs != out_chs:
        return nn.Conv2d(in_chs, out_chs, 1, stride, bias=False)
    return nn.Identity()
