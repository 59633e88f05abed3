"""Training figures: loss and accuracy curves per epoch, and a confusion matrix."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..engine.callbacks import Callback
from ._save import save_figure


def _whole_epochs(ax, epochs: Sequence[int]) -> None:
    """Whole epochs on the x axis; one epoch alone sits in the middle of [e - 1, e + 1]
    (matplotlib would otherwise spread fractional ticks 0.95 ... 1.05 around it)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs and min(epochs) == max(epochs):
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


def plot_curves(
    history: Sequence[Mapping[str, float]],
    path: str | os.PathLike,
    *,
    title: str = "",
    validated_on: str = "validation",
) -> Path:
    """The course's training plot: loss (left axis) and accuracy (right axis) per epoch, for
    the training and validation sets. ``history`` holds one mapping per epoch with ``epoch``
    (epochs completed, as :func:`cnnlab.engine.fit` writes it) and any of ``train_loss``,
    ``val_loss``, ``train_acc1``, ``val_acc1`` (accuracy in [0, 1]); missing series and
    missing points (epochs without validation) are skipped. ``validated_on`` names the split
    the ``val_*`` series were measured on (``"test"`` for a ``validate_on: test`` run); the
    epoch axis has whole epochs only."""
    return save_figure(curves_figure(history, title=title, validated_on=validated_on), path)


def curves_figure(history: Sequence[Mapping[str, float]], *, title: str = "", validated_on: str = "validation"):
    """The figure :func:`plot_curves` saves (a matplotlib ``Figure``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    acc_ax = ax.twinx()
    epochs = [int(h["epoch"]) for h in history]  # rows count epochs completed: 1 after the first
    styles = {
        "train_loss": (ax, "tab:blue", "-", "train loss"),
        "val_loss": (ax, "tab:orange", "-", f"{validated_on} loss"),
        "train_acc1": (acc_ax, "tab:blue", "--", "train accuracy"),
        "val_acc1": (acc_ax, "tab:orange", "--", f"{validated_on} accuracy"),
    }
    lines = []
    for key, (axis, colour, style, label) in styles.items():
        points = [(e, h[key]) for e, h in zip(epochs, history) if h.get(key) is not None]
        if points:
            xs, ys = zip(*points)
            lines += axis.plot(xs, ys, style, color=colour, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    _whole_epochs(ax, epochs)  # whole epochs: no tick at 2.5
    ax.set_ylabel("loss (cross-entropy)")
    acc_ax.set_ylabel("top-1 accuracy")
    acc_ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(lines, [ln.get_label() for ln in lines], loc="center right")
    ax.set_title(title or "training curves")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Rows are true classes, columns predicted ones; each cell shows its count and is shaded
    by its share of the row (the class's recall on the diagonal)."""
    return save_figure(confusion_figure(matrix, class_names, title=title), path)


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], *, title: str = ""):
    """The figure :func:`plot_confusion_matrix` saves (a matplotlib ``Figure``)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64)
    n = counts.shape[0]
    if counts.shape != (n, n) or len(class_names) != n:
        raise ValueError(
            f"a confusion matrix needs n x n counts and n class names, got {counts.shape} and {len(class_names)} names"
        )
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.45 * n + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(
        range(n), labels=list(class_names), rotation=90 if n > 10 else 45, ha="right" if n <= 10 else "center"
    )
    ax.set_yticks(range(n), labels=list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    return fig


def lr_figure(history: Sequence[Mapping[str, float]], *, title: str = ""):
    """The learning rate at the end of each epoch (``lr`` of each history row), on a log
    axis when it spans more than a factor of 20 (step and cosine schedules)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [(int(h["epoch"]), float(h["lr"])) for h in history if h.get("lr") is not None]
    fig = Figure(figsize=(8.0, 3.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, "-", color="tab:green", marker="o", markersize=3)
        positive = [y for y in ys if y > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_yscale("log")
    ax.set_xlabel("epoch")
    _whole_epochs(ax, [x for x, _ in points])
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    ax.set_title(title or "learning rate at the end of each epoch")
    fig.tight_layout()
    return fig


def validation_curves_figure(runs: Sequence[tuple[str, Sequence[Mapping[str, float]]]], *, title: str = ""):
    """Several runs' validation curves side by side: top-1 accuracy (left) and loss (right)
    per epoch, one colour per run; ``runs`` holds ``(label, history)`` pairs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 4.2))
    FigureCanvasAgg(fig)
    acc_ax, loss_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, history in runs:
        for ax, key in ((acc_ax, "val_acc1"), (loss_ax, "val_loss")):
            points = [(int(h["epoch"]), h[key]) for h in history if h.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, "-", marker="o", markersize=3, label=label)
    epochs = [int(h["epoch"]) for _, history in runs for h in history]
    for ax, name in ((acc_ax, "validation top-1 accuracy"), (loss_ax, "validation loss (cross-entropy)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        _whole_epochs(ax, [min(epochs), max(epochs)] if epochs else [])
        ax.grid(alpha=0.3)
    acc_ax.set_ylim(0.0, 1.0)
    if any(ax.lines for ax in (acc_ax, loss_ax)):
        acc_ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or "validation curves of the runs")
    fig.tight_layout()
    return fig


class CurvePlotter(Callback):
    """A training callback that rewrites ``<run_dir>/curves.png`` after every epoch (rank 0),
    so an interrupted run still has its plot."""

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename

    def on_epoch_end(self, state, metrics) -> None:
        if state.is_main and state.run_dir is not None:
            recipe = (state.recipe or {}).get("recipe", {})
            split = "test" if recipe.get("validate_on") == "test" else "validation"
            plot_curves(
                list(state.history),
                Path(state.run_dir) / self.filename,
                title=recipe.get("name", ""),
                validated_on=split,
            )
