"""Side-by-side comparison of networks: size, cost, memory and published error.

``compare()`` analyses each model once (meta device, nothing allocated) and returns plain
records; ``render_comparison()`` turns them into a text table, Markdown, CSV or JSON.

    >>> from cnnlab.analysis.compare import compare, render_comparison
    >>> c = compare(["alexnet_owt", "vgg16"])          # baseline: the first
    >>> c["vgg16"].params_ratio                         # 138,357,544 / 61,100,840
    2.264...
    >>> print(render_comparison(c, "table", stages=True))

Units, the same as ``analyze()``'s: ``params`` are parameter elements; ``macs`` are the
multiply-accumulates of convolutions and matrix products for one forward pass at the
analysed input and batch; ``flops = 2 * macs``; ``activation_elements`` are the input plus
every conv, linear and pooling output (the lecture's rule); ``saved_bytes`` are what autograd
keeps for backward in one training forward, measured.

Stages follow the model's ``feature_info``: stage *i* runs from the row after stage *i-1*
ended to the last row of ``feature_info[i].module`` (a container's last row, or the leaf row
itself), so a ResNet's ``conv2_x`` includes the max pooling before it, as in the paper's
Table 1. Rows before the first stage's container form the ``stem``; rows after the last
stage the ``head``; parameters the forward never used (auxiliary heads) an ``unused`` entry.
Stage parameters and multiply-accumulates therefore sum to the model's totals. Models
without ``feature_info`` are broken down by their top-level (depth-1) modules.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..display import RichDisplay
from ..errors import ConfigError
from ..models import create_model
from ..registry import list_models, model_card, model_options
from .capture import _input_size, analyze, parse_input_size
from .published import DATASETS, PublishedError, find_published
from .records import Analysis

SCHEMA = "cnnlab.comparison/1"
FORMATS = ("table", "md", "csv", "json")
UNITS = {
    "params": "parameter elements",
    "macs": "multiply-accumulates of convolutions and matrix products, "
    "one forward pass at the analysed input and batch",
    "flops": "2 x macs",
    "activation_elements": "input + every conv, linear and pooling output, elements, whole batch",
    "saved_bytes": "activations autograd saves for backward in one training forward, bytes, measured",
    "errors": "published top-1 / top-5 error in percent, under the protocol each entry states",
}


@dataclass(frozen=True)
class Stage:
    """One stage of a model: the rows ``first_row .. last_row`` (``None`` for the
    ``unused`` entry, which has parameters but no rows)."""

    name: str  # the feature_info module that ends it, or "stem" / "head" / "unused" / a depth-1 module
    kind: str  # "stem" | "stage" | "head" | "module" | "unused" | "unattributed"
    first_row: int | None
    last_row: int | None
    params: int
    macs: int
    activation_elements: int  # conv, linear and pooling outputs inside it (the input is in no stage)
    params_share: float  # of the model's params_total, 0..1
    macs_share: float  # of the model's macs, 0..1
    output_shape: tuple[int, ...] = ()
    channels: int | None = None  # feature_info's num_chs and reduction, for stages
    reduction: int | None = None

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def rows(self) -> str:
        return "-" if self.first_row is None else f"{self.first_row}-{self.last_row}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "first_row": self.first_row,
            "last_row": self.last_row,
            "params": self.params,
            "params_share": self.params_share,
            "macs": self.macs,
            "flops": self.flops,
            "macs_share": self.macs_share,
            "activation_elements": self.activation_elements,
            "output_shape": list(self.output_shape),
            "channels": self.channels,
            "reduction": self.reduction,
        }


@dataclass(frozen=True)
class ComparedModel:
    """One model's numbers in a comparison; ratios are this model's value over the
    baseline's (``None`` where the baseline's value is 0)."""

    name: str
    family: str | None
    year: int | None
    input_size: tuple[int, ...]
    batch_size: int
    params: int
    macs: int
    activation_elements: int
    activation_bytes: int
    saved_bytes: int | None
    published: PublishedError | None
    params_ratio: float | None
    macs_ratio: float | None
    activations_ratio: float | None
    stages: tuple[Stage, ...] = ()
    stage_source: str = ""  # "feature_info" or "depth-1 modules"
    analysis: Analysis | None = field(default=None, repr=False, compare=False)
    # The parameters the forward pass uses: auxiliary heads (GoogLeNet's, Inception-v3's),
    # which train only, are apart. None: not analysed here.
    params_inference: int | None = None

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def flops_ratio(self) -> float | None:
        return self.macs_ratio

    @property
    def top1_error(self) -> float | None:
        return self.published.top1_error if self.published else None

    @property
    def top5_error(self) -> float | None:
        return self.published.top5_error if self.published else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "year": self.year,
            "input_size": list(self.input_size),
            "batch_size": self.batch_size,
            "params": self.params,
            "params_inference": self.params_inference,
            "macs": self.macs,
            "flops": self.flops,
            "activation_elements": self.activation_elements,
            "activation_bytes": self.activation_bytes,
            "saved_bytes": self.saved_bytes,
            "ratios": {
                "params": self.params_ratio,
                "macs": self.macs_ratio,
                "flops": self.flops_ratio,
                "activation_elements": self.activations_ratio,
            },
            "published": self.published.to_dict() if self.published else None,
            "stage_source": self.stage_source,
            "stages": [s.to_dict() for s in self.stages],
        }


@dataclass(frozen=True, repr=False)
class Comparison(RichDisplay):
    """What ``compare()`` returns: the models in the order given, the baseline's name, the
    input size asked for (``None``: each model at its own default) and notes on what the
    numbers do and do not allow one to conclude. In Jupyter it displays as a table with
    the ratios to the baseline, the notes and each model's stages; ``repr()`` is one line."""

    display_kind = "comparison"

    models: tuple[ComparedModel, ...]
    baseline: str
    input_size: tuple[int, ...] | None
    notes: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.models)

    def __repr__(self) -> str:
        size = f" at {_size(self.input_size)}" if self.input_size else ""
        return f"<Comparison of {', '.join(self.names)}{size}, baseline {self.baseline}>"

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, name: str) -> ComparedModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"{name!r} is not in this comparison; it holds {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    @property
    def mixed_input_sizes(self) -> bool:
        return len({m.input_size for m in self.models}) > 1

    @property
    def without_published(self) -> tuple[str, ...]:
        """Models with no published error on file."""
        return tuple(m.name for m in self.models if m.published is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "baseline": self.baseline,
            "input_size": list(self.input_size) if self.input_size else None,
            "mixed_input_sizes": self.mixed_input_sizes,
            "units": dict(UNITS),
            "notes": list(self.notes),
            "models": [m.to_dict() for m in self.models],
        }


# -- building a comparison -------------------------------------------------------------------
def _meta_model(name: str) -> nn.Module:
    with torch.device("meta"):
        return create_model(name)


def _requested_size(input_size: Sequence[int] | str | None) -> tuple[int, ...] | None:
    if input_size is None:
        return None
    if isinstance(input_size, str):
        return parse_input_size(input_size)
    return _input_size(nn.Identity(), input_size, "compare")


def _analyse(
    entry: object, size: tuple[int, ...] | None, batch_size: int, measure_saved: bool
) -> tuple[Analysis, list | None]:
    """The analysis of one entry and its feature_info (``None`` when unknown)."""
    if isinstance(entry, str):
        model = _meta_model(entry)  # UnknownModelError names close matches
        return analyze(model, size, batch_size, measure_saved=measure_saved), list(
            getattr(model, "feature_info", []) or []
        ) or None
    if isinstance(entry, Analysis):
        if size is not None and tuple(entry.input_size) != size:
            raise ConfigError(
                f"the analysis of {entry.model} was made at {'x'.join(map(str, entry.input_size))}, not the "
                f"requested {'x'.join(map(str, size))}; pass the model's name instead, or analyse it at that size"
            )
        info = None
        if entry.model in list_models():
            info = list(getattr(_meta_model(entry.model), "feature_info", []) or []) or None
        return entry, info
    if isinstance(entry, nn.Module):
        return analyze(entry, size, batch_size, measure_saved=measure_saved), list(
            getattr(entry, "feature_info", []) or []
        ) or None
    raise ConfigError(
        "compare() takes registered model names, Analysis objects or nn.Modules, "
        f"got {type(entry).__name__} ({entry!r:.60})"
    )


def _ratio(value: int | None, base: int | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def _activation_outputs(rows: Sequence) -> int:
    return sum(r.out_elements for r in rows if r.kind in ("conv", "linear", "pool"))


def _stage(
    analysis: Analysis,
    name: str,
    kind: str,
    rows: Sequence,
    output_shape: tuple[int, ...] = (),
    channels: int | None = None,
    reduction: int | None = None,
) -> Stage:
    params = sum(r.params for r in rows)
    macs = sum(r.macs for r in rows)
    total_macs = analysis.macs
    return Stage(
        name=name,
        kind=kind,
        first_row=rows[0].index,
        last_row=rows[-1].index,
        params=params,
        macs=macs,
        activation_elements=_activation_outputs(rows),
        params_share=params / analysis.params_total if analysis.params_total else 0.0,
        macs_share=macs / total_macs if total_macs else 0.0,
        output_shape=output_shape or rows[-1].output_shape,
        channels=channels,
        reduction=reduction,
    )


def _feature_stages(analysis: Analysis, feature_info: Sequence) -> list[Stage] | None:
    """Stages ending at each feature_info module; ``None`` if a module is not in the trace
    or the modules do not end in execution order."""
    rows = analysis.rows
    position = {r.index: i for i, r in enumerate(rows)}
    containers = {m.name: m for m in analysis.modules if m.call == 0 and m.name}
    leaves = {}
    for r in rows:
        if r.call == 0:
            leaves.setdefault(r.name, r.index)
    bounds = []
    for info in feature_info:
        if info.module in containers:
            m = containers[info.module]
            bounds.append(
                (info, position[m.first_row], position[m.last_row], m.output_shapes[0] if m.output_shapes else ())
            )
        elif info.module in leaves:
            i = position[leaves[info.module]]
            bounds.append((info, i, i, ()))
        else:
            return None
    ends = [end for _, _, end, _ in bounds]
    if any(b <= a for a, b in zip(ends, ends[1:])):
        return None
    stages = []
    start = 0
    first_info, first_start, _, _ = bounds[0]
    if first_info.module in containers and first_start > 0:
        stages.append(_stage(analysis, "stem", "stem", rows[:first_start]))
        start = first_start
    for info, _, end, shape in bounds:
        stages.append(
            _stage(analysis, info.module, "stage", rows[start : end + 1], shape, info.num_chs, info.reduction)
        )
        start = end + 1
    if start < len(rows):
        stages.append(_stage(analysis, "head", "head", rows[start:]))
    return stages


def _module_stages(analysis: Analysis) -> list[Stage]:
    """Consecutive rows grouped by their top-level (depth-1) module."""
    groups: list[tuple[str, list]] = []
    for r in analysis.rows:
        key = r.name.split(".")[0] or r.name
        if groups and groups[-1][0] == key:
            groups[-1][1].append(r)
        else:
            groups.append((key, [r]))
    return [_stage(analysis, key, "module", rows) for key, rows in groups]


def stage_breakdown(analysis: Analysis, feature_info: Sequence | None = None) -> tuple[tuple[Stage, ...], str]:
    """``(stages, source)``: the stages of ``analysis`` from ``feature_info`` (see the module
    docstring), or by depth-1 module when it is missing or does not fit the trace. Unused
    parameters get their own entry, so parameters and multiply-accumulates sum to the totals."""
    stages = _feature_stages(analysis, feature_info) if feature_info and analysis.rows else None
    source = "feature_info"
    if stages is None:
        stages = _module_stages(analysis) if analysis.rows else []
        source = "depth-1 modules"
    total = analysis.params_total
    unused = sum(p for _, p in analysis.unused)
    if unused:
        names = ", ".join(n for n, _ in analysis.unused)
        stages.append(
            Stage(f"unused ({names})", "unused", None, None, unused, 0, 0, unused / total if total else 0.0, 0.0)
        )
    rest = total - sum(s.params for s in stages)
    if rest:
        # parameters the rows did not attribute (none for the registered models); kept so the sums hold
        stages.append(
            Stage("unattributed", "unattributed", None, None, rest, 0, 0, rest / total if total else 0.0, 0.0)
        )
    return tuple(stages), source


def compare(
    models: Sequence[str | Analysis | nn.Module] | str,
    baseline: str | None = None,
    input_size: Sequence[int] | str | None = None,
    *,
    batch_size: int = 1,
    measure_saved: bool = True,
) -> Comparison:
    """Compare ``models`` (registered names, ``Analysis`` objects or ``nn.Module``\\s) on
    parameters, multiply-accumulates, FLOPs, activations, saved activations and published
    error, with ratios to ``baseline`` (a name among them; default: the first) and a
    per-stage breakdown.

    Each model runs at ``input_size`` when given (one sample: ``(3, 224, 224)`` or
    ``"3x224x224"``), otherwise at its own default size; the notes say when sizes differ.
    Published errors are looked up by name (ImageNet or CIFAR-10, see ``published``) and
    describe the registered default configuration."""
    if isinstance(models, (str, Analysis, nn.Module)):
        models = [models]
    models = list(models)
    if not models:
        raise ConfigError("compare() needs at least one model, got none; pass names such as ['alexnet_owt', 'vgg16']")
    size = _requested_size(input_size)
    if baseline is not None and all(isinstance(m, str) for m in models) and baseline not in models:
        raise ConfigError(
            f"baseline {baseline!r} is not among the compared models ({', '.join(models)}); "
            f"add it to the list or pick one of them"
        )
    analysed = [_analyse(m, size, batch_size, measure_saved) for m in models]
    raw = [a.model for a, _ in analysed]
    for i, (a, info) in enumerate(analysed):  # unregistered modules of one class: number them
        if not isinstance(models[i], str) and raw.count(a.model) > 1:
            analysed[i] = (dataclasses.replace(a, model=f"{a.model}#{raw[: i + 1].count(a.model)}"), info)
    names = [a.model for a, _ in analysed]
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{name} is listed twice; compare each model once")
        seen.add(name)
    batches = {a.batch_size for a, _ in analysed}
    if len(batches) > 1:
        raise ConfigError(
            "the analyses have different batch sizes "
            f"({', '.join(f'{a.model}: {a.batch_size}' for a, _ in analysed)}); "
            "compare analyses made at one batch size"
        )
    if baseline is None:
        baseline = names[0]
    elif baseline not in names:
        raise ConfigError(
            f"baseline {baseline!r} is not among the compared models ({', '.join(names)}); "
            f"add it to the list or pick one of them"
        )
    base = analysed[names.index(baseline)][0]

    compared = []
    for analysis, info in analysed:
        card = None
        if analysis.model in list_models():
            card = model_card(analysis.model)
        stages, source = stage_breakdown(analysis, info)
        compared.append(
            ComparedModel(
                name=analysis.model,
                family=card.family if card else None,
                year=card.paper.year if card else None,
                input_size=tuple(analysis.input_size),
                batch_size=analysis.batch_size,
                params=analysis.params_total,
                macs=analysis.macs,
                activation_elements=analysis.activation_elements,
                activation_bytes=analysis.activation_bytes,
                saved_bytes=analysis.saved_bytes,
                published=find_published(analysis.model) if _as_published(analysis, card) else None,
                params_ratio=_ratio(analysis.params_total, base.params_total),
                macs_ratio=_ratio(analysis.macs, base.macs),
                activations_ratio=_ratio(analysis.activation_elements, base.activation_elements),
                stages=stages,
                stage_source=source,
                analysis=analysis,
                params_inference=analysis.params_used,
            )
        )
    return Comparison(tuple(compared), baseline, size, tuple(_notes(compared, size, baseline)))


def inference_params(name: str) -> int | None:
    """The parameters a registered model's forward pass uses, for a model built by default
    with auxiliary heads (``aux_logits=True``: GoogLeNet, Inception-v3), whose heads only
    train; None for the others (every parameter is the inference model's)."""
    if model_options(name).get("aux_logits") is not True:
        return None
    return analyze(name, measure_saved=False).params_used


def _as_published(analysis: Analysis, card: object) -> bool:
    """A paper's error describes its model at its input size and classes only: the card's
    exact parameter count stands for "built with the default options"."""
    return (
        card is not None
        and tuple(analysis.input_size) == tuple(card.input_size)
        and analysis.params_total == card.params
    )


def _notes(models: Sequence[ComparedModel], size: tuple[int, ...] | None, baseline: str | None = None) -> list[str]:
    notes = []
    base = next((m for m in models if m.name == baseline), None)
    for m in models:
        used = m.params_inference
        if used is not None and used < m.params:
            ratio = ""
            if base is not None and base is not m and base.params_inference:
                ratio = f"; {baseline} uses {base.params_inference / used:.1f}x as many at inference"
            notes.append(
                f"{m.name}: {m.params:,} parameters, {used:,} at inference: the other {m.params - used:,} are "
                f"heads the forward pass does not use (auxiliary classifiers, trained only){ratio}"
            )
    altered = [m.name for m in models if m.published is None and m.name in list_models() and find_published(m.name)]
    if altered:
        notes.append(
            "published errors left out for " + ", ".join(altered) + ": analysed at another input size or with other "
            "options than the published model"
        )
    sizes = {m.input_size for m in models}
    if size is not None:
        notes.append(f"every model analysed at input {_size(size)} (batch {models[0].batch_size})")
    elif len(sizes) > 1 and len({tuple(s[1:]) for s in sizes}) == 1:  # one image size, each model's own channels
        each = ", ".join(f"{m.name} {_size(m.input_size)}" for m in models)
        notes.append(
            f"every model analysed at {_size(next(iter(sizes))[1:])} pixels, each with its own input channels ({each})"
        )
    elif len(sizes) > 1:
        each = ", ".join(f"{m.name} {_size(m.input_size)}" for m in models)
        notes.append(
            f"models run at their own default input sizes ({each}): multiply-accumulates and activations "
            "are per forward pass at those sizes, not like for like; pass an input size to compare at one size"
        )
    datasets = {m.published.dataset for m in models if m.published}
    if len(datasets) > 1:
        notes.append(
            "published errors come from different datasets ("
            + ", ".join(DATASETS[d] for d in sorted(datasets))
            + "); do not rank across them"
        )
    protocols = {m.published.protocol for m in models if m.published}
    if len(protocols) > 1:
        notes.append(
            "published errors were measured under different protocols "
            "(10-crop, single crop, test scale); see each source"
        )
    missing = [m.name for m in models if m.published is None and m.name not in altered]
    if missing:
        notes.append("no verified published error on file for: " + ", ".join(missing))
    return notes


# -- rendering --------------------------------------------------------------------------------
def _size(size: Sequence[int]) -> str:
    return "x".join(map(str, size))


def _human(n: int | None) -> str:
    """138357544 -> '138.4M', 15470264320 -> '15.47G'."""
    if n is None:
        return "-"
    for unit, scale, digits in (("T", 1e12, 2), ("G", 1e9, 2), ("M", 1e6, 1), ("K", 1e3, 1)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{unit}"
    return str(n)


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _x(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:.3g}x" if r < 100 else f"{r:.0f}x"


def _err(e: float | None) -> str:
    return "-" if e is None else f"{e:g}"


def _pct(f: float) -> str:
    return f"{100 * f:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


_MODEL_HEADER = (
    "model",
    "input",
    "params",
    "x params",
    "MACs",
    "x MACs",
    "activations",
    "x act.",
    "saved (train)",
    "top-1 err %",
    "top-5 err %",
    "data",
)
_MODEL_ALIGN = "llrrrrrrrrrl"
_STAGE_HEADER = ("stage", "kind", "rows", "output", "params", "% params", "MACs", "% MACs", "activations")
_STAGE_ALIGN = "llrlrrrrr"


def _model_cells(m: ComparedModel) -> list[str]:
    p = m.published
    return [
        m.name,
        _size(m.input_size),
        _human(m.params),
        _x(m.params_ratio),
        _human(m.macs),
        _x(m.macs_ratio),
        _human(m.activation_elements),
        _x(m.activations_ratio),
        _bytes(m.saved_bytes),
        _err(p.top1_error if p else None),
        _err(p.top5_error if p else None),
        p.dataset if p else "-",
    ]


def _stage_cells(s: Stage) -> list[str]:
    label = s.name if s.reduction is None else f"{s.name} (/{s.reduction}, {s.channels} ch)"
    return [
        label,
        s.kind,
        s.rows,
        _size(s.output_shape) if s.output_shape else "-",
        _human(s.params),
        _pct(s.params_share),
        _human(s.macs),
        _pct(s.macs_share),
        _human(s.activation_elements),
    ]


def _footer(c: Comparison) -> list[str]:
    batch = c.models[0].batch_size
    lines = [
        f"baseline: {c.baseline} (x columns are model / baseline)",
        f"units: params = parameter elements; MACs = multiply-accumulates of conv and linear layers per forward pass "
        f"(batch {batch}); FLOPs = 2 x MACs; activations = input + conv/linear/pool output elements; "
        f"saved (train) = activations autograd keeps for backward, measured, {c.models[0].analysis.dtype}",
        "published errors (%):",
    ]
    width = max(len(m.name) for m in c.models)
    for m in c.models:
        p = m.published
        if p is None:
            lines.append(f"  {m.name.ljust(width)}  none on file (not verified, so not shown)")
        else:
            lines.append(f"  {m.name.ljust(width)}  {p.source}; {p.protocol}" + (f" [{p.note}]" if p.note else ""))
    lines += [f"note: {n}" for n in c.notes]
    return lines


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


def _csv_models(c: Comparison) -> str:
    header = [
        "model",
        "family",
        "year",
        "input",
        "batch_size",
        "params",
        "params_ratio",
        "macs",
        "macs_ratio",
        "flops",
        "activation_elements",
        "activations_ratio",
        "saved_bytes",
        "dataset",
        "top1_error",
        "top5_error",
        "protocol",
        "source",
        "baseline",
    ]
    rows = []
    for m in c.models:
        p = m.published
        rows.append(
            [
                m.name,
                m.family or "",
                m.year or "",
                _size(m.input_size),
                m.batch_size,
                m.params,
                _num(m.params_ratio),
                m.macs,
                _num(m.macs_ratio),
                m.flops,
                m.activation_elements,
                _num(m.activations_ratio),
                "" if m.saved_bytes is None else m.saved_bytes,
                p.dataset if p else "",
                _num(p.top1_error if p else None),
                _num(p.top5_error if p else None),
                p.protocol if p else "",
                p.source if p else "",
                c.baseline,
            ]
        )
    return _csv(header, rows)


def _csv_stages(c: Comparison) -> str:
    header = [
        "model",
        "stage",
        "kind",
        "first_row",
        "last_row",
        "output_shape",
        "channels",
        "reduction",
        "params",
        "params_share",
        "macs",
        "macs_share",
        "activation_elements",
        "stage_source",
    ]
    rows = []
    for m in c.models:
        for s in m.stages:
            rows.append(
                [
                    m.name,
                    s.name,
                    s.kind,
                    "" if s.first_row is None else s.first_row,
                    "" if s.last_row is None else s.last_row,
                    _size(s.output_shape) if s.output_shape else "",
                    "" if s.channels is None else s.channels,
                    "" if s.reduction is None else s.reduction,
                    s.params,
                    _num(s.params_share),
                    s.macs,
                    _num(s.macs_share),
                    s.activation_elements,
                    m.stage_source,
                ]
            )
    return _csv(header, rows)


def _num(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(v)


def render_comparison(comparison: Comparison, format: str = "table", *, stages: bool = False) -> str:
    """``comparison`` as ``"table"`` (aligned text), ``"md"`` (Markdown), ``"csv"`` (one row
    per model; with ``stages=True`` one row per stage instead) or ``"json"`` (everything,
    stages included). ``stages=True`` adds each model's stage table to the text formats."""
    if format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    c = comparison
    if format == "json":
        return json.dumps(c.to_dict(), indent=2)
    if format == "csv":
        return _csv_stages(c) if stages else _csv_models(c)
    rows = [_model_cells(m) for m in c.models]
    if format == "table":
        parts = [_table(_MODEL_HEADER, rows, _MODEL_ALIGN), "", *_footer(c)]
        if stages:
            for m in c.models:
                parts += [
                    "",
                    f"{m.name}: stages from {m.stage_source}, input {_size(m.input_size)}",
                    _table(_STAGE_HEADER, [_stage_cells(s) for s in m.stages], _STAGE_ALIGN),
                ]
        return "\n".join(parts)
    parts = [_markdown(_MODEL_HEADER, rows, _MODEL_ALIGN), ""]
    parts += [f"- {line.strip()}" for line in _footer(c)]
    if stages:
        for m in c.models:
            parts += [
                "",
                f"**{m.name}**: stages from {m.stage_source}, input {_size(m.input_size)}",
                "",
                _markdown(_STAGE_HEADER, [_stage_cells(s) for s in m.stages], _STAGE_ALIGN),
            ]
    return "\n".join(parts)


__all__ = [
    "FORMATS",
    "SCHEMA",
    "ComparedModel",
    "Comparison",
    "Stage",
    "compare",
    "render_comparison",
    "stage_breakdown",
]
