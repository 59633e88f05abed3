"""Figures drawn from cnnlab's data: the only part of cnnlab that imports matplotlib, and it
does so inside each function, so ``import cnnlab.viz`` stays cheap and needs no display."""

from .compare import plot_comparison
from .repro import plot_claim
from .training import CurvePlotter, plot_confusion_matrix, plot_curves
from .transfer import plot_probe

__all__ = ["CurvePlotter", "plot_claim", "plot_comparison", "plot_confusion_matrix", "plot_curves", "plot_probe"]
