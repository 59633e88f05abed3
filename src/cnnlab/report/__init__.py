"""One self-contained HTML page for a run, a model, or a folder of runs (``cnnlab report``),
and the rich display of cnnlab's results in Jupyter, from the same templates.

Every page is rendered by Jinja2 templates (``cnnlab/report/templates``, autoescaped) from
data the rest of cnnlab returns, with the figures ``cnnlab.viz`` draws inline (SVG, or PNG
for images), its style inline and no external address: it opens from disk with no network,
prints to PDF from the browser, and reads at phone and desktop widths.

    >>> from cnnlab.report import write_report
    >>> write_report("runs/demo-lenet5")          # runs/demo-lenet5/report.html
    >>> write_report("resnet50", "resnet50.html")  # the architecture page
    >>> write_report("runs")                       # runs/report.html and each run's page

:mod:`cnnlab.report.notebook` renders ``Analysis``, ``Comparison``, ``ModelCard``,
``Explanation``, the runs table and a repro claim's result for Jupyter; ``import cnnlab``
imports it. The page modules load on first use (``cnnlab.report.write_report`` imports
:mod:`.pages`): the engine and torchvision they need are not part of ``import cnnlab``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagram import Diagram, network_diagram
    from .model import model_page
    from .pages import Target, classify, default_output, write_report
    from .run import read_run, run_page
    from .runs import runs_page

_WHERE = {
    "Diagram": "diagram",
    "network_diagram": "diagram",
    "model_page": "model",
    "Target": "pages",
    "classify": "pages",
    "default_output": "pages",
    "write_report": "pages",
    "read_run": "run",
    "run_page": "run",
    "runs_page": "runs",
}

__all__ = [
    "Diagram",
    "Target",
    "classify",
    "default_output",
    "model_page",
    "network_diagram",
    "read_run",
    "run_page",
    "runs_page",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
