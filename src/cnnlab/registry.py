"""The model registry: every network cnnlab can build, with the facts of its paper.

Every model file registers its networks one way: a :class:`Family` holds what its cards
share, ``Family.card`` makes one card, and :func:`register_variant` registers a builder with
some of its arguments fixed (a table column, a depth)::

    VGG = Family("vgg", SIMONYAN_2015, input_size=(3, 224, 224), num_classes=1000)
    vgg16 = register_variant(
        VGG.card("vgg16", "Table 1, column D", params=138_357_544, macs=MACS_D), vgg, column="D"
    )

and users call :func:`cnnlab.create_model` (in :mod:`cnnlab.models`: it adds weights to
:func:`build_model`), :func:`list_models` and :func:`model_card`. :func:`register_model` is the
decorator underneath, for a user's own builder. The registry is the ground floor: it imports
neither the model files (importing ``cnnlab`` loads them, and so registers them) nor
``cnnlab.weights``.
"""

from __future__ import annotations

import fnmatch
import inspect
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .display import RichDisplay
from .errors import ConfigError, UnknownModelError, closest

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of the CIFAR-10 training set
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# fb.resnet.torch's CIFAR-10 per-channel statistics (datasets/cifar10.lua), which the
# pre-activation and wide ResNet authors' Torch code normalises with.
FB_CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
FB_CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


@dataclass(frozen=True)
class Paper:
    """Where an architecture was published."""

    authors: str  # "Simonyan & Zisserman"
    title: str
    year: int
    venue: str  # "ICLR 2015", "Proc. IEEE 86(11)"
    arxiv: str | None = None  # "1409.1556"

    def cite(self) -> str:
        ref = f"arXiv:{self.arxiv}" if self.arxiv else self.venue
        return f"{self.authors} ({self.year}). {self.title}. {ref}"


@dataclass(frozen=True)
class TorchvisionWeights:
    """How to bring torchvision's ImageNet weights onto a cnnlab model.

    ``weights`` is torchvision's enum entry (``"VGG16_Weights.IMAGENET1K_V1"``), which knows
    the download URL and the preprocessing; ``builder`` and ``builder_kwargs`` rebuild the
    same torchvision model with random weights for the equivalence tests; ``remap(state,
    model)`` turns a torchvision state dict into ``model``'s (``None``: the keys already
    agree). ``model_kwargs`` are the cnnlab options that match ``builder_kwargs`` (the
    equivalence tests use them). ``requires`` are model attributes the weights need to mean
    what they meant in training (ResNet-50's ``stride_at="3x3"``); a model without them is
    refused before any download.
    """

    builder: str
    weights: str
    builder_kwargs: Mapping[str, Any] = field(default_factory=dict)
    remap: Callable[[Mapping[str, Any], nn.Module], dict[str, Any]] | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    requires: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class ModelCard(RichDisplay):
    """The facts of one registered model.

    ``params`` (and ``macs`` where the specification gives one) are the exact counts a
    PyTorch build must reach at ``input_size`` and ``num_classes``; the tests hold every
    model to them. ``paper_params`` and ``paper_macs`` are the figures as the paper prints
    them, rounding included. Every difference from the paper is listed in ``deviations``
    and commented beside the line of code that makes it. In Jupyter a card displays as the
    card of ``cnnlab report MODEL``; ``repr()`` is one line.
    """

    display_kind = "model-card"

    name: str
    family: str
    paper: Paper
    table: str  # the table, column or row followed, e.g. "Table 1, column D"
    input_size: tuple[int, int, int]
    num_classes: int
    params: int
    macs: int | None = None  # conv + linear multiply-accumulates at input_size
    paper_params: str | None = None
    paper_macs: str | None = None
    deviations: tuple[str, ...] = ()
    notes: str = ""
    # A small input and options that keep the registry-wide forward/backward tests fast.
    test_input_size: tuple[int, int, int] | None = None
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    torchvision: TorchvisionWeights | None = None

    def __post_init__(self) -> None:
        # A private copy: a card is shared by every model built from it.
        object.__setattr__(self, "test_kwargs", dict(self.test_kwargs))
        object.__setattr__(self, "deviations", tuple(self.deviations))

    def __repr__(self) -> str:
        size = "x".join(map(str, self.input_size))
        return (
            f"<ModelCard {self.name}: {self.paper.authors} {self.paper.year}, {self.table}; {self.params:,} parameters "
            f"at {size}, {self.num_classes:,} classes, {len(self.deviations)} deviations>"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        tv = self.torchvision
        return {
            "name": self.name,
            "family": self.family,
            "paper": {
                "authors": self.paper.authors,
                "title": self.paper.title,
                "year": self.paper.year,
                "venue": self.paper.venue,
                "arxiv": self.paper.arxiv,
            },
            "table": self.table,
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "params": self.params,
            "macs": self.macs,
            "paper_params": self.paper_params,
            "paper_macs": self.paper_macs,
            "deviations": list(self.deviations),
            "notes": self.notes,
            "mean": list(self.mean),
            "std": list(self.std),
            "torchvision_weights": tv.weights if tv else None,
            "test_input_size": list(self.test_input_size) if self.test_input_size else None,
            "test_kwargs": dict(self.test_kwargs),
        }


@dataclass(frozen=True)
class Family:
    """What the cards of one family of models share, and the one helper that makes them.

    ``family.card(name, table, params, macs, ...)`` returns a :class:`ModelCard` with the
    family's facts; ``deviations`` given to ``card`` are appended to the family's and
    ``notes`` to its notes; ``table`` fills the family's ``table_format`` ("Table 1, column
    {}"); any other :class:`ModelCard` field given to ``card`` replaces the family's value (a
    card built on another paper, at another input size).
    """

    family: str
    paper: Paper
    input_size: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    deviations: tuple[str, ...] = ()
    notes: str = ""
    test_input_size: tuple[int, int, int] | None = None
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    table_format: str = "{}"

    def card(
        self,
        name: str,
        table: str,
        params: int,
        macs: int | None = None,
        *,
        deviations: tuple[str, ...] = (),
        notes: str = "",
        **facts: Any,
    ) -> ModelCard:
        shared = {
            "family": self.family,
            "paper": self.paper,
            "input_size": self.input_size,
            "num_classes": self.num_classes,
            "mean": self.mean,
            "std": self.std,
            "test_input_size": self.test_input_size,
            "test_kwargs": self.test_kwargs,
        }
        return ModelCard(
            name=name,
            table=self.table_format.format(table),
            params=params,
            macs=macs,
            deviations=tuple(self.deviations) + tuple(deviations),
            notes=self.notes + notes,
            **{**shared, **facts},
        )


@dataclass(frozen=True)
class _Entry:
    card: ModelCard
    builder: Callable[..., nn.Module]


_REGISTRY: dict[str, _Entry] = {}


def register_model(card: ModelCard) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a builder under ``card.name``; a second registration raises."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if card.name in _REGISTRY:
            raise ValueError(
                f"model name {card.name!r} is already registered "
                f"(by {_REGISTRY[card.name].builder.__module__}); choose another name"
            )
        params = inspect.signature(builder).parameters
        for required in ("num_classes", "in_chans"):
            if required not in params:
                raise TypeError(f"builder for {card.name!r} must accept {required}=")
        _REGISTRY[card.name] = _Entry(card, builder)
        return builder

    return decorate


def _short(value: Any) -> str:
    """A fixed argument as a variant's docstring shows it: a table by its type, not its repr."""
    text = getattr(value, "name", None) or repr(value)
    return text if len(text) <= 40 else f"<{type(value).__name__}>"


def register_variant(
    card: ModelCard,
    builder: Callable[..., nn.Module],
    /,
    defaults: Mapping[str, Any] | None = None,
    **fixed: Any,
) -> Callable[..., nn.Module]:
    """Register ``builder`` under ``card.name`` with some of its arguments fixed, and return
    the variant: ``resnet20 = register_variant(card, resnet_cifar, n=3)``. ``defaults``
    changes the default of arguments the variant keeps (``defaults={"drop_path_rate": 0.5}``).
    ``builder`` is a function or a model class; the variant takes its other arguments with
    their defaults and annotations, so ``create_model`` checks them and ``cnnlab info`` lists
    them as for any builder."""
    defaults = dict(defaults or {})
    sig = inspect.signature(builder)
    hints = typing.get_type_hints(builder.__init__ if isinstance(builder, type) else builder)
    for what, names in (("fix", fixed), ("give a default to", defaults)):
        unknown = sorted(set(names) - set(sig.parameters))
        if unknown:
            raise TypeError(f"{builder.__name__} has no argument(s) {', '.join(unknown)} to {what} for {card.name!r}")
    params = [
        p.replace(default=defaults[name]) if name in defaults else p
        for name, p in sig.parameters.items()
        if name not in fixed
    ]
    returns = builder if isinstance(builder, type) else hints.get("return", sig.return_annotation)
    variant_sig = sig.replace(parameters=params, return_annotation=returns)

    def variant(*args: Any, **kwargs: Any) -> nn.Module:
        bound = variant_sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return builder(**bound.arguments, **fixed)

    variant.__signature__ = variant_sig  # type: ignore[attr-defined]
    variant.__annotations__ = {**{k: v for k, v in hints.items() if k not in fixed}, "return": returns}
    variant.__name__ = variant.__qualname__ = card.name
    variant.__module__ = builder.__module__
    shown = ", ".join(f"{k}={_short(v)}" for k, v in fixed.items())
    variant.__doc__ = f"{card.name}: {builder.__name__}({shown}); {card.table}."
    return register_model(card)(variant)


def _entry(name: str) -> _Entry:
    if not isinstance(name, str):
        raise UnknownModelError(f"model name must be a string, got {name!r} ({type(name).__name__})")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = closest(name.lower(), _REGISTRY)
        hint = f"closest registered names: {', '.join(close)}" if close else "no close match"
        raise UnknownModelError(
            f"unknown model {name!r}; {hint}. `cnnlab list` shows all {len(_REGISTRY)} models."
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"vgg*"``), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def model_card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a registered model."""
    return _entry(name).card


def model_options(name: str) -> dict[str, Any]:
    """The builder options of a model (beyond num_classes and in_chans) with their defaults."""
    sig = inspect.signature(_entry(name).builder)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name not in ("num_classes", "in_chans") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _check_count(what: str, value: Any, name: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ConfigError(f"{what} must be a positive integer, got {value!r} for {name}; {hint}")
    return int(value)


def _matches(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return True  # containers, Any, classes: left to the builder


def _check_option(name: str, key: str, value: Any, hint: Any, default: Any) -> None:
    """Type-check a builder option against its annotation; ``*drop_prob`` must be in [0, 1)."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if not any(_matches(value, k) for k in kinds):
        expected = " or ".join("None" if k is type(None) else getattr(k, "__name__", str(k)) for k in kinds)
        raise ConfigError(f"option {key}={value!r} for {name} must be {expected} (default {default!r})")
    if key.endswith("drop_prob") and isinstance(value, numbers.Real) and not 0 <= value < 1:
        raise ConfigError(
            f"option {key}={value!r} for {name} is a probability: use a value in [0, 1), e.g. {default!r}"
        )


def build_model(name: str, num_classes: int | None = None, in_chans: int | None = None, **options: Any) -> nn.Module:
    """Build a registered model with random weights (:func:`cnnlab.create_model` adds
    ``weights=``): ``num_classes`` and ``in_chans`` default to the card's; ``options`` are the
    builder's own, named as the paper names them (``batch_norm=True``, ``aux_logits=False``)."""
    entry = _entry(name)
    card = entry.card
    num_classes = card.num_classes if num_classes is None else num_classes
    in_chans = card.input_size[0] if in_chans is None else in_chans
    _check_count("num_classes", num_classes, name, f"the default is {card.num_classes}")
    _check_count("in_chans", in_chans, name, f"the default is {card.input_size[0]}")
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(
            [
                f"num_classes={card.num_classes}",
                f"in_chans={card.input_size[0]}",
                *(f"{k}={v!r}" for k, v in valid.items()),
            ]
        )
        got = ", ".join(f"{k}={options[k]!r}" for k in unknown)
        names = ["num_classes", "in_chans", *valid]
        near = [m[0] for k in unknown if (m := closest(k, names, n=1))]
        meant = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ConfigError(f"unknown option(s) {got} for {name}{meant}; valid options: {listed}")
    hints = typing.get_type_hints(entry.builder)
    for key, value in options.items():
        if key in hints:
            _check_option(name, key, value, hints[key], valid[key])
    model = entry.builder(num_classes=num_classes, in_chans=in_chans, **options)
    model.card = card
    model.build_options = dict(options)  # what create_model was given: files saved from it record them
    # An option may change the size the model is designed for (LeNet-5 with padding=2).
    size = model.__dict__.get("default_input_size", card.input_size)
    mean, std = card.mean, card.std
    if len(mean) != in_chans:  # e.g. an RGB net built for grey images: average the channels
        mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
    # Preprocessing travels with the model; loading weights may replace it.
    model.pretrained_cfg = {
        "input_size": (in_chans, *size[1:]),
        "mean": tuple(mean),
        "std": tuple(std),
        "source": None,
    }
    return model
