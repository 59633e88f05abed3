"""Building blocks that know no paper."""

from .conv import ACTIVATIONS, ORDERS, ConvNormAct, make_act
from .heads import resized_like
from .lrn import LRN

__all__ = ["ACTIVATIONS", "LRN", "ORDERS", "ConvNormAct", "make_act", "resized_like"]
