"""A dataset's images, a row of random examples per class: the look at the data that comes
before any training."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ._save import pyplot

# More than this per class makes a grid nobody can read, and matplotlib takes minutes to lay
# out thousands of axes (digits' 180 per class x 10 classes would be 1,800).
MAX_PER_CLASS = 50


def sample_indices(labels: torch.Tensor, per_class: int, classes: int, seed: int = 0) -> list[list[int]]:
    """For each of the first ``classes`` labels, up to ``per_class`` indices of images with
    that label, drawn at random with ``seed`` (sorted, so a row reads in file order)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for c in range(classes):
        found = (labels == c).nonzero().flatten()
        pick = found[torch.randperm(len(found), generator=g)[:per_class]]
        rows.append(sorted(int(i) for i in pick))
    return rows


def _pixels(data: Any, i: int) -> np.ndarray:
    if hasattr(data, "images"):  # in memory: C x H x W uint8
        img = data.images[i]
        return (img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy()
    return np.asarray(data[i][0])  # read from disk: a PIL image


def _labels(data: Any) -> tuple[torch.Tensor, list[str]]:
    labels = data.labels if hasattr(data, "labels") else torch.tensor(data.targets)
    names = list(data.info.classes) or [str(c) for c in range(int(labels.max()) + 1)]
    return labels, names


def per_class_shown(data: Any, per_class: int, max_classes: int = 20) -> int:
    """The images per class :func:`plot_samples` draws: ``per_class``, capped at the size of
    the largest class shown; a ``ConfigError`` outside 1 to :data:`MAX_PER_CLASS`."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or not 1 <= per_class <= MAX_PER_CLASS:
        raise ConfigError(
            f"per_class={per_class!r} must be 1 to {MAX_PER_CLASS}; a grid with more images per class "
            "is unreadable and takes minutes to draw"
        )
    labels, names = _labels(data)
    largest = int(torch.bincount(labels, minlength=len(names))[: min(len(names), max_classes)].max())
    return max(1, min(per_class, largest))


def plot_samples(data: Any, *, per_class: int = 8, max_classes: int = 20, seed: int = 0) -> Any:
    """A grid of ``per_class`` random images of each class (the first ``max_classes``
    classes), each row titled with its class name and its count in ``data``. ``per_class``
    is 1 to :data:`MAX_PER_CLASS` and is capped at the largest class's size."""
    plt = pyplot()
    labels, names = _labels(data)
    shown = min(len(names), max_classes)
    per_class = per_class_shown(data, per_class, max_classes)
    rows = sample_indices(labels, per_class, shown, seed)
    counts = torch.bincount(labels, minlength=len(names))
    fig, axes = plt.subplots(shown, per_class, figsize=(1.1 * per_class + 1.6, 1.1 * shown), squeeze=False)
    for r, (name, row) in enumerate(zip(names, rows)):
        for c in range(per_class):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(row):
                ax.imshow(_pixels(data, row[c]), cmap="gray", vmin=0, vmax=255)
        axes[r][0].set_ylabel(f"{name}\n({int(counts[r]):,})", rotation=0, ha="right", va="center", fontsize=8)
    more = f"; the first {shown} of {len(names)} classes" if shown < len(names) else ""
    fig.suptitle(f"{data.info.name}: {per_class} random images per class (seed {seed}){more}", fontsize=10)
    fig.tight_layout()
    return fig
