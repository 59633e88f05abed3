"""Building blocks that know no paper."""

from .conv import ACTIVATIONS, ORDERS, ConvNormAct, make_act
from .drop_path import DropPath, drop_path_rates
from .heads import resized_like
from .lrn import LRN

__all__ = ["ACTIVATIONS", "DropPath", "LRN", "ORDERS", "ConvNormAct", "drop_path_rates", "make_act", "resized_like"]
