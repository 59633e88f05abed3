"""Images changed on purpose to change the model's answer: the lecture's fooling images,
FGSM and PGD.

Every attack works in pixel space (``[0, 1]``; the model reads ``Preprocess.normalize``),
so budgets (``eps``, ``max_norm``) and the reported perturbation are in pixel units, and
returns the adversarial images with whether each attack succeeded, its iterations and the
perturbation with its L2 and Linf norms.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, batches, generator, model_device, prepared, resolve_targets
from .result import Explanation

NORMS = ("l2", "linf")


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ConfigError(f"norm={norm!r} must be 'l2' or 'linf'")


def _direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent step of unit size in ``norm``: ``g / ||g||_2`` or ``sign(g)``."""
    if norm == "linf":
        return grad.sign()
    return grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))


def _project(delta: torch.Tensor, norm: str, radius: float) -> torch.Tensor:
    """``delta`` projected onto the ``norm`` ball of ``radius`` (per image)."""
    if norm == "linf":
        return delta.clamp(-radius, radius)
    length = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return delta * (radius / length.clamp_min(1e-12)).clamp(max=1.0)


def _result(
    method: str,
    x: torch.Tensor,
    adv: torch.Tensor,
    logits0: torch.Tensor,
    logits1: torch.Tensor,
    goal: torch.Tensor,
    targeted: bool,
    iterations: torch.Tensor,
    params: dict[str, Any],
    seed: int | None,
) -> Explanation:
    delta = adv - x
    final = logits1.argmax(1)
    return Explanation(
        method,
        adv.cpu(),
        "pixel [0, 1]",
        target=goal.cpu(),
        logits=logits0.cpu(),
        seed=seed,
        params=params,
        extras={
            "success": (final == goal if targeted else final != goal).cpu(),
            "iterations": iterations.cpu(),
            "perturbation": delta.cpu(),
            "linf": delta.flatten(1).abs().amax(1).cpu(),
            "l2": delta.flatten(1).norm(dim=1).cpu(),
            "original_class": logits0.argmax(1).cpu(),
            "final_class": final.cpu(),
            "final_prob": logits1.softmax(1).gather(1, goal[:, None])[:, 0].cpu(),
            "targeted": targeted,
        },
        images=x.detach().cpu(),
    )


def fooling_image(
    model: nn.Module,
    images: Any,
    target: Any,
    *,
    step_size: float | None = None,
    max_iterations: int = 100,
    norm: str = "l2",
    max_norm: float | None = None,
    progress: bool | None = None,
) -> Explanation:
    """The lecture's fooling images (CS231n; after Szegedy et al. 2014, "Intriguing
    properties of neural networks"): gradient ascent on the *unnormalised* score ``S_t`` of
    the class ``target`` (an index or name, one for all or one per image),

        I <- clip(I + step_size g / ||g||_2, 0, 1),   g = d S_t / d I   (norm="l2")

    (``norm="linf"``: ``I + step_size sign(g)``), until the model predicts ``target``. Each
    image stops as soon as it is fooled (an image already predicted as ``target`` takes 0
    steps), so a batch gives what one-by-one calls give. ``step_size`` is in pixel units of
    ``norm``; by default one normalised unit as in CS231n (learning rate 1 on normalised
    images), i.e. the mean of the model's std, for ``"l2"``, and 1/255 for ``"linf"``.
    ``max_norm``: after each step the perturbation is projected onto the ``norm`` ball of that
    radius (pixel units); an image not fooled within it is reported as a failure.

    maps: the adversarial images, N x C x H x W, units ``pixel [0, 1]``; target: the target
    classes; logits: the model's logits for the originals; extras: ``success`` (N bool),
    ``iterations`` (N, steps taken), ``perturbation`` (adversarial - original, pixel units),
    its ``l2`` and ``linf`` norms (N), ``original_class``, ``final_class``, ``final_prob``
    (p(target) for the adversarial image)."""
    _check_norm(norm)
    pre = Preprocess.of(model)
    if step_size is None:
        step_size = sum(pre.std) / len(pre.std) if norm == "l2" else 1 / 255
    if step_size <= 0 or max_iterations < 0:
        raise ConfigError(
            f"step_size must be > 0 and max_iterations >= 0, got step_size={step_size}, max_iterations={max_iterations}"
        )
    if max_norm is not None and max_norm <= 0:
        raise ConfigError(f"max_norm must be positive (pixel units of {norm}) or None, got {max_norm}")
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        with torch.no_grad():
            logits0 = model(pre.normalize(x))
        goal = resolve_targets(target, logits0, pre)
        adv = x.clone()
        done = logits0.argmax(1) == goal
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        for _ in batches(max_iterations, 1, desc="fooling_image", unit="iterations (at most)", progress=progress):
            if bool(done.all()):
                break
            active = (~done).nonzero()[:, 0]
            a = adv[active].requires_grad_(True)
            score = model(pre.normalize(a)).gather(1, goal[active, None]).sum()
            grad = torch.autograd.grad(score, a)[0]
            with torch.no_grad():
                step = a + step_size * _direction(grad, norm)
                if max_norm is not None:
                    step = x[active] + _project(step - x[active], norm, max_norm)
                adv[active] = step.clamp(0, 1)
                iterations[active] += 1
                done[active] = model(pre.normalize(adv[active])).argmax(1) == goal[active]
        with torch.no_grad():
            logits1 = model(pre.normalize(adv))
    return _result(
        "fooling-image",
        x,
        adv,
        logits0,
        logits1,
        goal,
        True,
        iterations,
        {
            "target": goal.tolist(),
            "step_size": step_size,
            "max_iterations": max_iterations,
            "norm": norm,
            "max_norm": max_norm,
        },
        None,
    )


def _gradient_attack(
    method: str,
    model: nn.Module,
    images: Any,
    labels: Any,
    target: Any,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str,
    random_start: bool,
    seed: int | None,
    progress: bool | None,
) -> Explanation:
    """Projected gradient steps on the cross-entropy: shared by :func:`fgsm` and :func:`pgd`."""
    _check_norm(norm)
    if eps <= 0 or alpha <= 0 or steps < 1:
        raise ConfigError(
            f"eps and alpha must be positive (pixel units) and steps >= 1, got eps={eps}, alpha={alpha}, steps={steps}"
        )
    pre = Preprocess.of(model)
    targeted = target is not None
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        # Without a random start the first step is taken at x itself: its forward pass gives
        # the clean logits too (FGSM: one forward and backward, then the final check).
        first = x.clone().requires_grad_(not random_start)
        with torch.set_grad_enabled(not random_start):
            out0 = model(pre.normalize(first))
        logits0 = out0.detach()
        goal = resolve_targets(target if targeted else labels, logits0, pre)
        adv = x.clone()
        if random_start:  # each image from its own generator seeded by `seed`: a batch equals one by one
            deltas = []
            for _ in range(len(x)):
                g = generator(seed, "cpu")
                if norm == "linf":  # uniform in the cube
                    deltas.append((torch.rand(x.shape[1:], generator=g) * 2 - 1) * eps)
                else:  # uniform direction, radius eps U(0, 1)
                    direction = _project(torch.randn((1, *x.shape[1:]), generator=g), "l2", 1.0)[0]
                    deltas.append(direction * eps * torch.rand((), generator=g))
            adv = (x + torch.stack(deltas).to(x.device)).clamp(0, 1)
        sign = -1.0 if targeted else 1.0  # towards the target: lower its loss; else raise the label's
        for start, _ in batches(steps, 1, desc=method, unit="steps", progress=progress):
            if start == 0 and not random_start:
                a, out = first, out0
            else:
                a = adv.requires_grad_(True)
                out = model(pre.normalize(a))
            loss = F.cross_entropy(out, goal, reduction="sum")
            grad = torch.autograd.grad(loss, a)[0]
            with torch.no_grad():
                moved = a + sign * alpha * _direction(grad, norm)
                adv = (x + _project(moved - x, norm, eps)).clamp(0, 1)
        with torch.no_grad():
            logits1 = model(pre.normalize(adv))
    params = {"eps": eps, "norm": norm, "targeted": targeted, "labels" if not targeted else "target": goal.tolist()}
    if method == "pgd":
        params.update(alpha=alpha, steps=steps, random_start=random_start, seed=seed)
    return _result(
        method,
        x,
        adv,
        logits0,
        logits1,
        goal,
        targeted,
        torch.full((len(x),), steps),
        params,
        seed if random_start else None,
    )


def fgsm(model: nn.Module, images: Any, labels: Any = None, *, eps: float = 8 / 255, target: Any = None) -> Explanation:
    """Goodfellow, Shlens & Szegedy (2015), "Explaining and Harnessing Adversarial
    Examples", the fast gradient sign method, one step in pixel units:

        untargeted:  I' = clip(I + eps sign(d L(I, y) / d I), 0, 1)
        targeted:    I' = clip(I - eps sign(d L(I, t) / d I), 0, 1)

    with ``L`` the cross-entropy, ``y`` = ``labels`` (default: the model's own prediction)
    and ``t`` = ``target``. Deterministic; a batch equals one-by-one calls.

    maps: the adversarial images (pixels); extras as :func:`fooling_image` (``success``:
    the prediction left ``y``, or reached ``t``; ``iterations``: 1)."""
    return _gradient_attack(
        "fgsm",
        model,
        images,
        labels,
        target,
        eps=eps,
        alpha=eps,
        steps=1,
        norm="linf",
        random_start=False,
        seed=None,
        progress=False,
    )


def pgd(
    model: nn.Module,
    images: Any,
    labels: Any = None,
    *,
    eps: float = 8 / 255,
    alpha: float = 2 / 255,
    steps: int = 10,
    norm: str = "linf",
    random_start: bool = True,
    target: Any = None,
    seed: int = 0,
    progress: bool | None = None,
) -> Explanation:
    """Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks",
    projected gradient descent in pixel space:

        I_{k+1} = clip(I + P_eps(I_k + alpha s_k - I), 0, 1)

    with ``s_k`` = ``sign(g)`` (``norm="linf"``) or ``g / ||g||_2`` (``"l2"``), ``g`` the
    gradient of the cross-entropy of ``labels`` (untargeted; default the prediction; ascent)
    or of ``target`` (targeted; descent), ``P_eps`` the projection onto the ``norm`` ball of
    radius ``eps`` (pixel units). ``random_start`` begins at a point drawn, for each image,
    from its own generator seeded by ``seed``: uniform in the Linf cube, or a uniform
    direction at radius ``eps U(0, 1)`` for L2; so a batch equals one-by-one calls with or
    without it. All ``steps`` are taken; the
    last iterate is returned.

    maps: the adversarial images (pixels); extras as :func:`fooling_image`."""
    return _gradient_attack(
        "pgd",
        model,
        images,
        labels,
        target,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        random_start=random_start,
        seed=seed,
        progress=progress,
    )
