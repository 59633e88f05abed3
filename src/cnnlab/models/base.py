"""The contract every cnnlab model keeps, and the input check that runs before any work.

``forward(x)`` returns logits in train and eval mode. It is always
``forward_head(forward_features(x))``, so analysis, training, transfer and explanation need
no special cases. Models with auxiliary classifiers add ``forward_aux(x)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import numbers
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from ..errors import ConfigError, InputShapeError
from ..layers.heads import resized_like

# Set while the input check traces the model, so the traced forward does not check again.
_CHECKING: contextvars.ContextVar[bool] = contextvars.ContextVar("cnnlab_checking", default=False)


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
            def checked(self: "ClassifierNet", num_classes: int) -> None:
                _check_num_classes(num_classes)
                reset(self, num_classes)

            checked._validates = True  # type: ignore[attr-defined]
            cls.reset_classifier = checked  # type: ignore[method-assign]
        # forward_aux checks its own path (auxiliary heads included) before any work.
        aux = cls.__dict__.get("forward_aux")
        if aux is not None and not getattr(aux, "_validates", False):

            @functools.wraps(aux)
            def checked_aux(self: "ClassifierNet", x: torch.Tensor) -> object:
                self.check_input(x, aux=True)
                return aux(self, x)

            checked_aux._validates = True  # type: ignore[attr-defined]
            cls.forward_aux = checked_aux  # type: ignore[attr-defined]

    def __init__(self) -> None:
        super().__init__()
        self._checked_sizes: set[tuple[object, ...]] = set()  # (dtype, aux, C, H, W) that passed

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
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

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

    def check_input(self, x: torch.Tensor, aux: bool = False) -> None:
        """Fail before any work if the model cannot process ``x``, naming the layer and a fix.

        The spatial check traces the model once per input size, dtype and path (``aux``:
        the ``forward_aux`` path with its auxiliary heads) on the meta device (no memory,
        no arithmetic, no user hooks) and caches what passes.
        """
        if _CHECKING.get() or torch.compiler.is_compiling() or torch.jit.is_scripting():
            return
        name, default = self._input_hint()
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
                f"create_model({name!r}, in_chans={x.shape[1]}) (on the command line: --option in_chans={x.shape[1]})"
            )
        key = (x.dtype, aux, *x.shape[1:])
        if key in self._checked_sizes:
            return
        fix = f"use input {_fmt(default)}, the size {name} was designed for"
        if trace_input_size(self, tuple(x.shape[1:]), x.dtype, aux, name, fix, default):
            self._checked_sizes.add(key)


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
    """Routes a call to ``forward_aux``, so ``functional_call`` can run the auxiliary path."""

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


def meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Shape-only stand-ins for every parameter and buffer, for ``functional_call``."""
    return {
        name: torch.empty_like(t, device="meta")
        for name, t in (*model.named_parameters(), *model.named_buffers())
    }


_MODULE_HOOKS = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks",
)
_GLOBAL_HOOKS = (
    "_global_forward_hooks", "_global_forward_hooks_with_kwargs", "_global_forward_hooks_always_called",
    "_global_forward_pre_hooks", "_global_backward_hooks", "_global_backward_pre_hooks",
)


def _weight_hooks() -> tuple[type, ...]:
    """Forward pre-hooks that compute a module's weight (pruning masks, weight and spectral
    normalisation): part of the computation, so traces keep them."""
    from torch.nn.utils.prune import BasePruningMethod
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm

    return (BasePruningMethod, SpectralNorm, WeightNorm)


@contextlib.contextmanager
def hooks_suspended(model: nn.Module, keep_weight_hooks: bool = False) -> Iterator[None]:
    """Run with every hook of ``model`` and every global module hook out of the way.

    cnnlab's own traces run on meta tensors; a user's hook (feature capture, ``.numpy()``)
    must neither see them nor break them. Hooks registered inside the block are discarded.
    ``keep_weight_hooks`` keeps the pre-hooks that compute weights (``_weight_hooks``).
    """
    import torch.nn.modules.module as module_mod

    keep = _weight_hooks() if keep_weight_hooks else ()
    saved_local = [(m, attr, m.__dict__[attr]) for m in model.modules() for attr in _MODULE_HOOKS if attr in m.__dict__]
    saved_global = [(attr, dict(getattr(module_mod, attr))) for attr in _GLOBAL_HOOKS if hasattr(module_mod, attr)]
    computed = []  # the weights those hooks will overwrite, restored afterwards
    for m, attr, hooks in saved_local:
        kept = [(k, h) for k, h in hooks.items() if keep and isinstance(h, keep)] if attr == "_forward_pre_hooks" else []
        for _, h in kept:
            name = getattr(h, "_tensor_name", None) or getattr(h, "name", None)
            if name in m.__dict__:
                computed.append((m, name, m.__dict__[name]))
        m.__dict__[attr] = OrderedDict(kept)
    for attr, _ in saved_global:
        getattr(module_mod, attr).clear()
    try:
        yield
    finally:
        for m, attr, hooks in saved_local:
            m.__dict__[attr] = hooks
        for m, name, value in computed:
            m.__dict__[name] = value
        for attr, hooks in saved_global:
            getattr(module_mod, attr).clear()
            getattr(module_mod, attr).update(hooks)


@contextlib.contextmanager
def modes_kept(model: nn.Module) -> Iterator[None]:
    """Restore every submodule's own ``training`` flag afterwards (a model in training mode
    may hold frozen batch norms in eval mode; ``model.train(was)`` would lose them)."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _meta_forward(model: nn.Module, size: tuple[int, ...], dtype: torch.dtype, aux: bool, batch: int = 2) -> None:
    runner = AuxForward(model) if aux else model
    # Batch of 2: BatchNorm after a linear layer refuses one sample in training mode.
    functional_call(runner, meta_state(runner), (torch.empty((batch, *size), device="meta", dtype=dtype),))


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Shapes do not depend on the mode, and eval-mode BatchNorm on the meta device skips the
    # slow decomposition training mode takes (3x faster on a 1,001-layer net).
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


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

    token = _CHECKING.set(True)
    try:
        with hooks_suspended(model), _eval_mode(model):
            if works(size):  # the common case: one trace, no hooks
                return True
            if not works(tuple(default)):
                return False  # fails at the designed size too: not an input-size problem
            where, failure = _locate_failure(model, size, dtype, aux)
    finally:
        _CHECKING.reset(token)
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
