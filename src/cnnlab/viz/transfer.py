"""Figures of transfer experiments: linear-probe accuracy per layer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._save import save_figure


def plot_probe(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Test (bars) and training (dots) accuracy per layer, chance level dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = result["layers"]
    names = [p["layer"] for p in layers]
    fig = Figure(figsize=(max(5.0, 1.0 + 0.9 * len(names)), 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = range(len(names))
    bars = ax.bar(xs, [p["test_acc"] for p in layers], color="#1f77b4", label="test")
    ax.plot(xs, [p["train_acc"] for p in layers], "o", color="#ff7f0e", label="train")
    for bar, p in zip(bars, layers):
        ax.annotate(
            f"{p['test_acc']:.1%}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height() / 2),
            ha="center",
            va="center",
            fontsize=8,
            color="white",
        )
    ax.axhline(1 / result["num_classes"], color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(list(xs), [f"{n}\n({p['features']})" for n, p in zip(names, layers)], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (linear probe)")
    ax.set_title(
        f"{result['model']} features on {result['dataset']} ({result['train_images']} training images)", fontsize=10
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
