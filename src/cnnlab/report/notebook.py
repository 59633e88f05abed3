"""What cnnlab's results show in Jupyter: each a block of HTML from the templates (and macros)
of ``cnnlab report``, registered in :mod:`cnnlab.display` by kind.

=================  =====================================  ======================================
kind               class                                  shows
=================  =====================================  ======================================
``analysis``       :class:`cnnlab.analysis.Analysis`      totals up front, stages, the per-layer
                                                          table and the network drawing collapsed
``model-card``     :class:`cnnlab.registry.ModelCard`     the card, the paper's figures beside
                                                          the exact counts, the deviations
``comparison``     :class:`cnnlab.analysis.Comparison`    the models side by side with ratios to
                                                          the baseline, notes, stages collapsed
``explanation``    :class:`cnnlab.explain.Explanation`    the figure ``cnnlab.viz`` draws (maps
                                                          over their images, colour bar in the
                                                          units; also as ``image/png``) and facts
``runs``           :class:`cnnlab.engine.run.RunTable`    the table of ``cnnlab report DIR``
``claim``          :class:`cnnlab.repro.ClaimResult`      each printed number, cnnlab's exact
                                                          value and the verdict
=================  =====================================  ======================================

``import cnnlab`` imports this module. It loads neither the engine nor ``cnnlab.viz`` (and so
matplotlib): an explanation's renderer imports ``viz`` when it first draws.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import torch

from ..analysis import Analysis
from ..analysis.compare import Comparison
from ..analysis.published import DATASETS, find_published
from ..display import register
from ..models import create_model
from ..registry import ModelCard, list_models, model_card, model_options
from .diagram import network_diagram
from .model import card_facts, layer_rows, stage_rows, totals
from .render import data_uri, png_bytes, render, run_label

# A display draws at most this many images of a batch (a figure grows one row per image);
# the facts say how many were left out.
MAX_IMAGES = 8
PNG_DPI = 72

# Each display's SVG gets its own ids, so two drawings in one notebook never share a marker.
_ids = itertools.count(1)


def _size(size: Any) -> str:
    return "x".join(map(str, size))


def _published(name: str) -> dict[str, Any] | None:
    published = find_published(name)
    if published is None:
        return None
    return {**published.to_dict(), "dataset_title": DATASETS.get(published.dataset, published.dataset)}


def _feature_info(name: str) -> list | None:
    """A registered model's stages (``feature_info``), from its structure on the meta device."""
    if name not in list_models():
        return None
    with torch.device("meta"):
        return list(getattr(create_model(name), "feature_info", []) or []) or None


# -- Analysis --------------------------------------------------------------------------------
def analysis_html(analysis: Analysis) -> str:
    size = _size(analysis.input_size)
    per = f"{size} image" if analysis.batch_size == 1 else f"batch of {analysis.batch_size} at {size}"
    family = model_card(analysis.model).family if analysis.model in list_models() else None
    return render(
        "display_analysis.html.j2",
        model=analysis.model,
        family=family,
        size=size,
        batch=analysis.batch_size,
        per=per,
        params=f"{analysis.params_total:,}",
        macs=f"{analysis.macs:,}",
        activations=f"{analysis.activation_elements:,}",
        totals=totals(analysis),
        stages=stage_rows(analysis, _feature_info(analysis.model)),
        rows=layer_rows(analysis),
        batch_note=f"MACs for one {per}.",
        diagram=network_diagram(analysis),  # runs of identical blocks fold: ResNet-152's fits
        id=f"cnnlab-analysis-{next(_ids)}",
    )


# -- ModelCard -------------------------------------------------------------------------------
def card_html(card: ModelCard) -> str:
    return render(
        "display_card.html.j2",
        card=card_facts(card),
        options=model_options(card.name) if card.name in list_models() else {},
        published=_published(card.name),
    )


# -- Comparison ------------------------------------------------------------------------------
def comparison_html(comparison: Comparison) -> str:
    models = []
    for m in comparison.models:
        p = m.published
        stages = {
            "source": m.stage_source,
            "rows": [
                {
                    "name": s.name if s.reduction is None else f"{s.name} (/{s.reduction}, {s.channels} ch)",
                    "rows": s.rows,
                    "output": _size(s.output_shape) if s.output_shape else "-",
                    "params": s.params,
                    "params_share": s.params_share,
                    "macs": s.macs,
                    "macs_share": s.macs_share,
                }
                for s in m.stages
            ],
        }
        models.append(
            {
                "name": m.name,
                "input": _size(m.input_size),
                "params": m.params,
                "params_ratio": m.params_ratio,
                "macs": m.macs,
                "macs_ratio": m.macs_ratio,
                "activations": m.activation_elements,
                "activations_ratio": m.activations_ratio,
                "saved_bytes": m.saved_bytes,
                "top1": None if p is None else f"{p.top1_error:g}",
                "top5": None if p is None or p.top5_error is None else f"{p.top5_error:g}",
                "dataset": p.dataset if p else None,
                "source": p.source if p else None,
                "protocol": p.protocol if p else None,
                "note": p.note if p else None,
                "stages": stages,
            }
        )
    return render(
        "display_comparison.html.j2",
        models=models,
        baseline=comparison.baseline,
        size=_size(comparison.input_size) if comparison.input_size else None,
        batch=comparison.models[0].batch_size if comparison.models else 1,
        notes=list(comparison.notes),
    )


# -- the runs table --------------------------------------------------------------------------
def runs_html(runs: Any) -> str:
    root = getattr(runs, "root", "runs")
    rows = [{**r, "label": run_label(r["run"], root), "href": None, "problem": None} for r in runs]
    return render("display_runs.html.j2", runs=rows, root=root)


# -- a repro claim's result ------------------------------------------------------------------
def claim_html(result: Any) -> str:
    claim = result.claim
    return render(
        "display_claim.html.j2",
        claim={
            "id": claim.id if claim else None,
            "title": claim.title if claim else None,
            "source": claim.source if claim else None,
            "checks": result.checks,
            "notes": result.notes,
            "artifacts": list(result.artifacts),
        },
        verdicts=[(n, verdict) for verdict, n in result.summary.items()],
    )


# -- Explanation -----------------------------------------------------------------------------
def _first(exp: Any, n: int) -> Any:
    """``exp`` with its first ``n`` images only: every per-image tensor (first dimension the
    batch) cut, settings and the rest kept."""
    count = len(exp)

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == count:
            return value[:n]
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return value

    return dataclasses.replace(
        exp,
        maps=exp.maps[:n],
        target=cut(exp.target),
        logits=cut(exp.logits),
        extras=cut(exp.extras),
        images=cut(exp.images),
    )


def _explanation_rows(exp: Any, shown: int) -> list[tuple[str, str]]:
    facts = exp.manifest()
    rows = [("method", exp.method), ("units", exp.units), ("maps", f"{_size(exp.maps.shape)} ({len(exp):,} images)")]
    if facts["maps_range"] is not None:
        lo, hi = facts["maps_range"]
        rows.append(("range of the maps", f"{lo:.4g} to {hi:.4g} {exp.units}"))
    if exp.layer:
        rows.append(("layer", exp.layer))
    if exp.target is not None:
        targets = exp.target.tolist()
        rows.append(("target classes", ", ".join(map(str, targets[:32])) + (" ..." if len(targets) > 32 else "")))
    if exp.logits is not None and exp.target is not None and exp.logits.dim() == 2:
        probs = exp.logits.float().softmax(1)
        predicted = probs.argmax(1)
        target_p = probs.gather(1, exp.target.long().view(-1, 1))[:, 0]
        rows.append(
            (
                "predicted (probability of the target)",
                ", ".join(f"{int(c)} ({float(p):.3f})" for c, p in zip(predicted[:32], target_p[:32]))
                + (" ..." if len(exp.target) > 32 else ""),
            )
        )
    settings = {k: v for k, v in facts["params"].items() if v is not None}
    if settings:
        rows.append(("settings", ", ".join(f"{k}={v}" for k, v in settings.items())))
    if exp.seed is not None:
        rows.append(("seed", str(exp.seed)))
    scalars = {
        k: v
        for k, v in facts["extras"].items()
        if isinstance(v, (bool, int, float, str))
        or (isinstance(v, list) and len(v) <= 8 and not any(isinstance(x, (list, dict)) for x in v))
    }
    for k, v in scalars.items():
        rows.append((k.replace("_", " "), ", ".join(map(_fmt, v)) if isinstance(v, list) else _fmt(v)))
    if shown < len(exp):
        rows.append(
            ("drawn", f"the first {shown:,} of {len(exp):,} images (index the explanation's tensors for the rest)")
        )
    return rows


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def explanation_bundle(exp: Any) -> dict[str, Any]:
    # viz (and with it matplotlib and the engine) loads with the first figure, not with
    # ``import cnnlab``, which imports this module: a table needs none of it.
    from ..viz.explain import HEATMAPS, IMAGES, SIGNED, plot_explanation

    per_image = exp.method in (*HEATMAPS, *SIGNED, *IMAGES)  # one row of the figure per image
    shown = min(len(exp), MAX_IMAGES) if per_image else len(exp)
    drawn = exp if shown == len(exp) else _first(exp, shown)
    try:
        png = png_bytes(plot_explanation(drawn, drawn.images), PNG_DPI)
    except ValueError:  # a method viz has no figure for: the facts alone
        png = None
    caption = f"{exp.method} as cnnlab.viz.plot_explanation draws it; colour bars in {exp.units}" + (
        ", each map beside the image it explains and over it." if drawn.images is not None else "."
    )
    html = render(
        "display_explanation.html.j2",
        method=exp.method,
        layer=exp.layer,
        units=exp.units,
        count=len(exp),
        figure=None if png is None else data_uri("image/png", png),
        alt=f"{exp.method} maps in {exp.units}",
        caption=caption,
        rows=_explanation_rows(exp, shown),
    )
    return {"text/html": html} if png is None else {"text/html": html, "image/png": png}


register("analysis", lambda obj: {"text/html": analysis_html(obj)})
register("model-card", lambda obj: {"text/html": card_html(obj)})
register("comparison", lambda obj: {"text/html": comparison_html(obj)})
register("runs", lambda obj: {"text/html": runs_html(obj)})
register("claim", lambda obj: {"text/html": claim_html(obj)})
register("explanation", explanation_bundle)
