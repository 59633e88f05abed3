"""Convolution blocks that know no paper: a conv with optional normalisation and activation
in the order a paper uses."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

ORDERS = ("conv-bn-act", "conv-act-bn", "bn-act-conv", "conv-act")
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "identity": nn.Identity}


def make_act(act: str) -> nn.Module:
    """An activation by name (``relu``, ``elu``, ``tanh``, ``identity``)."""
    try:
        return ACTIVATIONS[act]()
    except KeyError:
        raise ConfigError(f"unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}") from None


class ConvNormAct(nn.Sequential):
    """``conv``, ``bn`` and ``act`` children in the requested ``order``.

    ``conv-bn-act`` (Ioffe & Szegedy 2015) puts BatchNorm before the nonlinearity;
    ``conv-act-bn`` is the Keras-course habit of normalising after ReLU; ``bn-act-conv`` is
    the pre-activation order of He et al. 2016; ``conv-act`` has no normalisation. The conv
    has a bias only when no BatchNorm follows it directly (a bias before BN is cancelled by
    BN's mean subtraction), unless ``bias`` says otherwise.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        groups: int = 1,
        order: str = "conv-bn-act",
        act: str = "relu",
        bias: bool | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        if order not in ORDERS:
            raise ConfigError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
        if bias is None:
            bias = order in ("conv-act", "conv-act-bn", "bn-act-conv")
        conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, groups=groups, bias=bias)
        bn_chs = in_chs if order == "bn-act-conv" else out_chs
        parts = {
            "conv": conv,
            "bn": nn.BatchNorm2d(bn_chs, eps=bn_eps),
            "act": make_act(act),
        }
        names = order.split("-")
        super().__init__()
        for short in names:
            self.add_module(short, parts[short])
        self.order = order
