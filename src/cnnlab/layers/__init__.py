"""Building blocks that know no paper."""

from .conv import ACTIVATIONS, ORDERS, ConvNormAct, make_act

__all__ = ["ACTIVATIONS", "ORDERS", "ConvNormAct", "make_act"]
