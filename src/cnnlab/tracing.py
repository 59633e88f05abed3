"""Running a module on stand-in weights without ever writing into it: the one place that does.

Traces (shapes, counts, receptive fields) run a user's model on shape-only meta tensors, or
on made-up weights. ``torch.func.functional_call`` is not safe for that: it addresses
weights by de-duplicated names, and on a graph where one module is registered under two
paths (``Sequential(c, relu, c)``, ``self.b2 = self.b1``) it leaves its stand-ins in the
real module. :func:`substituted` works on the modules themselves instead: each distinct
tensor gets one stand-in (tied weights stay tied), and every slot is put back from a list
of the exact objects it held, whatever the graph.

Ground floor: imports only torch, so ``models``, ``analysis``, ``explain`` and ``transfer``
can all use it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch
import torch.nn.modules.module as module_mod
from torch import nn
from torch.nn.utils.prune import BasePruningMethod
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

# Set while cnnlab traces a model, so a cnnlab model's forward does not diagnose a failure
# with a trace of its own inside the running one.
_TRACING: contextvars.ContextVar[bool] = contextvars.ContextVar("cnnlab_tracing", default=False)

# Forward pre-hooks that compute a module's weight (pruning masks, weight and spectral
# normalisation): part of the computation, so traces keep them.
WEIGHT_HOOKS = (BasePruningMethod, SpectralNorm, WeightNorm)

_MODULE_HOOKS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_hooks_with_kwargs",
    "_global_forward_hooks_always_called",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def is_tracing() -> bool:
    """True inside a cnnlab trace (see :func:`tracing`)."""
    return _TRACING.get()


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Mark the block as a cnnlab trace."""
    token = _TRACING.set(True)
    try:
        yield
    finally:
        _TRACING.reset(token)


def tensor_names(model: nn.Module) -> dict[int, str]:
    """``id(tensor) -> name`` for every parameter and buffer; a tensor reachable under several
    names (tied weights, a module registered twice) keeps the first, as ``named_parameters``."""
    names: dict[int, str] = {}
    for name, t in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(t), name)
    for name, t in model.named_buffers(remove_duplicate=False):
        names.setdefault(id(t), name)
    return names


@contextlib.contextmanager
def substituted(
    model: nn.Module, make: Callable[[str, torch.Tensor], torch.Tensor]
) -> Iterator[dict[str, torch.Tensor]]:
    """Inside the block every parameter and buffer of ``model`` is ``make(name, original)``:
    one stand-in per distinct tensor, named by its first name. Yields ``name -> stand-in``.

    On exit every slot holds again the very object it held before (identity, device, dtype,
    values, ``requires_grad`` and ``.grad`` untouched), also when the block raised, and also
    for a slot the forward reassigned (a buffer replaced by ``self.x = ...``).
    """
    names = tensor_names(model)
    slots: list[tuple[dict, str, torch.Tensor]] = []
    for m in model.modules():  # each module once, however many names it has
        for store in (m._parameters, m._buffers):
            slots.extend((store, key, t) for key, t in store.items() if t is not None)
    made: dict[int, torch.Tensor] = {}
    try:
        for store, key, t in slots:
            stand = made.get(id(t))
            if stand is None:
                stand = made[id(t)] = make(names[id(t)], t)
            store[key] = stand
        yield {names[i]: s for i, s in made.items()}
    finally:
        for store, key, t in slots:
            store[key] = t


def meta_like(dtype: torch.dtype | None = None, grad: bool = False) -> Callable[[str, torch.Tensor], torch.Tensor]:
    """A ``make`` for :func:`substituted`: shape-only meta tensors, floating ones in ``dtype``
    (default: their own), requiring grad where ``grad`` and the original does."""

    def make(name: str, t: torch.Tensor) -> torch.Tensor:
        kind = dtype if dtype is not None and t.is_floating_point() else t.dtype
        return torch.empty(t.shape, device="meta", dtype=kind).requires_grad_(grad and t.requires_grad)

    return make


@contextlib.contextmanager
def hooks_suspended(model: nn.Module, keep_weight_hooks: bool = False) -> Iterator[None]:
    """Run with every hook of ``model`` and every global module hook out of the way.

    cnnlab's own traces run on stand-in tensors; a user's hook (feature capture, ``.numpy()``)
    must neither see them nor break them. Hooks registered inside the block are discarded.
    ``keep_weight_hooks`` keeps the pre-hooks that compute weights (``WEIGHT_HOOKS``).
    """
    keep = WEIGHT_HOOKS if keep_weight_hooks else ()
    saved_local = [(m, attr, m.__dict__[attr]) for m in model.modules() for attr in _MODULE_HOOKS if attr in m.__dict__]
    saved_global = [(attr, dict(getattr(module_mod, attr))) for attr in _GLOBAL_HOOKS if hasattr(module_mod, attr)]
    computed = []  # the weights those hooks will overwrite, restored afterwards
    for m, attr, hooks in saved_local:
        kept = (
            [(k, h) for k, h in hooks.items() if keep and isinstance(h, keep)] if attr == "_forward_pre_hooks" else []
        )
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


def user_hooks(model: nn.Module) -> list[str]:
    """The modules of ``model`` holding forward hooks or forward pre-hooks that are not
    weight-computing ones, by name (``""``: the model itself); and ``"(global)"`` when a
    global module hook is registered."""
    found = []
    for name, m in model.named_modules():
        hooks = [
            *m._forward_hooks.values(),
            *[h for h in m._forward_pre_hooks.values() if not isinstance(h, WEIGHT_HOOKS)],
        ]
        if hooks:
            found.append(name)
    if any(getattr(module_mod, attr, None) for attr in _GLOBAL_HOOKS if "forward" in attr):
        found.append("(global)")
    return found


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


@contextlib.contextmanager
def left_as_found(model: nn.Module, keep_weight_hooks: bool = False) -> Iterator[None]:
    """The guard every trace runs under: the user's hooks set aside, modes, the global RNG
    and the grad mode restored, and the block marked as a trace."""
    with (
        tracing(),
        hooks_suspended(model, keep_weight_hooks=keep_weight_hooks),
        modes_kept(model),
        torch.random.fork_rng(devices=[]),
        torch.set_grad_enabled(torch.is_grad_enabled()),
    ):
        yield


def meta_call(
    model: nn.Module,
    call: Callable[[torch.Tensor], object],
    x: torch.Tensor,
    dtype: torch.dtype | None = None,
    grad: bool = False,
) -> object:
    """``call(x)`` with ``model``'s weights replaced by meta stand-ins (see :func:`meta_like`);
    the caller sets modes and hooks (usually under :func:`left_as_found`)."""
    with substituted(model, meta_like(dtype, grad)):
        return call(x)
