"""Sanity checks for attribution maps, as functions and as tests.

* :func:`model_randomisation` (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): a
  map that explains the *model* must change when the model's weights are re-initialised,
  top layer first (cascading). Guided backprop famously fails.
* :func:`class_sensitivity`: maps for different target classes must differ.
* :func:`deletion` (Petsiuk et al. 2018, "RISE", the deletion metric): deleting pixels in
  the order of the map must lower p(class) faster than deleting them at random.

A *method* is any ``method(model, images, target) -> Explanation`` whose maps are N x H x W
(or N x C x H x W: the absolute maximum over channels is taken; maps at a coarser
resolution are upsampled from ``extras["upsampled"]``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, model_device, prepared, resolve_targets
from .result import Explanation

Method = Callable[..., Explanation]


@dataclass
class SanityResult:
    """One check of one method: ``passed`` compares ``score`` with ``threshold``;
    ``values`` are the per-step numbers (per randomised layer, per deleted fraction)."""

    check: str
    method: str
    passed: bool
    score: float
    threshold: float
    values: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pixel_map(exp: Explanation, size: Sequence[int] | None = None) -> torch.Tensor:
    """The method's map as N x H x W: ``extras["upsampled"]`` where the method gives one,
    the absolute maximum over channels of an N x C x H x W result, and a coarser map
    (occlusion's grid) resized to ``size`` (nearest)."""
    m = exp.extras.get("upsampled", exp.maps).float()
    if m.dim() == 4:
        m = m.abs().amax(dim=1)
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        m = torch.nn.functional.interpolate(m[:, None], size=tuple(size), mode="nearest")[:, 0]
    return m


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per row of two N x D tensors (ties broken by position)."""
    ra = a.argsort(dim=1).argsort(dim=1).double()
    rb = b.argsort(dim=1).argsort(dim=1).double()
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def _name(method: Method) -> str:
    return getattr(method, "__name__", None) or getattr(getattr(method, "func", None), "__name__", repr(method))


def _parameterised(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (n, m)
        for n, m in model.named_modules()
        if callable(getattr(m, "reset_parameters", None)) and any(True for _ in m.parameters(recurse=False))
    ]


def model_randomisation(
    method: Method,
    model: nn.Module,
    images: Any,
    target: Any = None,
    *,
    cascade: bool = True,
    seed: int = 0,
    threshold: float = 0.5,
    layers: int | None = None,
) -> SanityResult:
    """Re-initialise a copy of the model's parameterised layers from the logits down
    (``cascade=True``: each step adds the next layer below; ``False``: one layer at a time),
    ``layers`` of them (default: all), recompute the map for the same targets, and measure
    the Spearman rank correlation of the absolute maps with the original's. The method
    passes if the correlation after the last step falls below ``threshold``. The caller's
    model is never touched."""
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    with prepared(model), torch.no_grad():
        targets = resolve_targets(target, model(pre.normalize(x.to(model_device(model)))), pre).cpu()
    base = pixel_map(method(model, x, targets), x.shape[-2:]).flatten(1).abs()
    copy_ = copy.deepcopy(model)
    todo = list(reversed(_parameterised(copy_)))[: layers or None]
    if not todo:
        raise ConfigError(f"{type(model).__name__} has no layers with parameters to re-initialise")
    values, labels = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, module in todo:
            target_model = copy_ if cascade else copy.deepcopy(model)
            mod = module if cascade else dict(target_model.named_modules())[name]
            mod.reset_parameters()
            maps = pixel_map(method(target_model, x, targets), x.shape[-2:]).flatten(1).abs()
            values.append(float(spearman(base, maps).mean()))
            labels.append(name)
    score = values[-1]
    passed = score < threshold
    return SanityResult(
        "model randomisation",
        _name(method),
        passed,
        score,
        threshold,
        values,
        labels,
        f"rank correlation with the trained model's map after re-initialising {len(todo)} layer(s) "
        f"{'cumulatively' if cascade else 'one at a time'}: {score:.3f} "
        f"({'below' if passed else 'not below'} {threshold}: {'passes' if passed else 'fails'})",
    )


def class_sensitivity(
    method: Method, model: nn.Module, images: Any, classes: Sequence[int] | None = None, *, threshold: float = 0.9
) -> SanityResult:
    """Maps for three or more target classes (default: each image's top three) and their
    mean pairwise Spearman correlation; passes below ``threshold`` (a map that ignores the
    class cannot)."""
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    with prepared(model), torch.no_grad():
        logits = model(pre.normalize(x.to(model_device(model)))).cpu()
    if classes is None:
        chosen = logits.topk(3, dim=1).indices.T
    else:
        if len(classes) < 3:
            raise ConfigError(f"class sensitivity needs 3 or more classes, got {list(classes)}")
        chosen = torch.tensor(list(classes))[:, None].expand(-1, len(x))
    maps = [pixel_map(method(model, x, c), x.shape[-2:]).flatten(1) for c in chosen]
    pairs = [float(spearman(maps[i], maps[j]).mean()) for i in range(len(maps)) for j in range(i + 1, len(maps))]
    score = sum(pairs) / len(pairs)
    passed = score < threshold
    return SanityResult(
        "class sensitivity",
        _name(method),
        passed,
        score,
        threshold,
        pairs,
        [],
        f"mean rank correlation between the maps of {len(maps)} classes: {score:.3f} "
        f"({'passes' if passed else 'fails'} at {threshold})",
    )


def deletion(
    method: Method,
    model: nn.Module,
    images: Any,
    target: Any = None,
    *,
    steps: int = 20,
    fill: float = 0.0,
    seed: int = 0,
    low_is_important: bool = False,
) -> SanityResult:
    """Delete (set to ``fill``) the most important pixels first, ``steps`` equal fractions,
    and record p(target) after each; the area under that curve is compared with deleting in
    a seeded random order. Passes if the method's area is smaller. ``low_is_important`` for
    maps where low values mark important pixels (occlusion probabilities)."""
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    dev = model_device(model)
    with prepared(model), torch.no_grad():
        targets = resolve_targets(target, model(pre.normalize(x.to(dev))), pre).cpu()
    importance = pixel_map(method(model, x, targets), x.shape[-2:]).flatten(1)
    if low_is_important:
        importance = -importance
    g = torch.Generator().manual_seed(seed)
    random_order = torch.rand(importance.shape, generator=g).argsort(dim=1)

    def curve(order: torch.Tensor) -> list[float]:
        n, hw = order.shape
        probs = []
        with prepared(model), torch.no_grad():
            for s in range(steps + 1):
                k = round(hw * s / steps)
                mask = torch.ones(n, hw)
                mask.scatter_(1, order[:, :k], 0.0)
                mask = mask.view(n, 1, *x.shape[-2:])
                xs = x * mask + fill * (1 - mask)
                p = model(pre.normalize(xs.to(dev))).softmax(1).gather(1, targets.to(dev)[:, None])[:, 0]
                probs.append(float(p.mean()))
        return probs

    ours = curve(importance.argsort(dim=1, descending=True))
    rand = curve(random_order)
    auc = lambda c: (sum(c) - (c[0] + c[-1]) / 2) / steps  # noqa: E731  trapezoid on [0, 1]
    score, reference = auc(ours), auc(rand)
    passed = score < reference
    return SanityResult(
        "deletion",
        _name(method),
        passed,
        score,
        reference,
        ours,
        [f"random: {v:.4f}" for v in rand],
        f"area under p(class) while deleting pixels: {score:.4f} by the map vs {reference:.4f} at random "
        f"({'passes' if passed else 'fails'})",
    )
