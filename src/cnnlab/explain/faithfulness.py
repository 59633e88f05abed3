"""Numbers that say how faithful an attribution map is to the model.

* :func:`deletion_insertion` (Petsiuk, Das & Saenko 2018, "RISE", Sec. 4.1): delete the
  pixels the map ranks highest first (replaced by ``0``, black) and watch p(class) fall;
  insert them first into a blurred copy of the image and watch it rise. The areas under the
  two curves (fraction of pixels on [0, 1]) are the scores: deletion lower is better,
  insertion higher is better.
* :func:`road` (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and Efficient
  Evaluation Strategy for Attribution Methods"): remove a fraction of the pixels, most
  relevant first (MoRF) or least relevant first (LeRF), and fill them by *noisy linear
  imputation* (each removed pixel the weighted mean of its 8 neighbours, 1/6 for the direct
  and 1/12 for the diagonal ones, solved jointly as one sparse linear system, plus Gaussian
  noise), which leaks no information about the removed shape through the fill. Reports
  p(class) and whether the class is still the top one after each fraction.

Maps may come at any resolution and with channels: :func:`~cnnlab.explain.sanity.pixel_map`
brings them to N x H x W (CAMs through ``extras["upsampled"]``). Pixels are ranked per image
by their map value (ties by position), so a batch equals the same images one at a time.
Everything runs in pixel units; the model's normalisation is applied after the fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, generator, model_device, prepared, resolve_targets
from .result import Explanation
from .sanity import pixel_map


@dataclass
class Curves:
    """Deletion and insertion curves of one map: p(target) (mean over the images) after each
    fraction of the pixels, their trapezoid areas, and the same per image."""

    fractions: list[float]
    deletion: list[float]
    insertion: list[float]
    deletion_auc: float
    insertion_auc: float
    per_image: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoadResult:
    """ROAD after removing each fraction, most relevant first (MoRF: a faithful map drops
    p(class) fast, lower is better) and least relevant first (LeRF: higher is better).
    ``*_probability`` is p(target) and ``*_accuracy`` the share of images whose top class is
    still the target, both means over the images; ``score`` is pytorch-grad-cam's combined
    ROAD, the mean over fractions of (LeRF - MoRF) / 2 of p(target)."""

    fractions: list[float]
    morf_probability: list[float]
    lerf_probability: list[float]
    morf_accuracy: list[float]
    lerf_accuracy: list[float]
    score: float
    noise: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _area(values: Sequence[float], fractions: Sequence[float]) -> float:
    return float(np.trapezoid(values, fractions))


def _importance(map_or_exp: Explanation | torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    m = pixel_map(map_or_exp, size) if isinstance(map_or_exp, Explanation) else map_or_exp
    if m.dim() == 4:
        m = m.abs().amax(dim=1)
    if tuple(m.shape[-2:]) != tuple(size):
        m = torch.nn.functional.interpolate(m[:, None].float(), size=tuple(size), mode="nearest")[:, 0]
    return m.float().flatten(1)


def _probabilities(
    model: nn.Module, pre: Preprocess, x: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """p(target) and whether the target is the top class, for a stack of pixel images."""
    dev = model_device(model)
    probs, tops = [], []
    for start in range(0, len(x), batch_size):
        logits = model(pre.normalize(x[start : start + batch_size].to(dev)))
        t = targets[start : start + batch_size].to(dev)
        probs.append(logits.softmax(1).gather(1, t[:, None])[:, 0].cpu())
        tops.append((logits.argmax(1) == t).cpu())
    return torch.cat(probs), torch.cat(tops)


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    out = [float(f) for f in fractions]
    if not out or any(not 0 <= f <= 1 for f in out):
        raise ConfigError(f"fractions={list(fractions)!r} must be numbers in [0, 1], e.g. (0.1, 0.2, ..., 0.9)")
    return out


def deletion_insertion(
    model: nn.Module,
    images: Any,
    attribution: Explanation | torch.Tensor,
    target: Any = None,
    *,
    steps: int = 50,
    blur_sigma: float | None = None,
    batch_size: int = 64,
) -> Curves:
    """Petsiuk et al. (2018)'s deletion and insertion curves of ``attribution`` (an
    :class:`Explanation` or maps N x [C x] h x w) at ``steps + 1`` equal fractions of the
    pixels, highest-ranked first. Deletion sets pixels to 0 (black); insertion starts from a
    Gaussian blur of the image (``blur_sigma``, default a tenth of the image's side; RISE
    uses a blurred canvas) and puts the original pixels back. p(target) is the softmax
    probability of ``target`` (default: the class the model predicts on the image). Cost:
    2 x (steps + 1) forward passes per image."""
    if steps < 1:
        raise ConfigError(f"steps={steps} must be at least 1 (50 gives fractions 0, 0.02, ..., 1)")
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    n, hw = len(x), x.shape[-2] * x.shape[-1]
    with prepared(model), torch.no_grad():
        targets = resolve_targets(target, model(pre.normalize(x.to(model_device(model)))), pre).cpu()
        order = _importance(attribution, x.shape[-2:]).argsort(dim=1, descending=True, stable=True)
        if order.shape[0] != n:
            raise ConfigError(f"the attribution holds {order.shape[0]} maps for {n} images")
        sigma = blur_sigma if blur_sigma is not None else max(x.shape[-2:]) / 10
        kernel = 2 * int(3 * sigma) + 1
        blurred = TF.gaussian_blur(x, [kernel, kernel], [sigma, sigma]) if sigma > 0 else x.clone()
        fractions = [s / steps for s in range(steps + 1)]
        rank = order.argsort(dim=1)  # each pixel's place in the order
        deleted, inserted = [], []
        for f in fractions:
            k = round(hw * f)
            first = (rank < k).view(n, 1, *x.shape[-2:]).to(x.dtype)  # the k highest-ranked pixels
            deleted.append(x * (1 - first))
            inserted.append(blurred * (1 - first) + x * first)
        p_del, _ = _probabilities(model, pre, torch.cat(deleted), targets.repeat(len(fractions)), batch_size)
        p_ins, _ = _probabilities(model, pre, torch.cat(inserted), targets.repeat(len(fractions)), batch_size)
    p_del, p_ins = p_del.view(len(fractions), n), p_ins.view(len(fractions), n)
    per_image = [
        {
            "target": int(targets[i]),
            "deletion_auc": _area(p_del[:, i].tolist(), fractions),
            "insertion_auc": _area(p_ins[:, i].tolist(), fractions),
        }
        for i in range(n)
    ]
    deletion, insertion = p_del.mean(1).tolist(), p_ins.mean(1).tolist()
    return Curves(fractions, deletion, insertion, _area(deletion, fractions), _area(insertion, fractions), per_image)


# Noisy linear imputation (ROAD, Sec. 4.2): neighbour offsets and weights.
NEIGHBOURS = (
    ((-1, -1), 1 / 12),
    ((-1, 0), 1 / 6),
    ((-1, 1), 1 / 12),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((1, 1), 1 / 12),
)


def linear_impute(image: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """``image`` (C x H x W) with the ``removed`` pixels (H x W, True where removed) filled so
    that each equals the weighted mean of its in-image neighbours (:data:`NEIGHBOURS`,
    renormalised at the border), known neighbours fixed: one sparse linear system for all
    removed pixels, every channel at once."""
    c, h, w = image.shape
    gone = removed.reshape(-1).numpy()
    unknown = np.flatnonzero(gone)
    if unknown.size == 0:
        return image.clone()
    values = image.reshape(c, -1).double().numpy()
    index = np.full(h * w, -1)
    index[unknown] = np.arange(unknown.size)
    rows, cols = np.divmod(unknown, w)
    a_rows, a_cols, a_vals = [np.arange(unknown.size)], [np.arange(unknown.size)], [np.zeros(unknown.size)]
    rhs = np.zeros((unknown.size, c))
    total = np.zeros(unknown.size)
    for (dr, dc), weight in NEIGHBOURS:
        r, q = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        eq = np.flatnonzero(inside)
        flat = r[inside] * w + q[inside]
        total[eq] += weight
        known = ~gone[flat]
        rhs[eq[known]] += weight * values[:, flat[known]].T  # known neighbours move to the right-hand side
        a_rows.append(eq[~known])
        a_cols.append(index[flat[~known]])
        a_vals.append(np.full(int((~known).sum()), -weight))
    a_vals[0] = total  # sum_j w_j x_i - sum_{j unknown} w_j x_j = sum_{j known} w_j x_j
    a = coo_matrix(
        (np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))), shape=(unknown.size,) * 2
    )
    solved = spsolve(a.tocsc(), rhs)
    out = values.copy()
    out[:, unknown] = np.asarray(solved).reshape(unknown.size, c).T
    return torch.from_numpy(out).to(image.dtype).view(c, h, w)


def road(
    model: nn.Module,
    images: Any,
    attribution: Explanation | torch.Tensor,
    target: Any = None,
    *,
    fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
) -> RoadResult:
    """ROAD (Rong et al. 2022): for each fraction, remove that share of the pixels the map
    ranks highest (MoRF) or lowest (LeRF), fill them by :func:`linear_impute` plus Gaussian
    noise of std ``noise`` (pixel units; the paper's 0.01 is on its normalised inputs, and
    each image draws from its own generator seeded by ``seed``), and record p(target) and
    whether the target is still the top class. Cost: 2 x len(fractions) forward passes and as
    many sparse solves per image."""
    fractions = _check_fractions(fractions)
    if noise < 0:
        raise ConfigError(f"noise={noise} must be at least 0 (the paper's is 0.01)")
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    n, (h, w) = len(x), x.shape[-2:]
    with prepared(model), torch.no_grad():
        targets = resolve_targets(target, model(pre.normalize(x.to(model_device(model)))), pre).cpu()
    rank = _importance(attribution, (h, w)).argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    filled: dict[str, list[torch.Tensor]] = {"morf": [], "lerf": []}
    for order in ("morf", "lerf"):
        for i in range(n):
            noise_gen = generator(seed)
            for f in fractions:
                k = round(h * w * f)
                place = rank[i] if order == "morf" else (h * w - 1 - rank[i])
                removed = (place < k).view(h, w)
                img = linear_impute(x[i].cpu(), removed)
                draw = torch.randn(img.shape, generator=noise_gen)
                filled[order].append(torch.where(removed, img + noise * draw, img))
    results = {}
    with prepared(model), torch.no_grad():
        for order, stack in filled.items():
            p, top = _probabilities(
                model, pre, torch.stack(stack), targets.repeat_interleave(len(fractions)), batch_size
            )
            results[order] = (p.view(n, len(fractions)).mean(0).tolist(), top.view(n, -1).float().mean(0).tolist())
    morf_p, morf_acc = results["morf"]
    lerf_p, lerf_acc = results["lerf"]
    score = float(np.mean([(lo - mo) / 2 for lo, mo in zip(lerf_p, morf_p, strict=True)]))
    return RoadResult(fractions, morf_p, lerf_p, morf_acc, lerf_acc, score, noise, seed)
