"""One file per paper. Importing this package registers every model, and gives
:func:`create_model`: a registered model, built, with its weights loaded when asked."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ..registry import build_model
from ..weights import load_weights
from . import (  # noqa: F401  (imported for registration)
    alexnet,
    bn_inception,
    deepergooglenet,
    densenet,
    dpn,
    fractalnet,
    googlenet,
    inception_v3,
    lenet,
    minigooglenet,
    minivgg,
    nin,
    preact_resnet,
    resnet,
    resnext,
    squeezenet,
    vgg,
    wide_resnet,
    zfnet,
)
from .base import ClassifierNet, FeatureInfo

__all__ = ["ClassifierNet", "FeatureInfo", "create_model"]


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | os.PathLike[str] | None = None,
    **options: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a registered name (``cnnlab.list_models()``).
        num_classes: width of the classifier; the card's default when ``None``.
        in_chans: input channels; the card's default when ``None``.
        weights: ``None`` for random initialisation, ``"torchvision"`` for torchvision's
            ImageNet weights (downloaded once, or read from the torch hub cache offline),
            or the path of a torchvision-format or cnnlab weights file.
        **options: the builder's own options, named as the paper names them
            (``batch_norm=True``, ``aux_logits=False``, ``order="conv-act-bn"`` ...).
    """
    model = build_model(name, num_classes=num_classes, in_chans=in_chans, **options)
    if weights is not None:
        load_weights(model, weights)
    return model
