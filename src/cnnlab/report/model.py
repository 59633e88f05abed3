"""The page of one registered model: its card, the paper's figures beside cnnlab's exact
counts, the stages, the per-layer table and a drawing of the network (``cnnlab report MODEL``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .. import __version__
from ..analysis import Analysis, analyze
from ..analysis.compare import stage_breakdown
from ..analysis.published import DATASETS, find_published
from ..analysis.report import table_lines
from ..models import create_model
from ..registry import ModelCard, model_card, model_options
from .diagram import network_diagram
from .render import render


def card_facts(card: ModelCard) -> dict[str, Any]:
    """A card as the page shows it: the paper, the table followed, exact counts beside the
    paper's printed ones, and the deviations."""
    return {
        "name": card.name,
        "family": card.family,
        "paper": card.paper.cite(),
        "table": card.table,
        "input": "x".join(map(str, card.input_size)),
        "classes": card.num_classes,
        "params": card.params,
        "paper_params": card.paper_params,
        "macs": card.macs,
        "paper_macs": card.paper_macs,
        "deviations": list(card.deviations),
        "notes": card.notes,
        "mean": ", ".join(f"{v:.4g}" for v in card.mean),
        "std": ", ".join(f"{v:.4g}" for v in card.std),
        "torchvision": card.torchvision.weights if card.torchvision else None,
    }


def totals(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(quantity, value, convention) rows: the totals, each with its unit."""
    size = "x".join(map(str, analysis.input_size))
    rows = [
        ("input", f"{size}, batch {analysis.batch_size}", "channels x height x width"),
        ("parameters", f"{analysis.params_total:,}", f"{analysis.params_trainable:,} trainable"),
        ("multiply-accumulates", f"{analysis.macs:,}", "conv + linear MACs per image (papers' 'multiply-adds')"),
        ("FLOPs", f"{analysis.flops:,}", "2 x MACs"),
        (
            "activations",
            f"{analysis.activation_elements:,}",
            "elements: input + conv, linear and pooling outputs (the lecture's rule)",
        ),
    ]
    if analysis.saved_bytes is not None:
        rows.append(("saved for backward", f"{analysis.saved_bytes:,} bytes", analysis.saved_note))
    for name, n in analysis.unused:
        rows.append((f"unused: {name}", f"{n:,}", "parameters this forward pass does not use (auxiliary heads)"))
    if analysis.trace_note:
        rows.append(("note", analysis.trace_note, ""))
    return rows


def layer_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per layer call: index, name, type, output shape, parameters, MACs, receptive field."""
    return [
        {
            "index": line.index,
            "label": line.label,
            "type": line.type,
            "kind": line.kind,
            "depth": line.depth,
            "output": line.output,
            "params": "shared" if line.shared else line.params,
            "macs": line.macs,
            "rf": line.rf.describe(),
        }
        for line in table_lines(analysis)
    ]


def stage_rows(analysis: Analysis, feature_info: Sequence | None) -> dict[str, Any]:
    stages, source = stage_breakdown(analysis, feature_info)
    return {
        "source": source,
        "rows": [
            {
                "name": s.name,
                "kind": s.kind,
                "rows": s.rows,
                "output": "x".join(map(str, s.output_shape[1:])) if s.output_shape else "-",
                "params": s.params,
                "params_share": s.params_share,
                "macs": s.macs,
                "macs_share": s.macs_share,
            }
            for s in stages
        ],
    }


def model_page(name: str, input_size: Sequence[int] | str | None = None) -> str:
    """The HTML page of registered model ``name`` at ``input_size`` (``(C, H, W)`` or
    ``"3x224x224"``; default: the card's)."""
    card = model_card(name)
    with torch.device("meta"):  # the structure only: no memory, no arithmetic
        model = create_model(name)
    analysis = analyze(model, input_size)
    published = find_published(name)
    return render(
        "model.html.j2",
        title=f"{name}: architecture",
        card=card_facts(card),
        options=model_options(name),
        published=None
        if published is None
        else {**published.to_dict(), "dataset_title": DATASETS.get(published.dataset, published.dataset)},
        totals=totals(analysis),
        size="x".join(map(str, analysis.input_size)),
        stages=stage_rows(analysis, getattr(model, "feature_info", None)),
        rows=layer_rows(analysis),
        diagram=network_diagram(analysis),
        version=__version__,
    )
