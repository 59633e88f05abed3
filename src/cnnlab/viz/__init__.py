"""Figures drawn from cnnlab's data: the only part of cnnlab that imports matplotlib, and it
does so inside each function, so ``import cnnlab.viz`` stays cheap and needs no display."""

from ._save import figure_bytes
from .compare import plot_comparison
from .repro import plot_claim
from .training import (
    CurvePlotter,
    confusion_figure,
    curves_figure,
    lr_figure,
    plot_confusion_matrix,
    plot_curves,
    validation_curves_figure,
)
from .transfer import plot_probe

__all__ = [
    "CurvePlotter",
    "confusion_figure",
    "curves_figure",
    "figure_bytes",
    "lr_figure",
    "plot_claim",
    "plot_comparison",
    "plot_confusion_matrix",
    "plot_curves",
    "plot_probe",
    "validation_curves_figure",
]
