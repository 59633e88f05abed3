"""The contract every cnnlab model keeps, and the input check that runs before any work.

``forward(x)`` returns logits in train and eval mode. It is always
``forward_head(forward_features(x))``, so analysis, training, transfer and explanation need
no special cases. Models with auxiliary classifiers add ``forward_aux(x)``.
"""

from __future__ import annotations

import contextvars
import functools
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from ..errors import ConfigError, InputShapeError

# Set while the input check traces the model, so the traced forward does not check again.
_CHECKING: contextvars.ContextVar[bool] = contextvars.ContextVar("cnnlab_checking", default=False)


class FeatureInfo(NamedTuple):
    """One stage of a model: module name, output channels, total stride from the input."""

    module: str
    num_chs: int
    reduction: int


class ClassifierNet(nn.Module):
    """Base class of every cnnlab network.

    Subclasses set ``num_classes``, ``in_chans`` and ``feature_info`` in ``__init__`` and
    implement :meth:`forward_features`, :meth:`forward_head`, :meth:`get_classifier` and
    :meth:`reset_classifier`.
    """

    num_classes: int
    in_chans: int
    feature_info: list[FeatureInfo]
    # The size the model was designed for; error messages suggest it. create_model sets
    # the registered card; models built directly fall back to this.
    default_input_size: tuple[int, int, int] = (3, 224, 224)

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Every reset_classifier validates its argument the same way, before touching the model.
        super().__init_subclass__(**kwargs)
        reset = cls.__dict__.get("reset_classifier")
        if reset is not None and not getattr(reset, "_validates", False):

            @functools.wraps(reset)
            def checked(self: "ClassifierNet", num_classes: int) -> None:
                if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
                    raise ConfigError(
                        f"reset_classifier needs a positive integer number of classes, got {num_classes!r}"
                    )
                reset(self, num_classes)

            checked._validates = True  # type: ignore[attr-defined]
            cls.reset_classifier = checked  # type: ignore[method-assign]

    def __init__(self) -> None:
        super().__init__()
        self._checked_sizes: set[tuple[int, ...]] = set()

    # -- the contract ---------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, before global pooling or flattening."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Classifier on a feature map; ``pre_logits=True`` stops before the last layer."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        """The last layer, the one :meth:`reset_classifier` replaces."""
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one of ``num_classes`` outputs."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    # -- input checking -------------------------------------------------------------
    def _input_hint(self) -> tuple[str, tuple[int, int, int]]:
        card = getattr(self, "card", None)
        name = card.name if card is not None else type(self).__name__
        size = card.input_size if card is not None else self.default_input_size
        return name, (self.in_chans, *size[1:])

    def check_input(self, x: torch.Tensor) -> None:
        """Fail before any work if the model cannot process ``x``, naming the layer and a fix.

        The spatial check traces the model once per input size on the meta device (no
        memory, no arithmetic) and caches the sizes that pass.
        """
        if _CHECKING.get() or torch.compiler.is_compiling() or torch.jit.is_scripting():
            return
        name, default = self._input_hint()
        fix = f"use input {_fmt(default)}, the size {name} was designed for"
        if not isinstance(x, torch.Tensor):
            raise InputShapeError(f"{name} expects a tensor, got {type(x).__name__}")
        if x.dim() != 4:
            extra = "; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else ""
            raise InputShapeError(
                f"{name} expects a 4-d batch N x C x H x W, got shape {tuple(x.shape)}{extra}"
            )
        if x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{name} was built for {self.in_chans}-channel input, got {x.shape[1]} channels "
                f"(shape {tuple(x.shape)}); convert the images or build it with "
                f"create_model({name!r}, in_chans={x.shape[1]})"
            )
        size = tuple(x.shape[1:])
        if size in self._checked_sizes:
            return
        trace_input_size(self, size, model_name=name, fix=fix)
        self._checked_sizes.add(size)


def _fmt(size: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in size)


def meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Shape-only stand-ins for every parameter and buffer, for ``functional_call``."""
    return {
        name: torch.empty_like(t, device="meta")
        for name, t in (*model.named_parameters(), *model.named_buffers())
    }


def trace_input_size(model: nn.Module, size: tuple[int, ...], model_name: str, fix: str) -> None:
    """Run ``model`` on a meta-device input of ``size`` (C x H x W); raise a clear
    :class:`InputShapeError` naming the innermost layer where the shapes stop working."""
    meta = meta_state(model)
    stack: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    names = {m: n for n, m in model.named_modules()}

    def enter(module: nn.Module, args: tuple) -> None:
        shape = tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else ()
        stack.append((names.get(module, "?"), module, shape))

    def leave(module: nn.Module, args: tuple, out: object) -> None:
        stack.pop()

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    token = _CHECKING.set(True)
    try:
        # Batch of 2: BatchNorm after a linear layer refuses one sample in training mode.
        functional_call(model, meta, (torch.empty((2, *size), device="meta"),))
    except (RuntimeError, ValueError) as err:
        where = stack[-1] if stack else ("input", model, (2, *size))
        layer, module, shape = where
        got = _fmt(shape[1:]) if len(shape) > 1 else "?"
        detail = str(err).strip().splitlines()[0]
        if isinstance(module, nn.Linear):
            problem = (
                f"{layer} (Linear) expects {module.in_features} input features but the feature "
                f"map before it flattens to {shape[-1] if shape else '?'}"
            )
        else:
            problem = f"at {layer or 'the model'} ({type(module).__name__}) the feature map is {got}: {detail}"
        raise InputShapeError(
            f"input {_fmt(size)} does not fit {model_name}: {problem}; {fix}"
        ) from None
    finally:
        _CHECKING.reset(token)
        for h in handles:
            h.remove()
