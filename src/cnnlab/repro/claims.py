"""Reproductions: numbers printed on lecture slides and in papers, recomputed by cnnlab.

Each ``Claim`` cites its source and runs to a ``ClaimResult``: one ``Check`` per printed
number, side by side with the value cnnlab computes (through ``analyze``, a registered model,
or a small ``nn.Module`` built in the claim), and a verdict from ``VERDICTS``. The slide's
numbers are typed in here, as printed: they are what is being checked. cnnlab's numbers are
never typed in.

Functions return data; the CLI (``cnnlab repro``) renders it. ``claim_to_dict`` gives the
versioned JSON form (``SCHEMA``).

The registry holds claims of any ``kind``: ``"count"`` claims (shapes, parameters,
multiply-adds, memory; seconds on the meta device or a tiny CPU net) and, later, ``"training"``
experiments, whose ``run`` may take options (``run_claim(id, out_dir=..., device=...)``
forwards keyword arguments) and list the files it wrote (plots, logs) in ``artifacts``.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from ..analysis.capture import analyze
from ..analysis.receptive_field import empirical_region
from ..analysis.records import Analysis, LayerRecord
from ..display import RichDisplay
from ..errors import ConfigError
from ..models import create_model
from ..models.googlenet import PRINTED_PARAMS_OFF, TABLE1
from ..models.googlenet import Conv as G_Conv
from ..models.googlenet import Inception as G_Inception
from ..models.googlenet import Softmax as G_Softmax

SCHEMA = "cnnlab.repro/1"

# The verdicts, in the order the summaries list them.
VERDICTS = {
    "agrees": "cnnlab computes exactly the printed number (or the same shape)",
    "rounding": "the printed number is cnnlab's exact value to within one unit of the last "
    "significant digit printed: rounded, truncated, or one unit off in that digit (the "
    "explanation says which)",
    "slide inconsistent": "the printed number does not follow from the source's own other numbers "
    "(its filter counts, its rows, its formula); cnnlab's value is what they give",
    "differs": "cnnlab computes something else on purpose (another variant, layer order or "
    "convention, named in the explanation); neither number is an arithmetic slip",
}

# The verdicts of training experiments: a measured effect, not an exact number.
TRAINING_VERDICTS = {
    "reproduced": "the measurement shows what the source says, within the tolerance the check states",
    "not reproduced": "the measurement does not show it; the explanation gives the numbers",
    "inconclusive": "a run the check compares did not learn (its error is not clearly below chance, by the "
    "threshold the check states), so the comparison says nothing either way",
}

# What a claim's kind promises about its run.
KINDS = {
    "count": "shapes, parameters, multiply-adds and memory from cnnlab's analysis; seconds, no data",
    "training": "a training experiment: minutes or more, real data, writes plots (artifacts)",
}


# -- data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One printed number next to cnnlab's.

    ``slide`` is the source's text as printed ("(11*11*3)*96 = 35K", "55x55x96"); a number
    after the last "=" is the one compared. ``cnnlab`` is the computed value: an exact count,
    or a shape written as the source writes shapes (H x W x C)."""

    quantity: str
    slide: str | int | float
    cnnlab: str | int | float
    verdict: str
    explanation: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS and self.verdict not in TRAINING_VERDICTS:
            known = ", ".join((*VERDICTS, *TRAINING_VERDICTS))
            raise ValueError(f"verdict {self.verdict!r} of {self.quantity!r} is not one of {known}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "slide": self.slide,
            "cnnlab": self.cnnlab,
            "verdict": self.verdict,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Claim:
    """A source's claim and the function that checks it. ``run(**options)`` returns a
    ``ClaimResult``; count claims take no options."""

    id: str
    title: str
    source: str
    run: Callable[..., ClaimResult]
    kind: str = "count"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r} has kind {self.kind!r}; choose one of {', '.join(KINDS)}")


@dataclass(frozen=True, repr=False)
class ClaimResult(RichDisplay):
    """The checks of one claim, free-text notes (computed facts without a printed number to
    compare) and the files a run wrote (``artifacts``; none for count claims).
    ``run_claim`` fills in ``claim``. In Jupyter it displays as a table: each quantity, the
    number as the deck prints it, cnnlab's exact value and the verdict; ``repr()`` is one line."""

    display_kind = "claim"

    checks: tuple[Check, ...]
    notes: str = ""
    artifacts: tuple[str, ...] = ()
    claim: Claim | None = None
    # A training experiment's measured curves and statistics (plain lists and numbers),
    # which ``cnnlab.viz.plot_claim`` draws.
    series: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "artifacts", tuple(self.artifacts))
        seen = Counter(c.quantity for c in self.checks)
        twice = [q for q, n in seen.items() if n > 1]
        if twice:
            raise ValueError(f"quantities must be unique within a claim; repeated: {', '.join(twice)}")

    def __repr__(self) -> str:
        name = self.claim.id if self.claim else "claim"
        counts = ", ".join(f"{n} {verdict}" for verdict, n in self.summary.items() if n)
        return f"<ClaimResult {name}: {len(self.checks)} checks ({counts or 'none'})>"

    def check(self, quantity: str) -> Check:
        for c in self.checks:
            if c.quantity == quantity:
                return c
        raise KeyError(f"no check {quantity!r}; the checks are: {', '.join(c.quantity for c in self.checks)}")

    @property
    def summary(self) -> dict[str, int]:
        """How many checks got each verdict (every verdict of the claim's kind listed, in
        ``VERDICTS`` or ``TRAINING_VERDICTS`` order)."""
        counts = Counter(c.verdict for c in self.checks)
        kinds = TRAINING_VERDICTS if any(v in TRAINING_VERDICTS for v in counts) else VERDICTS
        return {v: counts.get(v, 0) for v in kinds}


# -- registry -----------------------------------------------------------------------------
_CLAIMS: dict[str, Claim] = {}


def register_claim(
    id: str, title: str, source: str, kind: str = "count"
) -> Callable[[Callable[..., ClaimResult]], Callable[..., ClaimResult]]:
    """Decorator: register ``run`` as the claim ``id``."""

    def wrap(run: Callable[..., ClaimResult]) -> Callable[..., ClaimResult]:
        if id in _CLAIMS:
            raise ValueError(f"claim {id!r} is already registered ({_CLAIMS[id].title}); choose another id")
        _CLAIMS[id] = Claim(id=id, title=title, source=source, run=run, kind=kind)
        return run

    return wrap


def list_claims(kind: str | None = None) -> list[Claim]:
    """The registered claims in registration order; ``kind`` keeps one kind only."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown claim kind {kind!r}; choose one of {', '.join(KINDS)}")
    return [c for c in _CLAIMS.values() if kind is None or c.kind == kind]


def get_claim(claim_id: str) -> Claim:
    try:
        return _CLAIMS[claim_id]
    except KeyError:
        raise ConfigError(
            f"unknown claim {claim_id!r}; choose one of {', '.join(_CLAIMS)} (or 'all'; see `cnnlab repro list`)"
        ) from None


def run_claim(claim_id: str, **options: Any) -> ClaimResult:
    """Run one claim; ``options`` go to its ``run`` (count claims take none)."""
    claim = get_claim(claim_id)
    try:
        inspect.signature(claim.run).bind(**options)
    except TypeError as err:
        raise ConfigError(
            f"claim {claim_id!r} does not take the options {sorted(options)} ({err}); "
            f"it accepts: {', '.join(inspect.signature(claim.run).parameters) or 'no options'}"
        ) from None
    result = claim.run(**options)
    return replace(result, claim=claim)


def claim_to_dict(result: ClaimResult) -> dict[str, Any]:
    """Plain, versioned data for JSON."""
    claim = result.claim
    return {
        "schema": SCHEMA,
        "id": claim.id if claim else None,
        "title": claim.title if claim else None,
        "source": claim.source if claim else None,
        "kind": claim.kind if claim else None,
        "checks": [c.to_dict() for c in result.checks],
        "summary": result.summary,
        "notes": result.notes,
        "artifacts": list(result.artifacts),
        "series": result.series,
    }


# -- comparing a printed number with an exact one ------------------------------------------
_MULTIPLIERS = {"K": 10**3, "M": 10**6, "G": 10**9}
_NUMBER = re.compile(
    r"^~?\s*(?P<mant>\d[\d,]*(?:\.\d+)?)\s*(?:(?P<suffix>[KMG])|x\s*10\^(?P<exp>\d+))?\s*(?P<unit>[A-Za-z/ ]*)$"
)
_PRODUCT = re.compile(r"^\d+(?:\s*[x*]\s*\d+)+$")


@dataclass(frozen=True)
class Printed:
    """A printed number: ``mantissa`` in units of ``multiplier``, and ``step``, one unit of its
    last significant printed digit (in the same units; 0 for an exact number)."""

    mantissa: Fraction
    multiplier: int
    step: Fraction
    suffix: str


def parse_printed(text: str, units: Mapping[str, int] | None = None, zeros_significant: bool = False) -> Printed | None:
    """'(11*11*3)*96 = 35K' -> 35 x 1000, last digit 1K; '28x28x128x1x1x256' -> the product,
    exact; '1.8 x 10^9'; '~96MB'. A number after the last '=' is the one read; ``None`` when
    the text is no number.

    Significance: a whole number written out in full ('4,096,000', '1000') is exact; a
    decimal ('3.2M') to its last decimal; a whole mantissa before a multiplier ('800K', '120M')
    is read to two significant figures, its further trailing zeros being placeholders, unless
    ``zeros_significant`` (tables that print whole units everywhere: GoogLeNet's '840K').
    ``units`` overrides the multipliers (Table 1's K = 1024)."""
    text = str(text).strip()
    if "=" in text:
        text = text.rsplit("=", 1)[1].strip()
    if _PRODUCT.match(text):
        value = math.prod(int(p) for p in re.split(r"\s*[x*]\s*", text))
        return Printed(Fraction(value), 1, Fraction(0), "")
    m = _NUMBER.match(text)
    if not m:
        return None
    mant = m["mant"].replace(",", "")
    multipliers = dict(_MULTIPLIERS, **(units or {}))
    if m["suffix"]:
        mult, suffix = multipliers[m["suffix"]], m["suffix"]
    elif m["exp"]:
        mult, suffix = 10 ** int(m["exp"]), f" x 10^{m['exp']}"
    else:
        mult, suffix = 1, ""
    if "." in mant:
        step = Fraction(1, 10 ** len(mant.split(".")[1]))
    elif mult == 1:
        step = Fraction(0)  # written out in full: exact
    elif zeros_significant:
        step = Fraction(1)
    else:
        digits = mant.lstrip("0")
        zeros = len(digits) - len(digits.rstrip("0"))
        step = Fraction(10) ** max(0, min(zeros, len(digits) - 2))
    return Printed(Fraction(mant), mult, step, suffix)


def _show(v: Fraction) -> str:
    return f"{float(v):,.6g}" if v.denominator != 1 else f"{int(v):,}"


def compare(
    slide: str | int | float,
    value: str | int | float,
    units: Mapping[str, int] | None = None,
    zeros_significant: bool = False,
) -> tuple[str | None, str]:
    """``("agrees", "")`` when ``value`` is exactly the printed number; ``("rounding", how)``
    when the printed number is within one unit of its last significant digit of ``value``
    (``how`` says whether it is rounded, truncated, or one unit off in that digit); ``(None,
    "")`` otherwise. Shapes and other text compare as text (after the last '=')."""
    if isinstance(value, str) or isinstance(slide, str) and parse_printed(slide, units) is None:
        printed = str(slide).rsplit("=", 1)[-1].strip()
        return ("agrees", "") if printed == str(value).strip() else (None, "")
    if isinstance(slide, str):
        p = parse_printed(slide, units, zeros_significant)
    else:
        p = Printed(Fraction(slide), 1, Fraction(0), "")
    v = Fraction(value) / p.multiplier
    if v == p.mantissa:
        return "agrees", ""
    if abs(v - p.mantissa) > p.step:
        return None, ""
    step, suffix = p.step, p.suffix
    rounded = math.floor(v / step + Fraction(1, 2)) * step
    truncated = math.floor(v / step) * step
    shown = f"{_show(Fraction(value))}" + ("" if p.multiplier == 1 else f" / {p.multiplier:,} = {_show(v)}")
    if rounded == p.mantissa:
        return "rounding", f"{shown}, rounded to the nearest {_show(step)}{suffix}"
    if truncated == p.mantissa:
        return (
            "rounding",
            f"{shown}, truncated to {_show(step)}{suffix} (rounding would print {_show(rounded)}{suffix})",
        )
    return (
        "rounding",
        f"{shown}: the printed {_show(p.mantissa)}{suffix} is one unit ({_show(step)}{suffix}) off in its last digit "
        f"(rounding would print {_show(rounded)}{suffix})",
    )


def _check(
    quantity: str,
    slide: str,
    value: str | int | float,
    explanation: str = "",
    *,
    otherwise: str = "differs",
    units: Mapping[str, int] | None = None,
    zeros_significant: bool = False,
) -> Check:
    """A check whose verdict ``compare`` decides; ``otherwise`` names what a mismatch means
    for this quantity ("slide inconsistent" or "differs"), and the explanation says why."""
    verdict, how = compare(slide, value, units, zeros_significant)
    if verdict is None:
        verdict = otherwise
    if how:
        explanation = f"{explanation} [{how}]" if explanation else how
    return Check(quantity, slide, value, verdict, explanation)


# -- shared helpers -----------------------------------------------------------------------
def _hwc(shape: Sequence[int], vector: str = "plain") -> str:
    """(N, C, H, W) -> 'HxWxC' as the slides write shapes; a vector (N, C) -> 'C', or
    '1x1xC' with ``vector='1x1'``."""
    dims = tuple(shape[1:])
    if len(dims) == 1:
        return f"1x1x{dims[0]}" if vector == "1x1" else str(dims[0])
    return "x".join(str(d) for d in (*dims[1:], dims[0]))


def _size_formula(r: LayerRecord) -> str:
    """O = (I - K + 2P)/S + 1 worked out on the last axis, from the record's own fields;
    PyTorch floors the division."""
    i, k = r.input_shapes[0][-1], r.kernel[-1]
    s, p = r.stride[-1], r.padding[-1]
    exact = Fraction(i - k + 2 * p, s) + 1
    out = r.output_shape[-1]
    text = f"O = (I - K + 2P)/S + 1 = ({i} - {k} + 2*{p})/{s} + 1 = {_show(exact)}"
    if exact != out:
        text += f", floored to {out}"
    return text


def _conv_weights(r: LayerRecord) -> str:
    """'(11*11*3)*96 = 34,848 weights' from the record's kernel and channels."""
    cin = r.input_shapes[0][1] // (r.groups or 1)
    cout = r.output_shape[1]
    k = "*".join(str(v) for v in r.kernel)
    return f"({k}*{cin})*{cout} = {r.weights:,} weights"


def _fc_weights(r: LayerRecord) -> str:
    return f"{r.input_shapes[0][-1]}*{r.output_shape[-1]} = {r.weights:,} weights"


def _region(bounds: tuple[tuple[int, int], ...]) -> str:
    return "x".join(f"{lo}-{hi}" for lo, hi in bounds)


def _extent(bounds: tuple[tuple[int, int], ...]) -> str:
    return "x".join(str(hi - lo + 1) for lo, hi in bounds)


CS231N_L5 = "CS231n (Stanford, 2017), Lecture 5 'Convolutional Neural Networks'"
CS231N_L9 = "CS231n (Stanford, 2017), Lecture 9 'CNN Architectures'"


# -- a. AlexNet ---------------------------------------------------------------------------
# The slide's "Full (simplified) AlexNet architecture": (slide row, cnnlab row, output as printed).
_ALEXNET_SLIDE = (
    ("CONV1", "conv1", "55x55x96"),
    ("MAX POOL1", "pool1", "27x27x96"),
    ("NORM1", "norm1", "27x27x96"),
    ("CONV2", "conv2", "27x27x256"),
    ("MAX POOL2", "pool2", "13x13x256"),
    ("NORM2", "norm2", "13x13x256"),
    ("CONV3", "conv3", "13x13x384"),
    ("CONV4", "conv4", "13x13x384"),
    ("CONV5", "conv5", "13x13x256"),
    ("MAX POOL3", "pool5", "6x6x256"),
    ("FC6", "fc6", "4096"),
    ("FC7", "fc7", "4096"),
    ("FC8", "fc8", "1000"),
)


@register_claim(
    "alexnet-conv1",
    "AlexNet: output sizes 227 -> 55 -> 27 ..., O = (I - K + 2P)/S + 1 per layer, conv1's 35K parameters",
    f"{CS231N_L9}, AlexNet case study: '(227-11)/4+1 = 55', 'Parameters: (11*11*3)*96 = 35K', "
    "POOL1 'Parameters: 0!', and the full (simplified) architecture listing",
)
def _alexnet_conv1() -> ClaimResult:
    a = analyze("alexnet", measure_saved=False)
    checks = [_check("input", "227x227x3", _hwc((1, *a.input_size)), "alexnet's declared input size")]
    order = [r.name for r in a.rows]
    for label, name, printed in _ALEXNET_SLIDE:
        r = a.row(name)
        if r.kind in ("conv", "pool"):
            why = _size_formula(r)
            if r.kind == "conv":
                why += f"; {_conv_weights(r)} + {r.biases:,} biases = {r.params:,} params"
            else:
                why += "; no parameters"
        elif r.kind == "linear":
            why = f"{_fc_weights(r)} + {r.biases:,} biases = {r.params:,} params"
        else:
            why = f"{r.type} keeps its input's shape"
        otherwise = "differs"
        if name in ("norm1", "norm2"):
            pool = "pool1" if name == "norm1" else "pool2"
            placed = "before" if order.index(name) < order.index(pool) else "after"
            why += (
                f"; cnnlab puts {name} {placed} {pool}, as the paper does (Sec. 3.5: response "
                f"normalisation follows conv1 and conv2, max pooling follows it); the slide lists "
                f"NORM after POOL, so its NORM shape is the pooled one"
            )
        checks.append(_check(f"{label} ({name}) output", printed, _hwc(r.output_shape), why, otherwise=otherwise))
    conv1, pool1 = a.row("conv1"), a.row("pool1")
    checks.append(
        _check(
            "CONV1 (conv1) parameters",
            "(11*11*3)*96 = 35K",
            conv1.weights,
            f"the slide's product counts weights only: {_conv_weights(conv1)}; with the "
            f"{conv1.biases} biases conv1 has {conv1.params:,} parameters (also 35K)",
        )
    )
    checks.append(_check("MAX POOL1 (pool1) parameters", "0", pool1.params, "pooling has no parameters"))
    at_224 = Fraction(224 - conv1.kernel[-1], conv1.stride[-1]) + 1
    notes = (
        f"The paper states 224x224 inputs (Sec. 3.5), but conv1 (11x11, stride 4, no padding) gives "
        f"(224 - 11)/4 + 1 = {_show(at_224)} there: only 227 gives the 55x55 maps of Fig. 2, so the "
        f"slide and cnnlab use 227. cnnlab's alexnet is one tower: {a.params_total:,} parameters "
        f"({sum(r.weights for r in a.rows):,} weights); the paper's two-tower net is alexnet_2012."
    )
    return ClaimResult(tuple(checks), notes)


# -- b. VGG16 memory and parameters --------------------------------------------------------
# The slide's rows: (layer, cnnlab row or None for the input, shape, memory, params), as printed.
_VGG16_SLIDE = (
    ("INPUT", None, "224x224x3", "224*224*3=150K", "0"),
    ("CONV3-64", "conv1_1", "224x224x64", "224*224*64=3.2M", "(3*3*3)*64 = 1,728"),
    ("CONV3-64", "conv1_2", "224x224x64", "224*224*64=3.2M", "(3*3*64)*64 = 36,864"),
    ("POOL2", "pool1", "112x112x64", "112*112*64=800K", "0"),
    ("CONV3-128", "conv2_1", "112x112x128", "112*112*128=1.6M", "(3*3*64)*128 = 73,728"),
    ("CONV3-128", "conv2_2", "112x112x128", "112*112*128=1.6M", "(3*3*128)*128 = 147,456"),
    ("POOL2", "pool2", "56x56x128", "56*56*128=400K", "0"),
    ("CONV3-256", "conv3_1", "56x56x256", "56*56*256=800K", "(3*3*128)*256 = 294,912"),
    ("CONV3-256", "conv3_2", "56x56x256", "56*56*256=800K", "(3*3*256)*256 = 589,824"),
    ("CONV3-256", "conv3_3", "56x56x256", "56*56*256=800K", "(3*3*256)*256 = 589,824"),
    ("POOL2", "pool3", "28x28x256", "28*28*256=200K", "0"),
    ("CONV3-512", "conv4_1", "28x28x512", "28*28*512=400K", "(3*3*256)*512 = 1,179,648"),
    ("CONV3-512", "conv4_2", "28x28x512", "28*28*512=400K", "(3*3*512)*512 = 2,359,296"),
    ("CONV3-512", "conv4_3", "28x28x512", "28*28*512=400K", "(3*3*512)*512 = 2,359,296"),
    ("POOL2", "pool4", "14x14x512", "14*14*512=100K", "0"),
    ("CONV3-512", "conv5_1", "14x14x512", "14*14*512=100K", "(3*3*512)*512 = 2,359,296"),
    ("CONV3-512", "conv5_2", "14x14x512", "14*14*512=100K", "(3*3*512)*512 = 2,359,296"),
    ("CONV3-512", "conv5_3", "14x14x512", "14*14*512=100K", "(3*3*512)*512 = 2,359,296"),
    ("POOL2", "pool5", "7x7x512", "7*7*512=25K", "0"),
    ("FC", "fc6", "1x1x4096", "4096", "7*7*512*4096 = 102,760,448"),
    ("FC", "fc7", "1x1x4096", "4096", "4096*4096 = 16,777,216"),
    ("FC", "fc8", "1x1x1000", "1000", "4096*1000 = 4,096,000"),
)
_VGG16_TOTAL_MEMORY = "24M"
_VGG16_TOTAL_BYTES = "24M * 4 bytes ~= 96MB"
_VGG16_TOTAL_PARAMS = "138M"


@register_claim(
    "vgg16-memory",
    "VGG16: memory (activations) and parameters per layer, and the totals 24M / 96MB / 138M",
    f"{CS231N_L9}, VGGNet slide: per-layer 'memory' and 'params', 'TOTAL memory: 24M * 4 bytes "
    "~= 96MB / image (only forward! ~*2 for bwd)', 'TOTAL params: 138M parameters'",
)
def _vgg16_memory() -> ClaimResult:
    a = analyze("vgg16")
    checks: list[Check] = []
    memory, weights, printed_memory = 0, 0, Fraction(0)
    for label, name, shape, mem, params in _VGG16_SLIDE:
        if name is None:
            key, out_shape, elements, w, b = "INPUT", (1, *a.input_size), a.input_elements, 0, 0
            mem_why, par_why = "the image itself", "the input has no parameters"
        else:
            r = a.row(name)
            key, out_shape, elements, w, b = f"{label} ({name})", r.output_shape, r.out_elements, r.weights, r.biases
            mem_why = f"{name}'s output: {'*'.join(map(str, out_shape[1:]))} = {elements:,} values"
            if r.kind == "conv":
                par_why = (
                    f"{_conv_weights(r)}; cnnlab also has {b:,} biases ({r.params:,} params), "
                    "the slide counts weights only"
                )
            elif r.kind == "linear":
                par_why = (
                    f"{_fc_weights(r)}; cnnlab also has {b:,} biases ({r.params:,} params), "
                    "the slide counts weights only"
                )
            else:
                par_why = "pooling has no parameters"
        memory += elements
        weights += w
        p = parse_printed(mem)
        printed_memory += p.mantissa * p.multiplier
        vec = "1x1" if len(out_shape) == 2 else "plain"
        checks.append(
            _check(f"{key} shape", shape, _hwc(out_shape, vec), "a flat vector in PyTorch" if vec == "1x1" else "")
        )
        checks.append(_check(f"{key} memory", mem, elements, mem_why))
        checks.append(_check(f"{key} params", params, w, par_why))

    avgpool = a.row("avgpool")
    checks.append(
        _check(
            "TOTAL memory (values per image)",
            _VGG16_TOTAL_MEMORY,
            memory,
            f"the slide's own rows do not add up to 24M: as printed they sum to {_show(printed_memory / 10**6)}M, "
            f"and exactly (cnnlab's rows for the same layers: input, convs, pools, FCs) to {memory:,}. "
            f"analysis.activation_elements is {a.activation_elements:,}: it also counts cnnlab's "
            f"{avgpool.type} row ({avgpool.out_elements:,} values; the identity at 224, a torchvision "
            f"addition the slide does not have)",
            otherwise="slide inconsistent",
        )
    )
    nbytes = memory * a.element_size
    checks.append(
        _check(
            "TOTAL memory (bytes per image, forward)",
            _VGG16_TOTAL_BYTES,
            nbytes,
            f"{memory:,} values * {a.element_size} bytes = {nbytes:,} bytes = {nbytes / 1e6:.1f} MB "
            f"({nbytes / 2**20:.1f} MiB); 96MB follows from the slide's 24M, not from its rows",
            otherwise="slide inconsistent",
        )
    )
    checks.append(
        _check(
            "TOTAL params",
            _VGG16_TOTAL_PARAMS,
            weights,
            f"sum of the slide's rows, weights only: {weights:,}; with biases cnnlab counts "
            f"{a.params_total:,} parameters (also 138M)",
        )
    )
    early = a.row("conv1_1").out_elements + a.row("conv1_2").out_elements
    fc = sum(a.row(n).weights for n in ("fc6", "fc7", "fc8"))
    notes = (
        f"'Most memory is in early CONV': conv1_1 and conv1_2 hold {early:,} of the {memory:,} values "
        f"({100 * early / memory:.0f}%). 'Most params are in late FC': fc6-fc8 hold {fc:,} of the "
        f"{weights:,} weights ({100 * fc / weights:.0f}%). For the slide's '~*2 for bwd': cnnlab measures "
        f"what autograd saves for backward in one training-mode forward: {a.saved_bytes:,} bytes per image "
        f"(a.saved_bytes; {a.saved_note}); gradients of the activations need about as much again during backward."
    )
    return ClaimResult(tuple(checks), notes)


# -- c. GoogLeNet Table 1 -----------------------------------------------------------------
_TABLE1_KILO = {"K": 1024}  # Table 1's params: units of 1024 weights (conv2's 112K = 114,688)
_TABLE1_SOURCE = "Szegedy et al. 2014, 'Going deeper with convolutions', Table 1"


def _table1_modules(row: object) -> tuple[str, ...]:
    """The cnnlab modules that make up one Table 1 row (conv2's row is two convolutions)."""
    if isinstance(row, G_Inception):
        return (f"inception{row.name}",)
    if isinstance(row, G_Conv) and row.reduce is not None:
        return (f"{row.name}_reduce", row.name)
    return (row.name,)


def _rows_of(a: Analysis, name: str) -> tuple[list[LayerRecord], tuple[int, ...]]:
    """The rows a module ran (its container call's row range, or its own leaf row) and its
    output shape."""
    for m in a.modules:
        if m.name == name and m.call == 0:
            return [r for r in a.rows if m.first_row <= r.index <= m.last_row], m.output_shapes[0]
    r = a.row(name)
    return [r], r.output_shape


def _table1_formula(row: object, cin: int) -> tuple[str, int]:
    """A row's weights from its own filter counts (Table 1's columns) and input channels."""
    if isinstance(row, G_Inception):
        terms = [
            (f"{cin}*{row.n1x1}", cin * row.n1x1),
            (f"{cin}*{row.n3x3_reduce}", cin * row.n3x3_reduce),
            (f"3*3*{row.n3x3_reduce}*{row.n3x3}", 9 * row.n3x3_reduce * row.n3x3),
            (f"{cin}*{row.n5x5_reduce}", cin * row.n5x5_reduce),
            (f"5*5*{row.n5x5_reduce}*{row.n5x5}", 25 * row.n5x5_reduce * row.n5x5),
            (f"{cin}*{row.pool_proj}", cin * row.pool_proj),
        ]
    elif isinstance(row, G_Conv):
        c = row.output[2]
        if row.reduce is not None:
            terms = [
                (f"{cin}*{row.reduce}", cin * row.reduce),
                (f"{row.patch}*{row.patch}*{row.reduce}*{c}", row.patch**2 * row.reduce * c),
            ]
        else:
            terms = [(f"{row.patch}*{row.patch}*{cin}*{c}", row.patch**2 * cin * c)]
    else:  # Linear
        terms = [(f"{cin}*{row.output[2]}", cin * row.output[2])]
    return " + ".join(t for t, _ in terms), sum(v for _, v in terms)


@register_claim(
    "googlenet-table1",
    "GoogLeNet Table 1: every row's output size, params (K = 1024 weights) and ops (multiply-adds)",
    f"{_TABLE1_SOURCE} (rows as printed in cnnlab.models.googlenet.TABLE1)",
)
def _googlenet_table1() -> ClaimResult:
    a = analyze("googlenet", measure_saved=False)
    checks: list[Check] = []
    printed_ops = Fraction(0)
    for row in TABLE1:
        if isinstance(row, G_Softmax):
            continue  # no layer: the models return logits (see the notes)
        names = _table1_modules(row)
        rows: list[LayerRecord] = []
        out = ()
        for name in names:
            more, out = _rows_of(a, name)
            rows += more
        key = row.name if not isinstance(row, G_Inception) else f"inception ({row.name})"
        vec = "1x1" if len(out) == 2 else "plain"
        checks.append(
            _check(
                f"{key} output",
                "x".join(map(str, row.output)),
                _hwc(out, vec),
                f"output of cnnlab's {names[-1]}" + ("; a flat vector in PyTorch" if vec == "1x1" else ""),
            )
        )
        params, ops = getattr(row, "params", ""), getattr(row, "ops", "")
        if not (params or ops):
            continue
        w = sum(r.weights for r in rows)
        macs = sum(r.macs for r in rows)
        cin = rows[0].input_shapes[0][1] if rows[0].kind == "conv" else rows[0].input_shapes[0][-1]
        formula, from_filters = _table1_formula(row, cin)
        module = names[-1] if isinstance(row, G_Inception) else row.name
        why = (
            f"weights {formula} = {from_filters:,} = {_show(Fraction(from_filters, 1024))}K "
            "(biases excluded, as in Table 1)"
        )
        if from_filters != w:
            why += f"; cnnlab's modules hold {w:,} weights"
        if compare(params, w, _TABLE1_KILO, zeros_significant=True)[0] is None:
            why += f"; the printed {params} does not follow from the row's own filter counts"
            if module == "conv1":
                why += f" ({row.patch}x{row.patch} filters over {cin} channels, {row.output[2]} of them)"
        if module in PRINTED_PARAMS_OFF:
            why += " (listed in cnnlab.models.googlenet.PRINTED_PARAMS_OFF)"
        checks.append(
            _check(
                f"{key} params",
                params,
                w,
                why,
                otherwise="slide inconsistent",
                units=_TABLE1_KILO,
                zeros_significant=True,
            )
        )
        h, wd = row.output[0], row.output[1]
        why = f"multiply-adds of {' + '.join(names)}: {macs:,}"
        if compare(ops, macs, zeros_significant=True)[0] is None:
            if module == "conv1":
                from_printed = parse_printed(params, _TABLE1_KILO)
                implied = from_printed.mantissa * from_printed.multiplier * h * wd
                why += (
                    f"; the printed {ops} follows the printed {params} params: {params} x {h} x {wd} = "
                    f"{_show(implied / 10**6)}M, while the filters give {w:,} x {h} x {wd} = {w * h * wd:,}"
                )
            else:
                why += f"; the printed {ops} does not follow from the row's own filter counts"
        p = parse_printed(ops)
        printed_ops += p.mantissa * p.multiplier
        checks.append(_check(f"{key} ops", ops, macs, why, otherwise="slide inconsistent", zeros_significant=True))
    conv2 = sum(r.weights for name in ("conv2_reduce", "conv2") for r in _rows_of(a, name)[0])
    # conv1's printed 2.7K and 34M: a depthwise-separable conv1, as BN-Inception builds it.
    sep = [r for r in analyze(create_model("bn_inception", conv1_depth_multiplier=8), measure_saved=False)]
    sep = [r for r in sep if r.name.startswith("conv1.conv.")]
    sep_w, sep_macs = sum(r.weights for r in sep), sum(r.macs for r in sep)
    checks = [
        replace(
            c,
            explanation=c.explanation
            + (
                f"; the printed figures are those of a depthwise-separable conv1 (7x7 depthwise, depth multiplier "
                f"8, then 1x1 to 64), which cnnlab builds as bn_inception(conv1_depth_multiplier=8): {sep_w:,} "
                f"weights = {_show(Fraction(sep_w, 1024))}K and {sep_macs:,} multiply-adds"
            ),
        )
        if c.quantity in ("conv1 params", "conv1 ops") and c.verdict == "slide inconsistent"
        else c
        for c in checks
    ]
    notes = (
        f"Table 1's params are in units of 1024 weights, biases excluded (conv2's 112K is {conv2:,} weights "
        "exactly); its ops are multiply-adds (macs) in millions. The softmax row has no layer in cnnlab: "
        "the models return logits and the softmax is part of the loss. The printed ops add up to "
        f"{_show(printed_ops / 10**6)}M, the paper's 'budget of 1.5 billion multiply-adds' (Sec. 1); with "
        f"conv1's ops as its filters give, cnnlab's main network (no auxiliary heads) has {a.macs:,}."
    )
    return ClaimResult(tuple(checks), notes)


# -- d. Naive Inception vs the bottleneck version (CS231n) ----------------------------------
class NaiveInception(nn.Module):
    """CS231n's naive Inception module: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side
    by side, concatenated along the channels (no biases: the slide counts conv ops only)."""

    def __init__(self, in_chs: int = 256, n1x1: int = 128, n3x3: int = 192, n5x5: int = 96) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_chs, n1x1, 1, bias=False)
        self.conv3x3 = nn.Conv2d(in_chs, n3x3, 3, padding=1, bias=False)
        self.conv5x5 = nn.Conv2d(in_chs, n5x5, 5, padding=2, bias=False)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv1x1(x), self.conv3x3(x), self.conv5x5(x), self.pool(x)], 1)


class BottleneckInception(nn.Module):
    """CS231n's 'Inception module with dimension reduction': 1x1 reductions before the 3x3 and
    5x5 convolutions and a 1x1 projection after the pool (no biases)."""

    def __init__(
        self,
        in_chs: int = 256,
        n1x1: int = 128,
        r3x3: int = 64,
        n3x3: int = 192,
        r5x5: int = 64,
        n5x5: int = 96,
        pool_proj: int = 64,
    ) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_chs, n1x1, 1, bias=False)
        self.reduce3x3 = nn.Conv2d(in_chs, r3x3, 1, bias=False)
        self.conv3x3 = nn.Conv2d(r3x3, n3x3, 3, padding=1, bias=False)
        self.reduce5x5 = nn.Conv2d(in_chs, r5x5, 1, bias=False)
        self.conv5x5 = nn.Conv2d(r5x5, n5x5, 5, padding=2, bias=False)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.pool_proj = nn.Conv2d(in_chs, pool_proj, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b2 = self.conv3x3(self.reduce3x3(x))
        b3 = self.conv5x5(self.reduce5x5(x))
        return torch.cat([self.conv1x1(x), b2, b3, self.pool_proj(self.pool(x))], 1)


# The slide's "Conv Ops" lists: (slide label, cnnlab row, the printed product).
_NAIVE_OPS = (
    ("[1x1 conv, 128]", "conv1x1", "28x28x128x1x1x256"),
    ("[3x3 conv, 192]", "conv3x3", "28x28x192x3x3x256"),
    ("[5x5 conv, 96]", "conv5x5", "28x28x96x5x5x256"),
)
_BOTTLENECK_OPS = (
    ("[1x1 conv, 64] (3x3 reduce)", "reduce3x3", "28x28x64x1x1x256"),
    ("[1x1 conv, 64] (5x5 reduce)", "reduce5x5", "28x28x64x1x1x256"),
    ("[1x1 conv, 128]", "conv1x1", "28x28x128x1x1x256"),
    ("[3x3 conv, 192]", "conv3x3", "28x28x192x3x3x64"),
    ("[5x5 conv, 96]", "conv5x5", "28x28x96x5x5x64"),
    ("[1x1 conv, 64] (pool proj)", "pool_proj", "28x28x64x1x1x256"),
)


@register_claim(
    "inception-naive-vs-bottleneck",
    "Inception on 28x28x256: naive module 854M ops vs the 1x1-bottleneck module's printed 358M",
    f"{CS231N_L9}, GoogLeNet: 'Naive Inception module' (output 28x28x672, 'Total: 854M ops') and "
    "'Inception module with dimension reduction' ('Total: 358M ops')",
)
def _inception_naive_vs_bottleneck() -> ClaimResult:
    size = (256, 28, 28)
    naive = analyze(NaiveInception(), size, measure_saved=False)
    bottle = analyze(BottleneckInception(), size, measure_saved=False)
    checks = [
        _check(
            "naive output",
            "28x28x(128+192+96+256) = 28x28x672",
            _hwc(naive.rows[-1].output_shape),
            "the pool branch keeps all 256 input channels, so depth only grows",
        )
    ]
    for label, name, printed in _NAIVE_OPS:
        checks.append(_check(f"naive {label} ops", printed, naive.row(name).macs, f"macs of {name}"))
    checks.append(_check("naive total ops", "854M", naive.macs, "sum of the three convolutions' multiply-adds"))
    slide_terms = 0
    for label, name, printed in _BOTTLENECK_OPS:
        checks.append(_check(f"bottleneck {label} ops", printed, bottle.row(name).macs, f"macs of {name}"))
        p = parse_printed(printed)
        slide_terms += int(p.mantissa) * p.multiplier
    twice = bottle.row("conv3x3").macs
    checks.append(
        _check(
            "bottleneck total ops",
            "358M",
            bottle.macs,
            f"the six terms the slide lists add up to {slide_terms:,} (cnnlab: {bottle.macs:,}); the printed "
            f"358M is {bottle.macs:,} + {twice:,} = {bottle.macs + twice:,}: the 28x28x192x3x3x64 term counted twice",
            otherwise="slide inconsistent",
        )
    )
    w_naive = sum(r.weights for r in naive.rows)
    w_bottle = sum(r.weights for r in bottle.rows)
    notes = (
        f"Outputs: naive {_hwc(naive.rows[-1].output_shape)}, bottleneck {_hwc(bottle.rows[-1].output_shape)} "
        f"(the 1x1 projection after the pool keeps the depth from growing). Weights: naive {w_naive:,}, "
        f"bottleneck {w_bottle:,}. The correct saving is {naive.macs / bottle.macs:.2f}x fewer multiply-adds, "
        f"not the slide's 854/358 = {854 / 358:.2f}x. Ops are multiply-adds of the convolutions; biases, "
        f"ReLUs and the pool are not counted, as on the slide."
    )
    return ClaimResult(tuple(checks), notes)


# -- e. 1x1 bottleneck before a 5x5 convolution (Ng) -----------------------------------------
@register_claim(
    "bottleneck-1x1",
    "A 1x1 'bottleneck' before a 5x5 conv on 28x28x192: 120M multiply-adds vs 12.4M",
    "Andrew Ng, deeplearning.ai 'Convolutional Neural Networks' (Course 4), Week 2, "
    "'Inception network motivation': 5x5 same conv, 32 filters: 120M; 1x1 conv 16 first: 2.4M + 10.0M = 12.4M",
)
def _bottleneck_1x1() -> ClaimResult:
    size = (192, 28, 28)
    direct = analyze(nn.Sequential(nn.Conv2d(192, 32, 5, padding=2, bias=False)), size, measure_saved=False)
    reduced = analyze(
        nn.Sequential(nn.Conv2d(192, 16, 1, bias=False), nn.Conv2d(16, 32, 5, padding=2, bias=False)),
        size,
        measure_saved=False,
    )
    d, r1, r5 = direct.row("0"), reduced.row("0"), reduced.row("1")
    checks = [
        _check("5x5 conv, 32 filters: output", "28x28x32", _hwc(d.output_shape), "'same' padding 2 keeps 28x28"),
        _check(
            "5x5 conv, 32 filters: multiply-adds",
            "28x28x32 x 5x5x192 = 120M",
            d.macs,
            "every output value is a 5x5x192 dot product",
        ),
        _check("1x1 conv, 16 filters: output", "28x28x16", _hwc(r1.output_shape), "the bottleneck layer"),
        _check(
            "1x1 conv, 16 filters: multiply-adds",
            "28x28x16 x 192 = 2.4M",
            r1.macs,
            "every value a 192-long dot product",
        ),
        _check(
            "then 5x5 conv, 32 filters: multiply-adds",
            "28x28x32 x 5x5x16 = 10.0M",
            r5.macs,
            "a 5x5x16 dot product per output value",
        ),
        _check("with the bottleneck: total multiply-adds", "12.4M", reduced.macs, f"{r1.macs:,} + {r5.macs:,}"),
    ]
    notes = (
        f"Output 28x28x32 either way; {d.macs / reduced.macs:.1f}x fewer multiply-adds and "
        f"{d.weights / (r1.weights + r5.weights):.1f}x fewer weights ({d.weights:,} vs {r1.weights + r5.weights:,}) "
        f"with the bottleneck."
    )
    return ClaimResult(tuple(checks), notes)


# -- f. Three stacked 3x3 convolutions vs one 7x7 --------------------------------------------
class ConvStack(nn.Module):
    """``depth`` convolutions ``kernel`` x ``kernel``, stride 1, 'same' padding, C -> C, each
    followed by a ReLU; no biases (the slide counts C^2 weights per position of the kernel)."""

    def __init__(self, channels: int, kernel: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        for i in range(1, depth + 1):
            self.add_module(f"conv{i}", nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False))
            self.add_module(f"relu{i}", nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.depth + 1):
            x = getattr(self, f"relu{i}")(getattr(self, f"conv{i}")(x))
        return x


_STACKED_CHANNELS = (64, 512)  # VGG's narrowest and widest stages
_STACKED_EMPIRICAL = (8, 15)  # C and the map size of the measured nets: small, real arithmetic


@register_claim(
    "stacked-3x3",
    "Three stacked 3x3 convs (stride 1) see 7x7 like one 7x7 conv, with 27C^2 weights instead of 49C^2",
    f"{CS231N_L9}, VGGNet: 'effective receptive field of three 3x3 conv (stride 1) layers? [7x7]'; "
    "'fewer parameters: 3 * (3^2 C^2) vs. 7^2 C^2 for C channels per layer'",
)
def _stacked_3x3() -> ClaimResult:
    checks: list[Check] = []
    c, hw = _STACKED_EMPIRICAL
    for label, kernel, depth in (("three 3x3 convs", 3, 3), ("one 7x7 conv", 7, 1)):
        a = analyze(ConvStack(c, kernel, depth), (c, hw, hw), measure_saved=False)
        last = f"conv{depth}"
        rf = a.row(last).rf
        checks.append(
            _check(
                f"{label}: receptive field (analytic)",
                "7x7",
                "x".join(str(int(s)) for s in rf.size),
                f"analyze's receptive field of {last}: size / jump {rf.describe()}"
                + ("; each 3x3 adds 2: 1 + 2 + 2 + 2 = 7" if depth == 3 else ""),
            )
        )
        bounds = empirical_region(ConvStack(c, kernel, depth), (c, hw, hw), last)
        checks.append(
            _check(
                f"{label}: receptive field (from gradients)",
                "7x7",
                _extent(bounds),
                f"empirical_region: the gradient of {last}'s centre (C={c}, {hw}x{hw} input) is non-zero "
                f"on input rows x columns {_region(bounds)}",
            )
        )
    for c in _STACKED_CHANNELS:
        for label, kernel, depth, printed in (
            ("three 3x3 convs", 3, 3, "3 * (3^2 C^2) = 27"),
            ("one 7x7 conv", 7, 1, "7^2 C^2 = 49"),
        ):
            a = analyze(ConvStack(c, kernel, depth), (c, hw, hw), measure_saved=False)
            w = sum(r.weights for r in a.rows)
            checks.append(
                _check(
                    f"{label}: weights / C^2 (C={c})",
                    printed,
                    w // (c * c) if w % (c * c) == 0 else w / (c * c),
                    f"{w:,} weights = {_show(Fraction(w, c * c))} x {c}^2",
                )
            )
    notes = (
        "Both see the same 7x7 input region per output position; the stack has three ReLUs instead of one "
        "and 27/49 = 55% of the weights (no biases, as on the slide)."
    )
    return ClaimResult(tuple(checks), notes)


# -- g. ResNet FLOPs (multiply-adds) ------------------------------------------------------
# He et al. 2015, Table 1, "FLOPs" row (multiply-adds), as printed.
_RESNET_FLOPS = (
    ("resnet18", "1.8 x 10^9"),
    ("resnet34", "3.6 x 10^9"),
    ("resnet50", "3.8 x 10^9"),
    ("resnet101", "7.6 x 10^9"),
    ("resnet152", "11.3 x 10^9"),
)


@register_claim(
    "resnet-flops",
    "ResNet-18/34/50/101/152 at 224x224: Table 1's 1.8 / 3.6 / 3.8 / 7.6 / 11.3 x 10^9 multiply-adds",
    "He, Zhang, Ren & Sun 2015, 'Deep residual learning for image recognition', Table 1, 'FLOPs' row "
    "(the caption's units: multiply-adds)",
)
def _resnet_flops() -> ClaimResult:
    checks: list[Check] = []
    paper: dict[str, Analysis] = {}
    for name, printed in _RESNET_FLOPS:
        a = analyze(name, (3, 224, 224), measure_saved=False)
        paper[name] = a
        variant = (
            "stride_at='1x1' (cnnlab's default, the paper's placement)"
            if name in ("resnet50", "resnet101", "resnet152")
            else "basic blocks, no stride_at choice"
        )
        checks.append(_check(f"{name} multiply-adds", printed, a.macs, f"analyze('{name}').macs at 224x224, {variant}"))
    for name, printed in _RESNET_FLOPS[2:]:
        a = analyze(name, (3, 224, 224), measure_saved=False, stride_at="3x3")
        changed = [(x, y) for x, y in zip(paper[name].rows, a.rows) if x.macs != y.macs]
        where = ", ".join(
            f"{x.label} {_hwc(x.output_shape)} -> {_hwc(y.output_shape)} (+{y.macs - x.macs:,})" for x, y in changed
        )
        checks.append(
            _check(
                f"{name} multiply-adds, stride_at='3x3'",
                printed,
                a.macs,
                f"torchvision's 'v1.5' ({name}_tv) puts the stride of each downsampling bottleneck on its 3x3 "
                f"instead of its first 1x1, so that 1x1 runs at the input's resolution: {where}; "
                f"{a.macs - paper[name].macs:,} more multiply-adds in all. The paper's number is the 1x1 placement's",
            )
        )
    notes = (
        "Multiply-adds of every convolution and the final fully connected layer, projection shortcuts "
        "(option B) included; batch norm, ReLU, additions and pooling are not multiply-adds. The paper's "
        "'FLOPs' are multiply-adds (cnnlab's macs; flops = 2 x macs)."
    )
    truncated = [
        f"{c.slide} ({paper[c.quantity.split()[0]].macs / 1e9:.2f} x 10^9)"
        for c in checks
        if "truncated" in c.explanation
    ]
    if truncated:
        notes += f" Truncated rather than rounded: {', '.join(truncated)}."
    return ClaimResult(tuple(checks), notes)


# -- h. Local connectivity and parameter sharing ------------------------------------------
class LocallyConnected1d(nn.Module):
    """One input channel, one output channel, a separate ``kernel``-tap filter at every output
    position (no sharing, no bias): ``out[p] = sum_k w[p, k] * x[p * stride + k]``."""

    def __init__(self, length: int, kernel: int, stride: int) -> None:
        super().__init__()
        if length < kernel:
            raise ValueError(f"length {length} is shorter than the kernel {kernel}; pass length >= kernel")
        self.kernel, self.stride = kernel, stride
        positions = (length - kernel) // stride + 1
        self.weight = nn.Parameter(torch.randn(positions, kernel) / kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.unfold(-1, self.kernel, self.stride)  # N x 1 x positions x kernel
        return torch.einsum("ncpk,pk->ncp", patches, self.weight)  # N x 1 x positions


@register_claim(
    "local-connectivity",
    "7 inputs -> 3 outputs: fully connected 21 weights, locally connected (field 3, stride 2) 9, shared (a conv) 3",
    "Course lecture example on local connectivity and parameter sharing (a 1-d layer, 7 inputs, "
    "3 outputs: 21 -> 9 -> 3 weights); deck not identified",
)
def _local_connectivity() -> ClaimResult:
    size = (1, 7)  # N x 1 x 7: one channel, seven positions
    layers = (
        ("fully connected", nn.Linear(7, 3, bias=False), "7*3 = 21", "7"),
        ("locally connected", LocallyConnected1d(7, 3, 2), "3*3 = 9", "3"),
        ("shared (conv1d)", nn.Conv1d(1, 1, 3, stride=2, bias=False), "3", "3"),
    )
    checks: list[Check] = []
    macs = {}
    for label, layer, printed, field_size in layers:
        net = nn.Sequential(layer)
        a = analyze(net, size, measure_saved=False)
        r = a.row("0")
        macs[label] = r.macs
        checks.append(
            _check(
                f"{label}: weights",
                printed,
                r.weights,
                f"{type(layer).__name__}: weight shape {tuple(layer.weight.shape)}",
            )
        )
        regions = [empirical_region(nn.Sequential(layer), size, "0", (p,)) for p in range(r.output_shape[-1])]
        extents = sorted({_extent(b) for b in regions})
        checks.append(
            _check(
                f"{label}: inputs seen by each output",
                field_size,
                extents[0] if len(extents) == 1 else ", ".join(extents),
                "empirical_region, outputs 0, 1, 2 see inputs " + ", ".join(_region(b) for b in regions),
            )
        )
    notes = (
        f"Multiply-adds: fully connected {macs['fully connected']}, locally connected {macs['locally connected']}, "
        f"shared {macs['shared (conv1d)']}: sharing cuts the weights, not the arithmetic."
    )
    return ClaimResult(tuple(checks), notes)


# -- i. CS231n lecture 5's worked conv-layer examples ------------------------------------------
@register_claim(
    "conv-layer-examples",
    "CS231n's worked conv examples: 32x32x3 -> 28x28x6 -> 24x24x10, the 7x7 input with strides 1/2/3, "
    "pad 1, '760 params', 1x1 conv on 56x56x64",
    f"{CS231N_L5}: activation maps, 'N=7, F=3: stride 1 => 5, stride 2 => 3, stride 3 => 2.33', "
    "'7x7 input, 3x3 filter, stride 1, pad 1 => 7x7 output', "
    "'Input volume 32x32x3, 10 5x5 filters with stride 1, pad 2: 32x32x10, 76*10 = 760 params', "
    "'1x1 CONV with 32 filters: 56x56x64 -> 56x56x32'",
)
def _conv_layer_examples() -> ClaimResult:
    checks: list[Check] = []
    # A ConvNet as a sequence of conv layers: 6 5x5x3 filters, then 10 5x5x6 filters.
    seq = analyze(
        nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.Conv2d(6, 10, 5), nn.ReLU()), (3, 32, 32), measure_saved=False
    )
    one = analyze(nn.Sequential(nn.Conv2d(3, 1, 5)), (3, 32, 32), measure_saved=False).row("0")
    checks.append(
        _check("one 5x5x3 filter on 32x32x3: activation map", "28x28x1", _hwc(one.output_shape), _size_formula(one))
    )
    c1, c2 = seq.row("0"), seq.row("2")
    checks.append(_check("6 5x5x3 filters: output", "28x28x6", _hwc(c1.output_shape), _size_formula(c1)))
    checks.append(_check("then 10 5x5x6 filters: output", "24x24x10", _hwc(c2.output_shape), _size_formula(c2)))
    for stride, printed in ((1, "(7-3)/1+1 = 5"), (2, "(7-3)/2+1 = 3")):
        r = analyze(nn.Sequential(nn.Conv2d(1, 1, 3, stride=stride)), (1, 7, 7), measure_saved=False).row("0")
        checks.append(
            _check(
                f"7x7 input, 3x3 filter, stride {stride}: output side", printed, r.output_shape[-1], _size_formula(r)
            )
        )
    a3 = analyze(nn.Sequential(nn.Conv2d(1, 1, 3, stride=3)), (1, 7, 7), measure_saved=False)
    r3 = a3.row("0")
    last = r3.output_shape[-1] - 1
    checks.append(
        _check(
            "7x7 input, 3x3 filter, stride 3: output side",
            "(7-3)/3+1 = 2.33",
            r3.output_shape[-1],
            f"{_size_formula(r3)}: PyTorch accepts the layer and floors; the slide calls it 'doesn't fit'. "
            f"The last output column sees input columns {_region(a3.input_region('0', (last, last))[1:])}, "
            f"so input column 6 is never used",
        )
    )
    pad = analyze(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1)), (1, 7, 7), measure_saved=False).row("0")
    checks.append(
        _check(
            "7x7 input, 3x3 filter, stride 1, pad 1: output",
            "7x7",
            "x".join(map(str, pad.output_shape[-2:])),
            _size_formula(pad),
        )
    )
    ten = analyze(nn.Sequential(nn.Conv2d(3, 10, 5, padding=2)), (3, 32, 32), measure_saved=False).row("0")
    checks.append(
        _check(
            "32x32x3, 10 5x5 filters, stride 1, pad 2: output", "32x32x10", _hwc(ten.output_shape), _size_formula(ten)
        )
    )
    checks.append(
        _check(
            "32x32x3, 10 5x5 filters, stride 1, pad 2: params",
            "(5*5*3 + 1)*10 = 760",
            ten.params,
            f"{_conv_weights(ten)} + {ten.biases} biases (the slide counts the +1 bias per filter)",
        )
    )
    pw = analyze(nn.Sequential(nn.Conv2d(64, 32, 1)), (64, 56, 56), measure_saved=False).row("0")
    checks.append(
        _check(
            "1x1 conv, 32 filters on 56x56x64: output",
            "56x56x32",
            _hwc(pw.output_shape),
            "a 1x1 conv changes the depth only",
        )
    )
    checks.append(
        _check(
            "1x1 conv, 32 filters: weights per filter",
            "1x1x64 = 64",
            pw.weights // pw.output_shape[1],
            f"{_conv_weights(pw)} / 32 filters: each a 64-dimensional dot product",
        )
    )
    return ClaimResult(tuple(checks), "Output sides by O = (I - K + 2P)/S + 1; PyTorch floors non-integer results.")
