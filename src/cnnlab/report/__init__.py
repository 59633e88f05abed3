"""One self-contained HTML page for a run, a model, or a folder of runs (``cnnlab report``).

Every page is rendered by Jinja2 templates (``cnnlab/report/templates``, autoescaped) from
data the rest of cnnlab returns, with the figures ``cnnlab.viz`` draws inline (SVG, or PNG
for images), its style inline and no external address: it opens from disk with no network,
prints to PDF from the browser, and reads at phone and desktop widths.

    >>> from cnnlab.report import write_report
    >>> write_report("runs/demo-lenet5")          # runs/demo-lenet5/report.html
    >>> write_report("resnet50", "resnet50.html")  # the architecture page
    >>> write_report("runs")                       # runs/report.html and each run's page
"""

from .diagram import Diagram, network_diagram
from .model import model_page
from .pages import Target, classify, default_output, write_report
from .run import read_run, run_page
from .runs import runs_page

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
