"""The contract every cnnlab model keeps, and the input diagnosis that runs when a forward fails.

``forward(x)`` returns logits in train and eval mode. It is always
``forward_head(forward_features(x))``, so analysis, training, transfer and explanation need
no special cases. Models with auxiliary classifiers add ``forward_aux(x)``.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import torch
from torch import nn

from ..errors import ConfigError, InputShapeError
from ..layers.heads import resized_like
from ..tracing import is_tracing, left_as_found, meta_call


class FeatureInfo(NamedTuple):
    """One stage of a model: module name, output channels, total stride from the input."""

    module: str
    num_chs: int
    reduction: int


class ClassifierNet(nn.Module):
    """Base class of every cnnlab network.

    Subclasses set ``num_classes``, ``in_chans``, ``feature_info`` and (unless it is
    ``"fc"``) ``classifier_name`` in ``__init__``, implement :meth:`forward_features` and
    :meth:`forward_head`, and override :meth:`init_classifier` when their build initialises
    the last layer its own way. Models with auxiliary heads add ``forward_aux`` and extend
    :meth:`reset_classifier` to resize them too.
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
            def checked(self: ClassifierNet, num_classes: int) -> None:
                _check_num_classes(num_classes)
                reset(self, num_classes)

            checked._validates = True  # type: ignore[attr-defined]
            cls.reset_classifier = checked  # type: ignore[method-assign]
        # forward_aux diagnoses a failure on its own path (auxiliary heads included).
        aux = cls.__dict__.get("forward_aux")
        if aux is not None and not getattr(aux, "_validates", False):

            @functools.wraps(aux)
            def checked_aux(self: ClassifierNet, x: torch.Tensor) -> object:
                if is_tracing() or torch.compiler.is_compiling() or torch.jit.is_scripting():
                    return aux(self, x)
                return _run_checked(self, aux, x, aux=True)

            checked_aux._validates = True  # type: ignore[attr-defined]
            cls.forward_aux = checked_aux  # type: ignore[attr-defined]

    # -- the contract ---------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, before global pooling or flattening."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Classifier on a feature map; ``pre_logits=True`` stops before the last layer."""
        raise NotImplementedError

    # The attribute that holds the last layer (``"fc8"``, ``"output"``): get_classifier and
    # reset_classifier use it; models with auxiliary heads extend reset_classifier.
    classifier_name: str = "fc"

    def get_classifier(self) -> nn.Module:
        """The last layer, the one :meth:`reset_classifier` replaces."""
        return getattr(self, self.classifier_name)

    def init_classifier(self, layer: nn.Module) -> None:
        """Initialise a new classifier layer as the model's build does (default: PyTorch's)."""

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one of ``num_classes`` outputs,
        on the old one's device and dtype and in its place in the module order."""
        _check_num_classes(num_classes)
        new = resized_like(self.get_classifier(), num_classes)
        self.init_classifier(new)
        setattr(self, self.classifier_name, new)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_tracing() or torch.compiler.is_compiling() or torch.jit.is_scripting():
            return _plain_forward(self, x)
        return _run_checked(self, _plain_forward, x, aux=False)

    # -- input checking -------------------------------------------------------------
    def _input_hint(self) -> tuple[str, tuple[int, int, int]]:
        # An instance's own default_input_size (set when an option changes the designed
        # size, e.g. LeNet-5 with padding=2) wins over the card's.
        card = getattr(self, "card", None)
        name = card.name if card is not None else type(self).__name__
        if "default_input_size" in self.__dict__ or card is None:
            size = self.default_input_size
        else:
            size = card.input_size
        return name, (self.in_chans, *size[1:])

    def _check_layout(self, x: object) -> None:
        """The checks that cost nothing: a 4-d tensor with the model's channel count."""
        name, _ = self._input_hint()
        if not isinstance(x, torch.Tensor):
            raise InputShapeError(f"{name} expects a tensor, got {type(x).__name__}")
        if x.dim() != 4:
            extra = "; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else ""
            raise InputShapeError(f"{name} expects a 4-d batch N x C x H x W, got shape {tuple(x.shape)}{extra}")
        if x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{name} was built for {self.in_chans}-channel input, got {x.shape[1]} channels "
                f"(shape {tuple(x.shape)}); convert the images or build it with "
                f"create_model({name!r}, in_chans={x.shape[1]}) (on the command line: --option in_chans={x.shape[1]})"
            )

    def check_input(self, x: torch.Tensor, aux: bool = False) -> None:
        """Raise a clear :class:`InputShapeError` if the model cannot process ``x``, naming the
        innermost layer where the shapes stop working and the designed size.

        Only when asked: it traces the model (``aux``: the ``forward_aux`` path) on the meta
        device, with the user's hooks set aside and nothing written into the model. A plain
        ``model(x)`` does not call it; it diagnoses this way only after its forward failed.
        """
        if is_tracing() or torch.compiler.is_compiling() or torch.jit.is_scripting():
            return
        self._check_layout(x)
        name, default = self._input_hint()
        fix = f"use input {_fmt(default)}, the size {name} was designed for"
        trace_input_size(self, tuple(x.shape[1:]), x.dtype, aux, name, fix, default)

    def _diagnose(self, x: torch.Tensor, aux: bool) -> None:
        """After a forward failed: raise the shape error if the input size is the cause."""
        if is_tracing() or torch.compiler.is_compiling() or torch.jit.is_scripting():
            return
        self.check_input(x, aux=aux)


def _plain_forward(self: ClassifierNet, x: torch.Tensor) -> torch.Tensor:
    return self.forward_head(self.forward_features(x))


def _run_checked(model: ClassifierNet, call, x: object, aux: bool):
    """``call(model, x)`` with the free layout checks before it, and a diagnosis after it
    fails: the forward itself is the model's and nothing else."""
    model._check_layout(x)
    try:
        return call(model, x)
    except InputShapeError:
        raise
    except (RuntimeError, ValueError) as failure:
        try:
            model._diagnose(x, aux)  # raises the InputShapeError when the size is the cause
        except InputShapeError as shape:
            raise shape from failure
        except Exception:  # the diagnosis could not run: the forward's own error is the answer
            pass
        raise


def _locate_failure(
    model: nn.Module, size: tuple[int, ...], dtype: torch.dtype, aux: bool
) -> tuple[tuple[str, nn.Module, tuple[int, ...]], Exception]:
    """Trace again with hooks on every module: the innermost one open when it fails."""
    stack: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    names = {m: n for n, m in model.named_modules()}

    def enter(module: nn.Module, args: tuple) -> None:
        shape = tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else ()
        stack.append((names.get(module, "?"), module, shape))

    def leave(module: nn.Module, args: tuple, out: object) -> None:
        stack.pop()

    for module in model.modules():  # inside hooks_suspended: discarded when it ends
        module.register_forward_pre_hook(enter)
        module.register_forward_hook(leave)
    try:
        _meta_forward(model, size, dtype, aux)
    except (RuntimeError, ValueError) as err:
        return (stack[-1] if stack else ("input", model, (2, *size))), err
    raise AssertionError("the meta trace failed once and then passed")  # deterministic: unreachable


class AuxForward(nn.Module):
    """Routes a call to ``forward_aux``, so a wrapper (DDP, a trace) can run the auxiliary path."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> object:
        return self.model.forward_aux(x)


def _check_num_classes(num_classes: object) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes <= 0:
        raise ConfigError(f"reset_classifier needs a positive integer number of classes, got {num_classes!r}")


def _fmt(size: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in size)


def _meta_forward(model: nn.Module, size: tuple[int, ...], dtype: torch.dtype, aux: bool, batch: int = 2) -> None:
    # Batch of 2: BatchNorm after a linear layer refuses one sample in training mode.
    meta_call(model, model.forward_aux if aux else model, torch.empty((batch, *size), device="meta", dtype=dtype))


def trace_input_size(
    model: nn.Module,
    size: tuple[int, ...],
    dtype: torch.dtype,
    aux: bool,
    model_name: str,
    fix: str,
    default: tuple[int, ...],
) -> bool:
    """Run ``model`` on a meta-device input of ``size`` (C x H x W).

    Returns True when the shapes work. Raises a clear :class:`InputShapeError` naming the
    innermost layer where they stop working, if the designed ``default`` size works with
    the same dtype; otherwise the failure is not about the input size (a dtype mismatch,
    say) and the check returns False, leaving the real forward to report it.
    """

    def works(shape: tuple[int, ...]) -> bool:
        try:
            _meta_forward(model, shape, dtype, aux)
            return True
        except InputShapeError:
            raise  # a model's own check (e.g. an auxiliary head's minimum grid) said it
        except (RuntimeError, ValueError):
            return False

    with left_as_found(model):
        # Shapes do not depend on the mode, and eval-mode BatchNorm on the meta device skips
        # the slow decomposition training mode takes (3x faster on a 1,001-layer net).
        model.eval()
        if works(size):  # the common case: one trace, no hooks
            return True
        if not works(tuple(default)):
            return False  # fails at the designed size too: not an input-size problem
        where, failure = _locate_failure(model, size, dtype, aux)
    layer, module, shape = where
    got = _fmt(shape[1:]) if len(shape) > 1 else "?"
    detail = str(failure).strip().splitlines()[0]
    if isinstance(module, nn.Linear):
        problem = (
            f"{layer} (Linear) expects {module.in_features} input features but the feature "
            f"map before it flattens to {shape[-1] if shape else '?'}"
        )
    else:
        problem = f"at {layer or 'the model'} ({type(module).__name__}) the feature map is {got}: {detail}"
    raise InputShapeError(f"input {_fmt(size)} does not fit {model_name}: {problem}; {fix}")
