"""Attributions that add up: Integrated Gradients (with its baselines, quadratures and the
completeness check) and Input x Gradient. Both are signed ``N x C x H x W`` maps in units of
the class score, computed in pixel units (the model's normalisation is inside the
derivative, as for :func:`~cnnlab.explain.attribution.saliency`). Every function returns an
:class:`~cnnlab.explain.result.Explanation`; ``cnnlab.viz`` draws it.
"""

from __future__ import annotations

import functools
import math
from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, batches, generator, model_device, prepared, resolve_targets
from .attribution import Target, _score_gradient
from .result import Explanation

#: The named baselines x' of :func:`integrated_gradients` (a tensor is also accepted).
BASELINES = ("black", "blurred", "uniform")
#: The quadratures of the path integral, by Captum's names.
QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
#: ``blur_sigma=None``: this fraction of the image's shorter side, in pixels.
BLUR_FRACTION = 0.1


def _legendre(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(P_n(x), P_n'(x))`` by Bonnet's recurrence ``(j + 1) P_j+1 = (2j + 1) x P_j - j P_j-1``."""
    p_prev, p = np.ones_like(x), x.copy()
    for j in range(1, n):
        p_prev, p = p, ((2 * j + 1) * x * p - j * p_prev) / (j + 1)
    return p, n * (x * p - p_prev) / (x * x - 1)


@functools.lru_cache(maxsize=32)
def _gauss_legendre(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The ``n`` Gauss-Legendre nodes on ``[-1, 1]`` (ascending) and weights: the roots of
    ``P_n`` by Newton's method from Tricomi's ``cos(pi (k - 1/4) / (n + 1/2))``, weights
    ``2 / ((1 - x^2) P_n'(x)^2)``. Equal to ``numpy.polynomial.legendre.leggauss`` (which
    Captum uses) to 1e-16 in the nodes and 4e-15 in the weights at ``n = 200``, without its
    LAPACK eigensolver, whose OpenBLAS threads, left spinning after it, slowed the PyTorch
    passes that followed 3.5-fold on a 2-core machine (measured: 200 steps on LeNet-5)."""
    x = np.cos(math.pi * (np.arange(1, n + 1) - 0.25) / (n + 0.5))
    for _ in range(100):
        p, dp = _legendre(x, n)
        step = p / dp
        x = x - step
        if np.abs(step).max() < 1e-14:
            break
    _, dp = _legendre(x, n)
    return tuple(x[::-1].tolist()), tuple((2 / ((1 - x * x) * dp * dp))[::-1].tolist())


def quadrature(method: str, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alphas, weights)`` in float64: ``integral_0^1 g(a) da ~ sum_k weights_k g(alphas_k)``
    with ``steps`` nodes. ``"gausslegendre"``: the Gauss-Legendre nodes and weights (as
    ``numpy.polynomial.legendre.leggauss`` gives them) mapped from ``[-1, 1]`` to ``[0, 1]``
    (exact for polynomials of degree ``2 steps - 1``); ``"riemann_left"``, ``"riemann_right"``,
    ``"riemann_middle"``: ``steps`` equal widths ``1 / steps`` sampled at their left end, right
    end or middle; ``"riemann_trapezoid"``: the trapezoid rule on ``steps`` equally spaced
    nodes from 0 to 1 inclusive (widths ``1 / (steps - 1)``, halved at both ends; weights sum
    to 1, where Captum's sum to ``(steps - 1) / steps``)."""
    if method not in QUADRATURES:
        raise ConfigError(f"unknown quadrature method {method!r}; choose one of {', '.join(map(repr, QUADRATURES))}")
    least = 2 if method == "riemann_trapezoid" else 1
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < least:
        raise ConfigError(f"steps must be a whole number >= {least} for {method}, got {steps!r}")
    steps = int(steps)
    k = torch.arange(steps, dtype=torch.float64)
    if method == "gausslegendre":
        nodes, weights = (torch.tensor(v, dtype=torch.float64) for v in _gauss_legendre(steps))
        return 0.5 * (1 + nodes), 0.5 * weights
    if method == "riemann_trapezoid":
        weights = torch.full((steps,), 1 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return k / (steps - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / steps, torch.full((steps,), 1 / steps, dtype=torch.float64)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (N x C x H x W) blurred by a separable Gaussian of std ``sigma`` pixels, each
    channel alone, the kernel cut at ``ceil(3 sigma)`` pixels either side (at most the image
    size less one) and normalised, the image reflected at its borders: torchvision's
    ``gaussian_blur`` with ``kernel_size = 2 ceil(3 sigma) + 1``. ``sigma = 0``: a copy."""
    if sigma < 0:
        raise ConfigError(f"blur_sigma must be >= 0 pixels, got {sigma}")
    if sigma == 0:
        return x.clone()
    c = x.shape[1]
    out = x
    for dim, size in ((2, x.shape[2]), (3, x.shape[3])):
        radius = min(math.ceil(3 * sigma), size - 1)
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (t / sigma) ** 2)
        kernel = (kernel / kernel.sum()).view(1, 1, -1, 1) if dim == 2 else (kernel / kernel.sum()).view(1, 1, 1, -1)
        pad = (0, 0, radius, radius) if dim == 2 else (radius, radius, 0, 0)
        out = F.conv2d(F.pad(out, pad, mode="reflect"), kernel.expand(c, 1, *kernel.shape[2:]), groups=c)
    return out


def _baseline(
    baseline: str | torch.Tensor, x: torch.Tensor, pre: Preprocess, blur_sigma: float | None, seed: int | None
) -> tuple[torch.Tensor, float | None, int | None]:
    """``(x', sigma used, seed used)`` for the images ``x`` in pixel units."""
    if isinstance(baseline, torch.Tensor):
        base = as_batch(baseline, pre, what="baseline").to(x.device)
        if base.shape[1:] != x.shape[1:] or len(base) not in (1, len(x)):
            raise ConfigError(
                f"baseline has shape {tuple(baseline.shape)}; give one C x H x W image or one per image, "
                f"like the images {tuple(x.shape)}"
            )
        return base.expand_as(x).clone(), None, None
    if not isinstance(baseline, str) or baseline not in BASELINES:
        raise ConfigError(
            f"unknown baseline {baseline!r}; choose one of {', '.join(map(repr, BASELINES))} or pass a tensor of "
            "pixels in [0, 1]"
        )
    if baseline == "black":
        return torch.zeros_like(x), None, None
    if baseline == "blurred":
        sigma = BLUR_FRACTION * min(x.shape[-2:]) if blur_sigma is None else float(blur_sigma)
        return gaussian_blur(x, sigma), sigma, None
    if seed is None:
        seed = generator(None).initial_seed() % 2**63  # drawn, then recorded
    # One stream per image, each seeded by `seed`: a batch equals the images one at a time.
    streams = [generator(seed) for _ in range(len(x))]
    return torch.stack([torch.rand(x.shape[1:], generator=g) for g in streams]).to(x), None, seed


def integrated_gradients(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    baseline: str | torch.Tensor = "black",
    steps: int = 50,
    method: str = "gausslegendre",
    blur_sigma: float | None = None,
    seed: int | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Explanation:
    """Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", Eq. 1:
    ``IG_i(x) = (x_i - x'_i) x integral_0^1 d S_c / d x_i (x' + a (x - x')) da``, the gradient of
    the class score (the logit) along the straight path from a baseline ``x'`` to the image
    ``x``, both in pixel units. By the fundamental theorem of calculus the attributions add
    up to ``S_c(x) - S_c(x')`` (*completeness*, their Proposition 1); the quadrature's error is
    reported per image.

    ``baseline``: ``"black"`` (all pixels 0, the paper's choice for images), ``"blurred"`` (the
    image under a Gaussian blur of std ``blur_sigma`` pixels, default ``0.1 x`` the shorter
    side: 3.2 px at 32 x 32, 22.4 px at 224 x 224, which keeps the colours and removes the
    edges; Sturmfels, Lundberg & Lee 2020, "Visualizing the Impact of Feature Attribution
    Baselines"), ``"uniform"`` (uniform noise in ``[0, 1]``, drawn per image from a generator
    seeded by ``seed``; ``None``: drawn and recorded in ``Explanation.seed``), or a tensor of
    pixels in ``[0, 1]`` (one image for all, or one per image).

    ``method``: the quadrature of the integral, by Captum's names (see :func:`quadrature`):
    ``"gausslegendre"`` (Captum's default), ``"riemann_left"``, ``"riemann_right"``,
    ``"riemann_middle"`` or ``"riemann_trapezoid"``; ``steps`` nodes.

    Costs ``steps`` forward and backward passes per image (``batch_size`` path points per
    pass) and two forward passes (``S_c(x)`` and ``S_c(x')``).

    maps: N x C x H x W, signed, units of the class score; extras: ``baseline`` (``x'``, N x C
    x H x W pixels), ``completeness`` (per image: ``attribution_sum``, ``score_difference``
    ``S_c(x) - S_c(x')`` and ``error``, the absolute difference of the two)."""
    pre = Preprocess.of(model)
    alphas, weights = quadrature(method, steps)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        base, sigma, seed = _baseline(baseline, x, pre, blur_sigma, seed)
        with torch.no_grad():
            logits = model(pre.normalize(x))
            base_logits = model(pre.normalize(base))
        idx = resolve_targets(target, logits, pre)
        diff = x - base
        total = torch.zeros_like(x)  # sum_k w_k d S_c / d x (x' + a_k (x - x'))
        for start, stop in batches(
            steps,
            max(1, batch_size // len(x)),
            desc="integrated gradients",
            unit="forward and backward passes",
            progress=progress,
        ):
            k = stop - start
            a = alphas[start:stop].to(x).view(k, 1, 1, 1, 1)
            w = weights[start:stop].to(x).view(k, 1, 1, 1, 1)
            path = (base[None] + a * diff[None]).flatten(0, 1)  # k x N points, alpha-major
            g_k, _, _ = _score_gradient(model, pre, path, idx.repeat(k))
            total += (g_k.view(k, *x.shape) * w).sum(0)
        attributions = diff * total
        score = logits.gather(1, idx[:, None])[:, 0]
        score_base = base_logits.gather(1, idx[:, None])[:, 0]
        sums = attributions.flatten(1).sum(1)
        delta = score - score_base
    return Explanation(
        "integrated-gradients",
        attributions.cpu(),
        "score (IG attribution)",
        idx.cpu(),
        logits.cpu(),
        params={
            "baseline": baseline if isinstance(baseline, str) else "tensor",
            "steps": steps,
            "method": method,
            "blur_sigma": sigma,
            "batch_size": batch_size,
        },
        seed=seed,
        extras={
            "baseline": base.cpu(),
            "completeness": {
                "attribution_sum": sums.cpu(),
                "score_difference": delta.cpu(),
                "error": (sums - delta).abs().cpu(),
            },
        },
        images=x.detach().cpu(),
    )


def input_x_gradient(model: nn.Module, images: Any, target: Target = None) -> Explanation:
    """Gradient x Input (Shrikumar et al. 2016, "Not Just a Black Box: Learning Important
    Features Through Propagating Activation Differences"; Ancona et al. 2018, "Towards
    Better Understanding of Gradient-based Attribution Methods for Deep Neural Networks"):
    ``R_i = x_i x d S_c / d x_i``, the pixel (in ``[0, 1]``, not the normalised input) times
    the gradient of the class score with respect to it. It is integrated gradients from a
    black baseline with the gradient taken at the image alone, exact for a model linear in
    the pixels with ``S_c(0) = 0``. Costs one forward and backward pass per image.

    maps: N x C x H x W, signed, units of the class score; extras["gradient"]: ``d S_c / d x``."""
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        grad, logits, idx = _score_gradient(model, pre, x, target)
    return Explanation(
        "input-x-gradient",
        (x * grad).cpu(),
        "score (pixel x d score / d pixel)",
        idx.cpu(),
        logits.cpu(),
        extras={"gradient": grad.cpu()},
        images=x.detach().cpu(),
    )
