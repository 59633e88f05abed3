"""A run's test images looked at one by one: its most confident mistakes and a few examples,
in pixel units, for a report to show beside the numbers (``cnnlab report RUN``).

The test split is scored once, in stored order, with the run's checkpoint (``best.pt``, as
its report was) and the preprocessing it trained with; at most ``limit`` images are scored,
and the result says how many were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import DeviceLoader, dataset_info, load_dataset, match_channels
from ..errors import ConfigError
from .recipes import Recipe
from .run import _class_names, _folder_eval_batches, _subset, load_run_model, resolve_device, test_split


@dataclass
class Example:
    """One test image: its position in the split, true and predicted class, the predicted
    class's probability and the pixels the model read (``C x H x W`` in ``[0, 1]``, before
    normalisation)."""

    index: int
    label: int
    predicted: int
    probability: float
    pixels: torch.Tensor


@dataclass
class TestExamples:
    """What :func:`test_examples` found: the split's name and class names, how many of its
    ``total`` images were ``scanned``, the ``mistakes`` (most confident first), the first
    image of each of the first few classes (``examples``), and the run's model and recipe."""

    split: str
    classes: list[str]
    scanned: int
    total: int
    mistakes: list[Example]
    examples: list[Example]
    model: nn.Module
    recipe: Recipe


def test_examples(
    run_or_checkpoint: str | Path,
    *,
    mistakes: int = 12,
    examples: int = 4,
    limit: int | None = 10_000,
    device: str | None = None,
) -> TestExamples:
    """Score the first ``limit`` images of a run's test split (``None``: all of them) and keep
    the ``mistakes`` most confident wrong predictions and the first image of each of the
    first ``examples`` classes."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit={limit} must be a positive number of test images, or None for all")
    model, recipe, _ = load_run_model(run_or_checkpoint)
    dev = resolve_device(device)
    info = dataset_info(recipe.dataset.name)
    split = test_split(recipe.dataset.name)
    data = load_dataset(
        recipe.dataset.name,
        split,
        data_dir=recipe.dataset.data_dir,
        image_size=recipe.dataset.image_size,
        **({"resize": recipe.dataset.resize_mode} if info.in_memory else {}),
    )
    if recipe.transfer is not None:  # fine-tuned on images converted to the pretrained model's channels
        data = match_channels(data, model.in_chans)
    total = len(data)
    mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
    if info.in_memory:
        if limit is not None and limit < total:
            data = _subset(data, torch.arange(limit))
        batches: Any = DeviceLoader(data, 256, train=False, device=dev, mean=mean, std=std)
    else:
        batches = _folder_eval_batches(data, recipe, 1, mean, std)
    shift = torch.tensor(mean).view(1, -1, 1, 1)
    scale = torch.tensor(std).view(1, -1, 1, 1)
    model = model.to(dev)
    wrong: list[Example] = []
    first: dict[int, Example] = {}
    scanned, outputs = 0, 0
    with torch.no_grad():
        for x, y in batches:
            if limit is not None and scanned >= limit:
                break
            if limit is not None and scanned + len(y) > limit:
                x, y = x[: limit - scanned], y[: limit - scanned]
            probs = model(x.to(dev)).float().softmax(dim=1).cpu()
            outputs = probs.shape[1]
            y = y.cpu()
            conf, pred = probs.max(dim=1)
            pixels = (x.cpu().float() * scale + shift).clamp(0, 1)
            for j in (pred != y).nonzero()[:, 0].tolist():
                wrong.append(Example(scanned + j, int(y[j]), int(pred[j]), float(conf[j]), pixels[j].clone()))
            for j, label in enumerate(y.tolist()):
                if label not in first and len(first) < examples:
                    first[label] = Example(scanned + j, label, int(pred[j]), float(conf[j]), pixels[j].clone())
            # keep only the most confident mistakes so far: memory stays small on large splits
            wrong = sorted(wrong, key=_most_confident)[:mistakes]
            scanned += len(y)
    return TestExamples(
        split=split,
        classes=_class_names(data, info, outputs),
        scanned=scanned,
        total=total,
        mistakes=wrong,
        examples=sorted(first.values(), key=lambda e: e.index),
        model=model,
        recipe=recipe,
    )


def _most_confident(example: Example) -> tuple[float, int]:
    return (-example.probability, example.index)
