"""The mechanics from scratch: NumPy layers with forward and backward passes, checked
against autograd and central differences, and a small trainer (LeNet-5 on digits).
NumPy only: importing this package never imports PyTorch."""

from . import layers
from .gradcheck import check_layer, numerical_gradient, relative_error
from .network import SGD, Sequential, lenet5, train_lenet5_digits

__all__ = [
    "SGD",
    "Sequential",
    "check_layer",
    "layers",
    "lenet5",
    "numerical_gradient",
    "relative_error",
    "train_lenet5_digits",
]
