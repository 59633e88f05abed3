"""The "accuracy vs. operations vs. size" chart of a comparison.

Canziani, Paszke & Culurciello (2016), "An Analysis of Deep Neural Network Models for
Practical Applications", Fig. 2: each network is a circle placed by its operation count
(x) and its accuracy (y), its area proportional to its parameter count. Here x is the
multiply-accumulates per image on a log axis and y the *published* top-1 error (lower is
better), coloured by dataset; models with no published error are listed beneath the chart,
never silently dropped.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..analysis.compare import ComparedModel, Comparison
from ..analysis.published import DATASETS
from ..errors import ConfigError, require_parent_folder
from ._save import save_figure

_COLOURS = {"imagenet": "#1f77b4", "cifar10": "#ff7f0e"}
_MAX_AREA = 2000.0  # points^2 of the largest model's marker
_MIN_AREA = 15.0  # so that a 60K-parameter LeNet is still visible


def _size_legend_values(largest: int) -> list[int]:
    """Up to three round parameter counts (1, 10, 100 x 10^k) at or below the largest."""
    if largest <= 0:
        return []
    top = 10 ** int(math.floor(math.log10(largest)))
    return [v for v in (top // 100, top // 10, top) if v >= 1][-3:]


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)


def _label_points(fig, ax, points: list[tuple[str, float, float]]) -> None:
    """One label per point, each at the first of a few offsets where it overlaps no label
    already placed (a greedy pass, enough to separate neighbours such as resnet18 and
    googlenet)."""
    fig.canvas.draw()  # fixes the data -> pixel transform for the limits set above
    offsets = [
        (5, 5, "left"),
        (5, -12, "left"),
        (-5, 5, "right"),
        (-5, -12, "right"),
        (5, 16, "left"),
        (5, -23, "left"),
    ]
    placed: list[tuple[float, float, float, float]] = []
    dpi_scale = fig.dpi / 72.0
    for name, x, y in sorted(points, key=lambda p: (p[1], p[2])):
        px, py = ax.transData.transform((x, y))
        width, height = 5.0 * len(name) * dpi_scale, 10.0 * dpi_scale
        choice = offsets[0]
        for dx, dy, ha in offsets:
            left = px + dx * dpi_scale - (width if ha == "right" else 0.0)
            bottom = py + dy * dpi_scale
            box = (left, bottom, left + width, bottom + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                choice = (dx, dy, ha)
                break
        dx, dy, ha = choice
        left = px + dx * dpi_scale - (width if ha == "right" else 0.0)
        placed.append((left, py + dy * dpi_scale, left + width, py + dy * dpi_scale + height))
        ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8, ha=ha, zorder=5)


def check_chart_path(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path`` when a chart can be written there: its folder exists and its
    suffix names a format matplotlib writes; else ``ConfigError`` (checked before any work)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    require_parent_folder(path, "the chart")
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in supported:
        raise ConfigError(
            f"cannot tell the image format of {path.name!r} (suffix {path.suffix or 'missing'}); "
            f"use one of {', '.join('.' + s for s in sorted(supported))}, e.g. compare.png"
        )
    return path


def plot_comparison(
    comparison: Comparison, path: str | os.PathLike, *, title: str | None = None, dpi: int = 150
) -> Path:
    """Draw ``comparison`` as multiply-accumulates (x, log scale) against published top-1
    error (y), marker area proportional to parameters, one label per point; write it to
    ``path`` (the format follows the suffix: .png, .svg, .pdf ...) through a temporary file
    renamed into place, and return the path. Uses matplotlib's Agg canvas directly: no
    display, no change to pyplot's global backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(comparison, Comparison):
        raise ConfigError(
            f"plot_comparison() takes the Comparison that compare() returns, got {type(comparison).__name__}"
        )
    path = check_chart_path(path)
    fig = Figure(figsize=(11.0, 6.5))
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    ax = fig.add_subplot(1, 1, 1)

    models = list(comparison.models)
    largest = max((m.params for m in models), default=0)
    scale = _MAX_AREA / largest if largest else 0.0

    def per_image(m: ComparedModel) -> float:
        return m.macs / m.batch_size

    plotted, missing, no_macs = [], [], []
    for m in models:
        if m.published is None:
            missing.append(m.name)
        elif m.macs <= 0:
            no_macs.append(m.name)
        else:
            plotted.append(m)

    ax.set_xscale("log")
    xs = [per_image(m) for m in (plotted or [m for m in models if m.macs > 0])]
    if xs:
        ax.set_xlim(min(xs) / 2.5, max(xs) * 2.5)
    ys = [m.published.top1_error for m in plotted]
    if ys:
        span = max(max(ys) - min(ys), 2.0)
        ax.set_ylim(max(0.0, min(ys) - 0.25 * span), max(ys) + 0.25 * span)
    else:
        ax.text(
            0.5,
            0.5,
            "no compared model has a published top-1 error on file",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="0.4",
        )

    datasets_seen = []
    for m in sorted(plotted, key=lambda m: -m.params):  # big circles first, small ones on top
        dataset = m.published.dataset
        colour = _COLOURS.get(dataset, "#2ca02c")
        if dataset not in datasets_seen:
            datasets_seen.append(dataset)
        x, y = per_image(m), m.published.top1_error
        ax.scatter(
            [x],
            [y],
            s=max(_MIN_AREA, scale * m.params),
            color=colour,
            alpha=0.4,
            edgecolors=colour,
            linewidths=1.2,
            zorder=3,
        )
        ax.scatter([x], [y], s=6, color="black", zorder=4)
    _label_points(fig, ax, [(m.name, per_image(m), m.published.top1_error) for m in plotted])

    batch = models[0].batch_size if models else 1
    ax.set_xlabel("multiply-accumulates per image (MACs; FLOPs = 2 x MACs), log scale")
    ax.set_ylabel("published top-1 error (%), lower is better")
    ax.set_title(title or "Published top-1 error vs. multiply-accumulates (marker area \u221d parameters)", fontsize=11)
    ax.grid(True, which="both", alpha=0.25, zorder=0)

    handles = [
        ax.scatter([], [], s=80, color=_COLOURS.get(d, "#2ca02c"), alpha=0.45, label=DATASETS.get(d, d))
        for d in datasets_seen
    ]
    for v in _size_legend_values(largest) if plotted else []:
        handles.append(
            ax.scatter(
                [],
                [],
                s=max(_MIN_AREA, scale * v),
                facecolors="none",
                edgecolors="0.3",
                label=f"{_count(v)} parameters",
            )
        )
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            labelspacing=2.2,
            handletextpad=1.8,
            borderpad=1.2,
            frameon=False,
        )

    notes = []
    if missing:
        notes.append("No published top-1 error on file (not plotted): " + ", ".join(missing))
    if no_macs:
        notes.append("No multiply-accumulates to place on a log axis (not plotted): " + ", ".join(no_macs))
    notes.append(
        f"MACs counted by cnnlab (conv + linear, batch {batch}) at each model's analysed input size; errors as "
        "published, under the protocol each source states (single crop, 10-crop, test scale) - not re-measured."
    )
    notes += [f"Note: {n}" for n in comparison.notes if "different datasets" in n or "default input sizes" in n]
    fig.text(0.01, 0.005, "\n".join(notes), fontsize=7, va="bottom", ha="left", wrap=True)
    fig.tight_layout(rect=(0, 0.03 + 0.025 * len(notes), 1, 1))

    save_figure(fig, path, dpi)
    return path
