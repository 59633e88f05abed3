"""Transfer learning: pretrained starting points, features from any layer, linear probes,
fine-tuning, and export.

    >>> from cnnlab.transfer import linear_probe, finetune
    >>> linear_probe("runs/lenet5-mnist", "fashion-mnist", stages=True).layers   # one probe per stage
    >>> linear_probe("resnet18", "cifar10", weights="torchvision")               # ImageNet features
    >>> finetune("runs/lenet5-mnist", "digits", trainable_stages=1, head_epochs=2, epochs=10)

The preprocessing (input size, mean, std) travels with the weights: probes and fine-tunes
feed the new dataset exactly as the weights were trained (:mod:`.pretrained`).
"""

from __future__ import annotations

from typing import Any

from ..data import match_channels  # noqa: I001  (part of the transfer API: data in a model's channels)
from .features import (
    HEAD,
    FeatureCache,
    LayerFeatures,
    check_layers,
    default_cache_dir,
    extract_features,
    pool_features,
    stage_layers,
)
from .finetune import (
    Block,
    FineTune,
    FreezePlan,
    HeadWarmup,
    finetune,
    finetune_recipe,
    forward_order,
    plan_freezing,
    start_finetune,
    transfer_blocks,
)
from .pretrained import (
    DataPreprocessing,
    Pretrained,
    data_preprocessing,
    is_run,
    load_pretrained,
)
from .probe import LayerProbe, ProbeResult, fit_probe, linear_probe

__all__ = [
    "HEAD",
    "Block",
    "DataPreprocessing",
    "ExportError",
    "ExportResult",
    "FeatureCache",
    "FineTune",
    "FreezePlan",
    "HeadWarmup",
    "LayerFeatures",
    "LayerProbe",
    "Pretrained",
    "ProbeResult",
    "check_layers",
    "data_preprocessing",
    "default_cache_dir",
    "export_model",
    "load_safetensors",
    "read_metadata",
    "extract_features",
    "finetune",
    "finetune_recipe",
    "fit_probe",
    "forward_order",
    "is_run",
    "linear_probe",
    "load_pretrained",
    "match_channels",
    "plan_freezing",
    "pool_features",
    "stage_layers",
    "start_finetune",
    "transfer_blocks",
]


def __getattr__(name: str) -> Any:
    # export_model and ExportResult live in .export (ONNX, TorchScript, safetensors), imported
    # on first use: `import cnnlab.transfer` stays free of the exporters' imports.
    if name in ("export_model", "ExportResult", "ExportError", "load_safetensors", "read_metadata"):
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
