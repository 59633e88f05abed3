"""Pretrained starting points, and the preprocessing that travels with their weights.

A starting point is

* a cnnlab run (its directory, or one of its checkpoints): the model it trained, with the
  input size, mean and std it trained with (:func:`cnnlab.engine.run.load_run_model`);
* a registered model with torchvision's ImageNet weights (``weights="torchvision"``: fetched
  once into the torch hub cache, read from there offline) or a weights file
  (``.pth``/``.pt``/``.safetensors``), loaded by :func:`cnnlab.weights.load_weights`, which
  puts the weights' own mean, std and crop into ``model.pretrained_cfg``;
* a registered model with random weights: the baseline every transfer is measured against.

:func:`data_preprocessing` turns the weights' preprocessing into the plan for a new dataset,
so nobody feeds pretrained weights a normalisation they never saw: images are resized to
the weights' input size, converted to their channels (grey images replicated to RGB, RGB
reduced to luma for grey models; both declared in :attr:`DataPreprocessing.note`) and
normalised with the weights' per-channel mean and std.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..data import channel_conversion, dataset_info
from ..engine.checkpoint import load_checkpoint
from ..engine.recipes import Recipe, load_recipe, recipe_from_dict
from ..engine.run import load_run_model
from ..errors import CheckpointError, ConfigError, UnsafeFileError
from ..explain.access import Preprocess
from ..models import create_model
from ..registry import list_models, model_card


@dataclass
class Pretrained:
    """A model with its weights loaded and in eval mode: ``name`` and ``options`` rebuild it
    (``create_model``), ``source`` says where the weights came from."""

    model: nn.Module
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "random initialisation"


def is_run(source: str | Path) -> bool:
    """Whether ``source`` is a cnnlab run directory or training checkpoint (not bare weights)."""
    path = Path(source)
    if path.is_dir():
        return True
    if not path.is_file() or path.suffix == ".safetensors":
        return False
    try:
        return "recipe" in load_checkpoint(path)
    except UnsafeFileError:
        raise  # "refused: FILE would execute code when loaded", as eval says it
    except CheckpointError:  # bare weights (a state dict): not a training checkpoint
        return False


def run_recipe(run: str | Path) -> Recipe:
    """The recipe a run trained with, from its ``recipe.yaml`` or its checkpoint."""
    path = Path(run)
    if (path / "recipe.yaml").is_file():
        return load_recipe(path / "recipe.yaml")
    if path.is_dir():
        raise ConfigError(f"{path} holds no recipe.yaml; is it a cnnlab run directory (cnnlab train --run-dir)?")
    data = (load_checkpoint(path).get("recipe") or {}).get("recipe")
    if data is None:
        raise ConfigError(f"{path} holds no recipe; it was not written by `cnnlab train`")
    return recipe_from_dict(data)


def load_pretrained(
    source: str | Path, weights: str | None = None, options: Mapping[str, Any] | None = None
) -> Pretrained:
    """The starting point ``source`` names: a run directory or checkpoint, or a registered
    model name with ``weights`` (``"torchvision"``, a weights file, or None for random
    weights) and builder ``options``."""
    if is_run(source):
        if weights is not None or options:
            raise ConfigError(
                f"{str(source)!r} is a cnnlab run: it brings its own model and weights; drop weights={weights!r}"
                f"{' and options' if options else ''}, or give a model name instead of the run"
            )
        model, recipe, _ = load_run_model(source)
        return Pretrained(model, recipe.model.name, dict(recipe.model.options), str(source))
    name = check_model_name(str(source))
    options = builder_options(name, weights, options)
    model = create_model(name, weights=weights, **options)
    model.eval()
    return Pretrained(model, name, options, model.pretrained_cfg.get("source") or "random initialisation")


def builder_options(name: str, weights: str | None, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options``, or for torchvision's weights the builder options they need (the card's
    ``torchvision.model_kwargs``) when none are given."""
    if options is None and weights == "torchvision":
        tv = model_card(name).torchvision
        return dict(tv.model_kwargs) if tv is not None else {}
    return dict(options or {})


def check_model_name(name: str) -> str:
    """``name`` if it is a registered model; otherwise a clear error (it is not a run either)."""
    models = list_models()
    if name in models:
        return name
    close = difflib.get_close_matches(name, models, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(
        f"{name!r} is neither a cnnlab run (directory or checkpoint) nor a registered model{hint}; give a run "
        "such as runs/lenet5-mnist-..., or a model name with weights='torchvision' or a weights file "
        "(`cnnlab list` lists the models)"
    )


@dataclass(frozen=True)
class DataPreprocessing:
    """How a dataset is fed to pretrained weights: resized to ``image_size`` square
    (``resize_mode``), converted to the model's ``channels`` (``conversion``:
    ``"replicate"`` grey to RGB, ``"luma"`` RGB to grey, or None), normalised with the
    weights' ``mean`` and ``std`` (pixel / 255 units, one per model channel)."""

    image_size: int
    resize_mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int
    conversion: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": self.image_size,
            "resize_mode": self.resize_mode,
            "mean": list(self.mean),
            "std": list(self.std),
            "channels": self.channels,
            "conversion": self.conversion,
            "note": self.note,
        }


def data_preprocessing(model: nn.Module, dataset: str) -> DataPreprocessing:
    """The preprocessing ``model``'s weights (``model.pretrained_cfg``) prescribe for
    ``dataset``. Images are resized to the weights' input size; the weights' own
    ``resize_mode`` (``"pad"``: LeNet-5's 28x28 digits centred in 32x32) is kept for images
    of the size it was made for, other sizes are resized bilinearly."""
    pre = Preprocess.of(model)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    channels, size = pre.input_size[0], pre.input_size[-1]
    info = dataset_info(dataset)
    stored = info.image_size
    resize = "bilinear"
    if cfg.get("resize_mode") == "pad" and cfg.get("dataset") and stored is not None:
        source = dataset_info(cfg["dataset"]).image_size
        resize = "pad" if source is not None and tuple(source[1:]) == tuple(stored[1:]) else "bilinear"
    have = stored[0] if stored is not None else 3  # folder datasets are read as RGB
    conversion = channel_conversion(have, channels, _model_name(model), info.name)
    note = None
    if conversion == "replicate":
        note = (
            f"{info.name} is grey (1 channel) and {_model_name(model)} reads 3: each image is replicated to 3 "
            "identical channels, then normalised with the weights' per-channel mean and std"
        )
    elif conversion == "luma":
        note = (
            f"{info.name} is RGB and {_model_name(model)} reads 1 channel: images are reduced to luma "
            "(0.299 R + 0.587 G + 0.114 B, as PIL's convert('L')), then normalised with the weights' mean and std"
        )
    return DataPreprocessing(size, resize, tuple(pre.mean), tuple(pre.std), channels, conversion, note)


def _model_name(model: nn.Module) -> str:
    card = getattr(model, "card", None)
    return card.name if card is not None else type(model).__name__
