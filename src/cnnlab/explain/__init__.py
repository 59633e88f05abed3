"""Understand a trained network: tensors in, :class:`Explanation` out, never a figure.

Every method reaches the model through :mod:`cnnlab.explain.access` (layers by name, state
restored, in-place and reused ReLUs handled, pixel-range images); ``cnnlab.viz`` draws the
results.
"""

from .access import (
    LayerInfo,
    Preprocess,
    as_batch,
    capture,
    default_layer,
    get_layer,
    list_layers,
    load_image,
    prepared,
    relu_rule,
    run_to,
    split_forward,
)
from .result import Explanation

__all__ = [
    "Explanation",
    "LayerInfo",
    "Preprocess",
    "as_batch",
    "capture",
    "default_layer",
    "get_layer",
    "list_layers",
    "load_image",
    "prepared",
    "relu_rule",
    "run_to",
    "split_forward",
]
