"""Keras conventions in PyTorch terms, for networks whose reference code is Keras.

- ``BatchNormalization()``: Keras' ``momentum=0.99`` weights the *old* running statistic,
  PyTorch's ``momentum`` weights the *new* batch, so Keras 0.99 is PyTorch 0.01; Keras'
  default ``epsilon`` is 1e-3 (PyTorch's 1e-5).
- ``Conv2D`` and ``Dense`` carry a bias by default, even when BatchNorm follows.
- ``glorot_uniform`` weights and zero biases are Keras' default initialisation.
- ``padding="same"`` with stride 2 pads ``max((ceil(n/s) - 1) s + k - n, 0)`` pixels, the odd
  one at the bottom and right (TensorFlow's rule); PyTorch's symmetric ``padding=1`` gives
  the same size on even inputs but shifts every pooling window up and left by one pixel.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .conv import ConvNormAct, make_act

KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01  # PyTorch convention: 1 - Keras' momentum 0.99


def keras_conv(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int = 1,
    padding: str = "same",
    order: str = "conv-bn-act",
    act: str = "relu",
    bn_eps: float = KERAS_BN_EPS,
    bn_momentum: float = KERAS_BN_MOMENTUM,
) -> ConvNormAct:
    """``Conv2D(padding=...)`` with its bias, ``BatchNormalization`` and an activation, in
    ``order``. ``padding`` is Keras' ``"same"`` (stride 1 only) or ``"valid"``."""
    if padding == "same":
        if stride != 1 or kernel_size % 2 == 0:
            raise ConfigError(
                f"keras_conv supports padding='same' for odd kernels at stride 1, got kernel "
                f"{kernel_size} stride {stride}; use padding='valid' or pad explicitly"
            )
        pad = kernel_size // 2
    elif padding == "valid":
        pad = 0
    else:
        raise ConfigError(f"unknown Keras padding {padding!r}; choose 'same' or 'valid'")
    block = ConvNormAct(in_chs, out_chs, kernel_size, stride, pad, order=order, act=act, bias=True, bn_eps=bn_eps)
    block.bn.momentum = bn_momentum
    return block


class LinearNormAct(nn.Sequential):
    """``Dense`` (with bias), ``BatchNormalization`` and an activation, children ``linear``,
    ``bn`` and ``act`` in ``order`` (``"linear-bn-act"`` or ``"linear-act-bn"``)."""

    ORDERS = ("linear-bn-act", "linear-act-bn")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        order: str = "linear-bn-act",
        act: str = "relu",
        bn_eps: float = KERAS_BN_EPS,
        bn_momentum: float = KERAS_BN_MOMENTUM,
    ) -> None:
        if order not in self.ORDERS:
            raise ConfigError(f"unknown order {order!r}; choose one of {', '.join(self.ORDERS)}")
        parts = {
            "linear": nn.Linear(in_features, out_features),
            "bn": nn.BatchNorm1d(out_features, eps=bn_eps, momentum=bn_momentum),
            "act": make_act(act),
        }
        super().__init__(OrderedDict((name, parts[name]) for name in order.split("-")))
        self.order = order


class MaxPool2dSame(nn.Module):
    """``MaxPooling2D(pool_size, strides, padding="same")``: output ``ceil(n / stride)``,
    the odd padding pixel at the bottom and right, padded positions never chosen."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    @staticmethod
    def _pad(n: int, k: int, s: int) -> tuple[int, int]:
        total = max((-(-n // s) - 1) * s + k - n, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        top, bottom = self._pad(x.shape[-2], k, s)
        left, right = self._pad(x.shape[-1], k, s)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, k, s)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding='same'"


def glorot_init_(model: nn.Module) -> None:
    """Keras' default initialisation: ``glorot_uniform`` conv and dense weights, zero
    biases (BatchNorm's ones and zeros are the same in both libraries)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
