"""The page of a folder of runs: the runs side by side, as ``cnnlab runs`` lists them, each
linked to its own page, and one chart of their validation curves (``cnnlab report DIR``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine.callbacks import read_jsonl
from ..engine.run import list_runs
from ..viz import validation_curves_figure
from .render import render, run_label, svg_uri


def runs_page(root: str | os.PathLike[str], page: str | os.PathLike[str], links: Mapping[str, Any]) -> str:
    """The HTML page of the runs under ``root``, to be written at ``page``; ``links`` maps each
    run folder (as ``list_runs`` names it) to its own page's path, or to the reason it has none."""
    root = Path(root)
    runs = sorted(list_runs(root), key=lambda r: r["run"])
    here = Path(page).resolve().parent
    rows, curves = [], []
    for r in runs:
        label = run_label(r["run"], root)
        target = links.get(r["run"])
        href = os.path.relpath(Path(target).resolve(), here).replace(os.sep, "/") if isinstance(target, Path) else None
        rows.append({**r, "label": label, "href": href, "problem": None if href else target})
        metrics = Path(r["run"]) / "metrics.jsonl"
        history = read_jsonl(metrics) if metrics.is_file() else []
        if history:
            curves.append((label, history))
    chart = (
        svg_uri(validation_curves_figure(curves, title=f"validation curves of the runs in {root.name}"))
        if curves
        else None
    )
    return render(
        "runs.html.j2",
        title=f"runs in {root.name or root}",
        root=str(root),
        runs=rows,
        chart=chart,
        version=__version__,
    )
