"""One way into a model for every explanation method.

Everything in :mod:`cnnlab.explain` reaches the model through this module, so the hazards
that break other tools are handled once:

* **layers by name**: the dotted module names of ``named_modules()`` (``"features.28"``,
  ``"inception4e"``, ``"layer4.1.conv2"``), listed with their output shapes and receptive
  fields by :func:`list_layers`; an unknown name fails with the closest names;
* **state restored**: :func:`prepared` puts every submodule in eval mode, switches off the
  parameters' ``requires_grad`` and sets the user's own hooks aside; all of it comes back
  afterwards, whatever happens inside, and hooks cnnlab adds are always removed;
* **in-place and reused ReLUs**: :func:`capture` returns a *copy* of a layer's output to
  the rest of the network, so an in-place ReLU downstream (``nn.ReLU(inplace=True)``,
  ``F.relu_``) cannot overwrite the captured activation; :func:`relu_rule` replaces every
  ReLU call (module, functional, method or in-place; reused modules included) for guided
  backprop and deconvnet, and refuses other non-linearities instead of treating them
  silently as ReLUs;
* **pixels in, pixels out**: :class:`Preprocess` holds the model's input size, mean and
  std (``model.pretrained_cfg``), so methods take and return images in ``[0, 1]`` pixel
  units and never see a normalised tensor the user has to undo.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..analysis import analyze
from ..data import open_image
from ..errors import ConfigError, InputShapeError
from ..registry import IMAGENET_MEAN, IMAGENET_STD
from ..tracing import hooks_suspended, modes_kept, user_hooks

# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """A model's input: ``input_size`` ``(C, H, W)``, per-channel ``mean`` and ``std`` in
    pixel units (``[0, 1]``), and the class names when known."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, model: nn.Module) -> Preprocess:
        """The preprocessing that travels with ``model`` (``model.pretrained_cfg``, set by
        ``create_model``, weight loading and run loading); ImageNet's for a plain module."""
        cfg = getattr(model, "pretrained_cfg", None) or {}
        size = tuple(cfg.get("input_size") or _guess_input_size(model))
        channels = size[0]
        mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN if channels == 3 else (0.0,) * channels))
        std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD if channels == 3 else (1.0,) * channels))
        classes = cfg.get("classes")
        return cls(size, mean, std, tuple(classes) if classes else None)  # type: ignore[arg-type]

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(pixels - mean) / std``: what the model reads. Differentiable."""
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalize`: back to pixel units."""
        mean, std = self._stats(x)
        return x * std + mean

    def class_name(self, index: int) -> str:
        if self.classes and 0 <= index < len(self.classes):
            return self.classes[index]
        return str(index)

    def class_index(self, target: int | str) -> int:
        """A class given by index or by name."""
        if isinstance(target, int) or (isinstance(target, str) and target.lstrip("-").isdigit()):
            return int(target)
        if self.classes and target in self.classes:
            return self.classes.index(target)
        close = difflib.get_close_matches(str(target), self.classes or (), n=3)
        known = (
            f"; did you mean {', '.join(close)}?"
            if close
            else (
                f"; the classes are {', '.join(self.classes[:20])}{' ...' if len(self.classes) > 20 else ''}"
                if self.classes
                else "; this model has no class names, pass an index"
            )
        )
        raise ConfigError(f"unknown class {target!r}{known}")


def _guess_input_size(model: nn.Module) -> tuple[int, int, int]:
    card = getattr(model, "card", None)
    if card is not None:
        return tuple(card.input_size)  # type: ignore[return-value]
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return (first.in_channels if first is not None else 3, 224, 224)


def as_batch(
    images: torch.Tensor | Sequence[torch.Tensor], preprocess: Preprocess, *, what: str = "images"
) -> torch.Tensor:
    """``images`` as a new float ``N x C x H x W`` batch in pixel units, checked.

    Accepts one ``C x H x W`` image or a batch, float in ``[0, 1]`` or ``uint8`` in
    ``[0, 255]``, or a list of images of one size. The caller's tensor is never modified."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ConfigError(f"no {what} given; pass a C x H x W tensor or a batch")
        images = torch.stack([torch.as_tensor(i) for i in images])
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    x = images.detach()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise InputShapeError(f"{what} must be C x H x W or N x C x H x W, got shape {tuple(images.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif not x.is_floating_point():
        raise ConfigError(f"{what} must be float pixels in [0, 1] or uint8, got dtype {x.dtype}")
    channels = preprocess.input_size[0]
    if x.shape[1] != channels:
        raise InputShapeError(
            f"{what} have {x.shape[1]} channels, the model reads {channels}; convert them (e.g. "
            f"load_image(path, preprocess) converts files)"
        )
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ConfigError(
            f"{what} must be in pixel units [0, 1] (explain normalises them itself with the model's mean and "
            f"std); got values in [{lo:.3g}, {hi:.3g}]. If they are already normalised, undo it with "
            "Preprocess.of(model).denormalize(x)"
        )
    return x.clone().float()


def load_image(path: str | Path, preprocess: Preprocess, *, resize: bool = True) -> torch.Tensor:
    """An image file as a ``C x H x W`` float tensor in ``[0, 1]``, converted to the model's
    channels and (by default) resized to its input size (bilinear)."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise ConfigError(f"image {str(path)!r} {what}; pass an image file (PNG, JPEG, ...)")
    channels, height, width = preprocess.input_size
    img = open_image(p, "L" if channels == 1 else "RGB")
    if resize and img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(img.size[1], img.size[0], -1)
    return data.permute(2, 0, 1).float() / 255.0


# ------------------------------------------------------------------------------ layers


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: its dotted name, type, output shape (one sample) and
    receptive field (pixels, per axis; ``None`` when global or unknown)."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    receptive_field: tuple[int, ...] | None
    jump: tuple[int, ...] | None


def list_layers(model: nn.Module, input_size: Sequence[int] | None = None) -> list[LayerInfo]:
    """Every named module the forward pass calls, in execution order, with its output shape
    and receptive field (from :func:`cnnlab.analyze`, on the meta device: no compute)."""

    size = tuple(input_size) if input_size is not None else Preprocess.of(model).input_size
    result = analyze(model, size, measure_saved=False)
    by_row = {r.index: r for r in result.rows}
    out: dict[str, LayerInfo] = {}
    # Containers (stages, blocks) and leaves, ordered by where their output is produced.
    entries = [(m.last_row, m.name, m.type, m.output_shapes) for m in result.modules if m.call == 0 and m.name]
    entries += [(r.index, r.name, r.type, r.output_shapes) for r in result.rows if not r.functional and r.call == 0]
    for row, name, kind, shapes in sorted(entries, key=lambda e: (e[0], -e[1].count("."))):
        if name in out or not shapes:
            continue
        rf = by_row[row].rf if row in by_row else None
        spatial = rf is not None and rf.is_spatial
        out[name] = LayerInfo(
            name,
            kind,
            tuple(shapes[0][1:]),
            tuple(int(s) for s in rf.size) if spatial else None,
            tuple(int(j) for j in rf.jump) if spatial else None,
        )
    return list(out.values())


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted, as in ``named_modules()``; a ``#k`` call
    suffix is ignored here)."""
    name = parse_layer(name)[0]
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"the top-level layers are {', '.join(n for n in names if '.' not in n)}"
    )
    raise ConfigError(
        f"no layer {name!r} in {type(model).__name__}; {hint} (`cnnlab summary` or list_layers() lists them all)"
    )


def default_layer(model: nn.Module, kind: str = "last_conv") -> str:
    """The layer a method uses when none is named: the last stage of a cnnlab model
    (``feature_info``) or else the last convolution (``kind="last_conv"``), or the first
    convolution (``kind="first_conv"``: filter grids)."""
    convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Conv3d))]
    if not convs:
        raise ConfigError(f"{type(model).__name__} has no convolution; name a layer with layer=")
    if kind == "first_conv":
        return convs[0]
    if kind != "last_conv":
        raise ConfigError(f"kind must be 'last_conv' or 'first_conv', got {kind!r}")
    info = getattr(model, "feature_info", None)
    return info[-1].module if info else convs[-1]


def split_forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(feature map, logits)`` through the model contract (``forward_features`` then
    ``forward_head``): the map global pooling reads, whatever module produced it."""
    if not (callable(getattr(model, "forward_features", None)) and callable(getattr(model, "forward_head", None))):
        raise ConfigError(
            f"{type(model).__name__} has no forward_features/forward_head (the cnnlab model contract); "
            "name a layer with layer="
        )
    features = model.forward_features(x)
    return features, model.forward_head(features)


@contextlib.contextmanager
def producers(model: nn.Module) -> Iterator[dict[int, str]]:
    """Inside the block, ``found[id(t)]`` names the module whose call returned tensor ``t``
    (the outermost one, when a container returns its last layer's output unchanged)."""
    found: dict[int, str] = {}
    names = {id(m): n for n, m in model.named_modules() if n}

    def note(module: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            found[id(out)] = names[id(module)]

    handles = [m.register_forward_hook(note) for n, m in model.named_modules() if n]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def feature_layer(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, str]:
    """:func:`split_forward` and the name of the layer whose output ``forward_features``
    returned (as ``--list-layers`` shows it), or ``"forward_features"`` when a functional op
    made it."""
    with producers(model) as found:
        features, logits = split_forward(model, x)
    return features, logits, found.get(id(features), "forward_features")


# ------------------------------------------------------------------------ model state


@contextlib.contextmanager
def prepared(model: nn.Module, *, mode: str = "eval") -> Iterator[nn.Module]:
    """Run explanation code on ``model`` with every submodule in eval mode (``mode="eval"``;
    ``"keep"`` leaves modes alone), parameters' ``requires_grad`` off (gradients flow to the
    input only; parameter ``.grad`` is never touched) and the user's hooks set aside.
    Everything is restored on exit, exceptions included. A user's forward hooks would see
    (and could change) every intermediate pass, so they are set aside, with a warning naming
    them: the explanation is of the model's own function."""
    if mode not in ("eval", "keep"):
        raise ConfigError(f"mode must be 'eval' or 'keep', got {mode!r}")
    hooked = user_hooks(model)
    if hooked:
        warnings.warn(
            f"{type(model).__name__} has forward hooks on {', '.join(repr(h) for h in hooked[:5])}"
            f"{' ...' if len(hooked) > 5 else ''}; explanations run without them, so they explain the model's own "
            "function, not what model(x) computes with the hooks. Remove the hooks, or fold what they do into a "
            "module, to explain that",
            stacklevel=3,
        )
    flags = [(p, p.requires_grad) for p in model.parameters()]
    grads = [(p, p.grad) for p in model.parameters()]
    with hooks_suspended(model, keep_weight_hooks=True), modes_kept(model):
        if mode == "eval":
            model.eval()
        try:
            for p, _ in flags:
                p.requires_grad_(False)
            yield model
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            for p, grad in grads:
                p.grad = grad


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class _Stop(Exception):
    """Raised by a capture hook to end a forward pass once the last needed layer ran."""


class Captured(dict):
    """Activations captured by :func:`capture`, by layer name."""


def parse_layer(spec: str) -> tuple[str, int | None]:
    """``"layer4.1.relu#2"`` -> ``("layer4.1.relu", 2)``: a module and which of its calls in
    one forward pass (``#1`` the first; no suffix: the first, with a warning if there are
    more). The labels are those of :func:`cnnlab.analyze` and ``--list-layers``."""
    name, sep, call = spec.rpartition("#")
    if not sep:
        return spec, None
    if not call.isdigit() or int(call) < 1:
        raise ConfigError(f"layer {spec!r}: the part after '#' must be a call number from 1, like {name}#2")
    return name, int(call)


@contextlib.contextmanager
def capture(model: nn.Module, layers: str | Sequence[str], *, stop: bool = False) -> Iterator[Captured]:
    """Record the output of each named layer during the forward pass inside the block.

    The captured tensor stays in the autograd graph (``torch.autograd.grad(score,
    acts[name])`` works); the rest of the network reads a copy of it, so in-place
    operations downstream cannot change it. A module called more than once per forward pass
    (torchvision's ResNet reuses ``relu`` in a block) is captured at the call its name picks
    (``"layer4.1.relu#2"``: the second), by default the first, with a warning naming the
    calls when there are more; ``acts.calls[name]`` counts them. ``stop=True`` ends the
    forward pass after the last named layer (feature extraction without the head): call
    :func:`run_to` rather than the model."""
    specs = [layers] if isinstance(layers, str) else list(layers)
    acts = Captured()
    acts.calls = {n: 0 for n in specs}  # type: ignore[attr-defined]
    handles = []

    def make(spec: str, want: int) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, out: Any) -> Any:
            if not isinstance(out, torch.Tensor):
                raise ConfigError(
                    f"layer {spec!r} ({type(module).__name__}) returns {type(out).__name__}, not a tensor; "
                    "name a layer inside it or after it"
                )
            acts.calls[spec] += 1  # type: ignore[attr-defined]
            if acts.calls[spec] != want:  # type: ignore[attr-defined]
                return None
            acts[spec] = out
            if stop and all(n in acts for n in specs):
                raise _Stop
            return out.clone()

        return hook

    for spec in specs:
        name, call = parse_layer(spec)
        handles.append(get_layer(model, name).register_forward_hook(make(spec, call or 1)))
    try:
        yield acts
    finally:
        for h in handles:
            h.remove()
    for spec in specs:
        name, call = parse_layer(spec)
        n = acts.calls[spec]  # type: ignore[attr-defined]
        if call is None and n > 1:
            warnings.warn(
                f"layer {name!r} is called {n} times in one forward pass; using its first call. Name the call "
                f"to use another: {', '.join(f'{name}#{k}' for k in range(1, n + 1))}",
                stacklevel=3,
            )
        elif call is not None and n < call:
            raise ConfigError(
                f"layer {spec!r}: {name} is called {n} time{'s' if n != 1 else ''} per forward pass, "
                f"so there is no call #{call}"
            )


def run_to(model: nn.Module, x: torch.Tensor, layers: str | Sequence[str]) -> Captured:
    """The named layers' outputs for input ``x`` (normalised), stopping the forward pass
    after the last of them."""
    with capture(model, layers, stop=True) as acts:
        try:
            model(x)
        except _Stop:
            pass
    missing = [n for n in acts.calls if n not in acts]  # type: ignore[attr-defined]
    if missing:
        raise ConfigError(f"layers {missing} were not called by the forward pass; list_layers() lists those that are")
    return acts


# ---------------------------------------------------------------------------- targets


def resolve_targets(
    target: int | str | Sequence[int | str] | torch.Tensor | None, logits: torch.Tensor, preprocess: Preprocess
) -> torch.Tensor:
    """One class index per image: ``None`` takes each image's top class; an int or a name
    applies to every image; a sequence gives one per image."""
    n, k = logits.shape[0], logits.shape[1]
    if target is None:
        idx = logits.argmax(dim=1)
    elif isinstance(target, torch.Tensor):
        idx = target.to(torch.long).flatten()
        if idx.numel() == 1:
            idx = idx.expand(n)
    elif isinstance(target, (list, tuple)):
        idx = torch.tensor([preprocess.class_index(t) for t in target], dtype=torch.long)
    else:
        idx = torch.full((n,), preprocess.class_index(target), dtype=torch.long)
    if idx.numel() != n:
        raise ConfigError(f"{idx.numel()} targets for {n} images; give one target, or one per image")
    bad = [int(i) for i in idx if not 0 <= int(i) < k]
    if bad:
        raise ConfigError(f"target class {bad[0]} is out of range: the model has {k} classes (0..{k - 1})")
    return idx.to(logits.device)


def generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A private random generator (the global RNG is left alone); ``seed=None`` draws one."""
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def batches(
    total: int, batch_size: int, *, desc: str, unit: str = "forward passes", progress: bool | None = None
) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` index ranges over ``total`` items in batches of ``batch_size``, with a
    progress bar that states the cost up front (``progress=None``: only on a terminal)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    steps = math.ceil(total / batch_size)
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from tqdm import tqdm

        bar = tqdm(
            total=total, desc=f"{desc}: {total} {unit} in {steps} batches of {batch_size}", unit="pass", leave=False
        )
    try:
        for start in range(0, total, batch_size):
            stop = min(total, start + batch_size)
            yield start, stop
            if show:
                bar.update(stop - start)
    finally:
        if show:
            bar.close()


# ----------------------------------------------------------------- ReLU backward rules

# Non-linearities that are not ReLU: guided backprop and deconvnet are defined for ReLU
# networks only, so meeting one of these is an error, not a silent approximation.
_OTHER_ACTIVATIONS = {
    F.leaky_relu,
    F.elu,
    F.selu,
    F.celu,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.hardsigmoid,
    F.softplus,
    F.hardtanh,
    F.relu6,
    F.prelu,
    F.rrelu,
    F.tanh,
    F.sigmoid,
    torch.tanh,
    torch.sigmoid,
    torch.Tensor.tanh,
    torch.Tensor.sigmoid,
    torch.nn.functional.logsigmoid,
}
_RELUS = {F.relu, torch.relu, torch.Tensor.relu}
_RELUS_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}


class _ReluRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: str) -> torch.Tensor:  # type: ignore[override]
        out = x.clamp(min=0)
        ctx.rule = rule
        ctx.save_for_backward(x > 0)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (positive,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":  # Zeiler & Fergus: the ReLU applied to the signal going down
            return grad.clamp(min=0), None
        # guided backprop (Springenberg et al.): the forward mask and the deconvnet rule together
        return grad.clamp(min=0) * positive, None


class _ReluRuleMode(TorchFunctionMode):
    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = rule
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELUS or func in _RELUS_INPLACE:
            x = args[0]
            inplace = func in _RELUS_INPLACE or bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))
            self.calls += 1
            out = _ReluRule.apply(x, self.rule)
            return x.copy_(out) if inplace else out
        if func in _OTHER_ACTIVATIONS:
            name = getattr(func, "__name__", str(func))
            raise ConfigError(
                f"{self.rule} is defined for ReLU networks, and this model calls {name}; its backward rule for "
                f"{name} is not defined, so cnnlab refuses rather than treat it as a ReLU. Use saliency, "
                "Grad-CAM or occlusion for this model"
            )
        return func(*args, **kwargs)


@contextlib.contextmanager
def relu_rule(rule: str) -> Iterator[_ReluRuleMode]:
    """Inside the block every ReLU (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()``,
    their in-place forms, reused modules alike) back-propagates by ``rule``:
    ``"guided"`` (guided backprop) or ``"deconvnet"``; other non-linearities raise
    :class:`~cnnlab.errors.ConfigError`. ``mode.calls`` counts the ReLUs rewritten."""
    if rule not in ("guided", "deconvnet"):
        raise ConfigError(f"rule must be 'guided' or 'deconvnet', got {rule!r}")
    mode = _ReluRuleMode(rule)
    with mode:
        yield mode
