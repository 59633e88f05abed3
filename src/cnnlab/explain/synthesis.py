"""Images made by optimisation: one engine (:func:`optimize_image`) for activation
maximization (classes and hidden channels) and feature inversion, with the lectures'
priors (L2, total variation, jitter, blur)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, batches, generator, model_device, prepared, run_to
from .result import Explanation


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per image ``sum (x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2`` over channels
    and pixels (Mahendran & Vedaldi 2015's TV with beta = 2)."""
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1) + (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).sum(1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t.pow(2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def optimize_image(model: nn.Module, objective: Callable[[torch.Tensor], torch.Tensor], init: torch.Tensor, *,
                   steps: int, lr: float, l2: float = 0.0, tv: float = 0.0, jitter: int = 0, blur_every: int = 0,
                   blur_sigma: float = 0.5, clip: bool = True, seed: int | None = None,
                   progress: bool | None = None) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Minimise ``objective(normalised input) + l2 ||I - mean||^2 + tv TV(I)`` (per image,
    summed over the batch) over pixel images ``I`` (N x C x H x W in ``[0, 1]``) with Adam.
    Priors: ``l2`` on the pixels centred on the model's mean (Simonyan et al. 2014's
    lambda ||I||^2 on a mean-subtracted image), ``tv`` total variation (Mahendran &
    Vedaldi 2015), ``jitter``: roll the image by up to that many pixels before each step
    (seeded), ``blur_every``: Gaussian blur of std ``blur_sigma`` every that many steps
    (Yosinski et al. 2015), ``clip``: keep pixels in ``[0, 1]``. Returns the images and a
    history of the total loss and of the objective per step."""
    if steps < 1 or lr <= 0:
        raise ConfigError(f"steps must be >= 1 and lr > 0, got steps={steps}, lr={lr}")
    pre = Preprocess.of(model)
    mean = torch.tensor(pre.mean, dtype=init.dtype, device=init.device).view(1, -1, 1, 1)
    image = init.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=lr)
    g = generator(seed, "cpu")
    history: dict[str, list[float]] = {"loss": [], "objective": []}
    for step, _ in batches(steps, 1, desc="optimising", unit="steps", progress=progress):
        dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0))
        shifted = torch.roll(image, shifts=(dy, dx), dims=(2, 3))
        obj = objective(pre.normalize(shifted))
        loss = obj.sum() + l2 * (image - mean).pow(2).flatten(1).sum(1).sum() + tv * total_variation(image).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            if blur_every and (step + 1) % blur_every == 0:
                image.copy_(_blur(image, blur_sigma))
            if clip:
                image.clamp_(0, 1)
        history["loss"].append(float(loss.detach()))
        history["objective"].append(float(obj.detach().sum()))
    return image.detach(), history


def activation_maximization(model: nn.Module, target: int | str | None = None, *, layer: str | None = None,
                            channel: int | None = None, n: int = 1, image_size: tuple[int, int] | None = None,
                            steps: int = 200, lr: float = 0.05, l2: float = 1e-4, jitter: int = 4, blur_every: int = 4,
                            blur_sigma: float = 0.5, seed: int = 0, progress: bool | None = None) -> Explanation:
    """Simonyan, Vedaldi & Zisserman (2014), Sec. 2: ``I* = argmax_I S_c(I) - lambda ||I||^2``
    with ``S_c`` the unnormalised score of class ``target``; or, with ``layer`` and
    ``channel``, the mean activation of that hidden channel (Erhan et al. 2009; Yosinski et
    al. 2015's jitter and blur priors). ``n`` images from seeded noise around grey. maps:
    N x C x H x W pixels; extras: the score before and after, the history."""
    pre = Preprocess.of(model)
    if (target is None) == (layer is None):
        raise ConfigError("give a class (target=) or a hidden unit (layer= and channel=), not both or neither")
    if layer is not None and channel is None:
        raise ConfigError(f"layer={layer!r} needs channel=, the feature map to maximise")
    c, h, w = pre.input_size[0], *(image_size or pre.input_size[1:])
    dev = model_device(model)
    g = generator(seed, "cpu")
    init = (0.5 + 0.1 * torch.randn(n, c, h, w, generator=g)).clamp(0, 1).to(dev)
    cls = pre.class_index(target) if target is not None else None

    def score(x: torch.Tensor) -> torch.Tensor:
        if cls is not None:
            logits = model(x)
            if not 0 <= cls < logits.shape[1]:
                raise ConfigError(f"target class {cls} is out of range: the model has {logits.shape[1]} classes")
            return logits[:, cls]
        acts = run_to(model, x, layer)[layer]
        if not 0 <= channel < acts.shape[1]:
            raise ConfigError(f"channel {channel} is out of range: {layer} has {acts.shape[1]} channels")
        return acts[:, channel].flatten(1).mean(1)

    with prepared(model):
        with torch.no_grad():
            start = score(pre.normalize(init))
        images, history = optimize_image(model, lambda x: -score(x), init, steps=steps, lr=lr, l2=l2, jitter=jitter,
                                         blur_every=blur_every, blur_sigma=blur_sigma, seed=seed, progress=progress)
        with torch.no_grad():
            end = score(pre.normalize(images))
    return Explanation(
        "activation-maximization", images.cpu(), "pixel [0, 1]",
        target=torch.full((n,), cls if cls is not None else channel, dtype=torch.long), layer=layer, seed=seed,
        params={"class": cls, "channel": channel, "steps": steps, "lr": lr, "l2": l2, "jitter": jitter,
                "blur_every": blur_every, "blur_sigma": blur_sigma, "image_size": [h, w]},
        extras={"score_start": start.cpu(), "score_end": end.cpu(), "history": history},
    )


def feature_inversion(model: nn.Module, images: Any, layer: str, *, steps: int = 200, lr: float = 0.05, tv: float = 1e-3,
                      l2: float = 0.0, seed: int = 0, init: str = "noise", progress: bool | None = None) -> Explanation:
    """Mahendran & Vedaldi (2015), "Understanding Deep Image Representations by Inverting
    Them": ``I* = argmin_I ||Phi(I) - Phi_0||^2 / ||Phi_0||^2 + lambda TV(I)``, ``Phi`` the
    output of ``layer``, ``Phi_0`` that of the given image. ``init``: ``"noise"`` (seeded)
    or ``"grey"``. maps: N x C x H x W pixels; extras: the relative feature distance before
    and after, the history."""
    pre = Preprocess.of(model)
    if init not in ("noise", "grey"):
        raise ConfigError(f"init={init!r} must be 'noise' or 'grey'")
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        with torch.no_grad():
            target = run_to(model, pre.normalize(x), layer)[layer].detach()
        norm = target.flatten(1).pow(2).sum(1).clamp_min(1e-12)
        g = generator(seed, "cpu")
        start_img = torch.full_like(x, 0.5) if init == "grey" else torch.rand(x.shape, generator=g).to(x.device)

        def distance(inp: torch.Tensor) -> torch.Tensor:
            return (run_to(model, inp, layer)[layer] - target).flatten(1).pow(2).sum(1) / norm

        with torch.no_grad():
            before = distance(pre.normalize(start_img))
        result, history = optimize_image(model, distance, start_img, steps=steps, lr=lr, l2=l2, tv=tv, seed=seed,
                                         progress=progress)
        with torch.no_grad():
            after = distance(pre.normalize(result))
    return Explanation(
        "feature-inversion", result.cpu(), "pixel [0, 1]", layer=layer, seed=seed,
        params={"steps": steps, "lr": lr, "tv": tv, "l2": l2, "init": init},
        extras={"feature_distance_start": before.cpu(), "feature_distance_end": after.cpu(), "history": history},
    )

