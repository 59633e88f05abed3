"""One file per paper. Importing this package registers every model."""

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

__all__ = ["ClassifierNet", "FeatureInfo"]
