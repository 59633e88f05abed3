"""Images changed on purpose: fooling images (the lecture's), FGSM and PGD. Each returns the
adversarial images, whether the attack succeeded, its iterations and the perturbation with
its norms, all in pixel units."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, generator, model_device, prepared, resolve_targets
from .result import Explanation


def _report(method: str, model_pre: Preprocess, x: torch.Tensor, adv: torch.Tensor, logits0: torch.Tensor,
            logits1: torch.Tensor, goal: torch.Tensor, targeted: bool, iterations: torch.Tensor, params: dict,
            seed: int | None = None) -> Explanation:
    delta = (adv - x).detach()
    final = logits1.argmax(1)
    success = final == goal if targeted else final != goal
    return Explanation(
        method, adv.detach().cpu(), "pixel [0, 1]", target=goal.cpu(), logits=logits0.cpu(), seed=seed, params=params,
        extras={
            "success": success.cpu(), "iterations": iterations.cpu(), "perturbation": delta.cpu(),
            "linf": delta.flatten(1).abs().amax(1).cpu(), "l2": delta.flatten(1).norm(dim=1).cpu(),
            "original_class": logits0.argmax(1).cpu(), "final_class": final.cpu(),
            "final_prob": logits1.softmax(1).gather(1, goal[:, None])[:, 0].cpu(), "targeted": targeted,
        },
    )


def fooling_image(model: nn.Module, images: Any, target: int | str, *, step_size: float = 0.01, max_iterations: int = 100,
                  norm: str = "l2", max_norm: float | None = None, progress: bool | None = None) -> Explanation:
    """CS231n's fooling images (after Szegedy et al. 2014, "Intriguing properties"): gradient
    ascent on the unnormalised score of ``target``, ``I <- I + step_size g / ||g||_2``
    (``norm="l2"``) or ``+ step_size sign(g)`` (``"linf"``), pixels kept in ``[0, 1]``, until
    the model predicts ``target``; each image stops as soon as it is fooled. ``max_norm``:
    project the perturbation onto that ball (in ``norm``) and report failure if the budget
    does not suffice. extras: success, iterations, perturbation, its L2 and Linf norms."""
    if norm not in ("l2", "linf"):
        raise ConfigError(f"norm={norm!r} must be 'l2' or 'linf'")
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        with torch.no_grad():
            logits0 = model(pre.normalize(x))
        goal = resolve_targets(target, logits0, pre)
        adv = x.clone()
        done = logits0.argmax(1) == goal
        iterations = torch.zeros(len(x), dtype=torch.long)
        for _ in range(max_iterations):
            if bool(done.all()):
                break
            active = ~done
            a = adv[active].clone().requires_grad_(True)
            score = model(pre.normalize(a)).gather(1, goal[active][:, None]).sum()
            (g,) = torch.autograd.grad(score, a)
            step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1) if norm == "l2" else g.sign()
            new = (a + step_size * step).detach()
            if max_norm is not None:
                new = x[active] + _project(new - x[active], norm, max_norm)
            adv[active] = new.clamp(0, 1)
            iterations[active.cpu()] += 1
            with torch.no_grad():
                done[active] = model(pre.normalize(adv[active])).argmax(1) == goal[active]
        with torch.no_grad():
            logits1 = model(pre.normalize(adv))
    return _report("fooling", pre, x, adv, logits0, logits1, goal, True, iterations,
                   {"step_size": step_size, "max_iterations": max_iterations, "norm": norm, "max_norm": max_norm})


def _project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return delta * torch.clamp(eps / n.clamp_min(1e-12), max=1.0)


def fgsm(model: nn.Module, images: Any, labels: Any = None, *, eps: float = 8 / 255, target: int | str | None = None) -> Explanation:
    """Goodfellow, Shlens & Szegedy (2015), "Explaining and Harnessing Adversarial
    Examples": ``I' = clip(I + eps sign(d L(I, y) / d I))`` (untargeted, ``y`` = ``labels``
    or the model's own prediction), or ``I - eps sign(d L(I, t) / d I)`` towards ``target``.
    ``eps`` in pixel units (8/255 by default)."""
    return pgd(model, images, labels, eps=eps, alpha=eps, steps=1, norm="linf", random_start=False, target=target)


def pgd(model: nn.Module, images: Any, labels: Any = None, *, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 10,
        norm: str = "linf", random_start: bool = True, target: int | str | None = None, seed: int = 0,
        progress: bool | None = None) -> Explanation:
    """Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks":
    ``steps`` gradient steps of size ``alpha`` on the cross-entropy (sign steps for
    ``norm="linf"``, normalised steps for ``"l2"``), each followed by projection onto the
    ``eps``-ball around the image and onto ``[0, 1]``; ``random_start`` begins at a seeded
    uniform point of the ball (Linf) or of its surface scaled by U(0,1) (L2). Untargeted
    against ``labels`` (default: the prediction) or targeted towards ``target``."""
    if norm not in ("l2", "linf"):
        raise ConfigError(f"norm={norm!r} must be 'l2' or 'linf'")
    if eps <= 0 or alpha <= 0 or steps < 1:
        raise ConfigError(f"eps and alpha must be positive and steps >= 1, got eps={eps}, alpha={alpha}, steps={steps}")
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        with torch.no_grad():
            logits0 = model(pre.normalize(x))
        targeted = target is not None
        goal = resolve_targets(target if targeted else labels, logits0, pre)
        delta = torch.zeros_like(x)
        if random_start:
            g = generator(seed, "cpu")
            noise = torch.rand(x.shape, generator=g).to(x.device) * 2 - 1
            delta = _project(noise * eps if norm == "linf" else noise, norm, eps)
            if norm == "l2":
                delta = delta * torch.rand(len(x), 1, 1, 1, generator=g).to(x.device)
            delta = (x + delta).clamp(0, 1) - x
        for _ in range(steps):
            d = delta.clone().requires_grad_(True)
            loss = F.cross_entropy(model(pre.normalize(x + d)), goal, reduction="sum")
            (grad,) = torch.autograd.grad(loss, d)
            direction = grad.sign() if norm == "linf" else grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            d = d.detach() + (-alpha if targeted else alpha) * direction
            delta = (x + _project(d, norm, eps)).clamp(0, 1) - x
        adv = x + delta
        with torch.no_grad():
            logits1 = model(pre.normalize(adv))
    method = "fgsm" if steps == 1 and not random_start and alpha == eps and norm == "linf" else "pgd"
    return _report(method, pre, x, adv, logits0, logits1, goal, targeted, torch.full((len(x),), steps),
                   {"eps": eps, "alpha": alpha, "steps": steps, "norm": norm, "random_start": random_start,
                    "targeted": targeted}, seed=seed if random_start else None)
