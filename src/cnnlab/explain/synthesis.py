"""Images made by optimisation: one engine (:func:`optimize_image`) and the two methods built
on it, activation maximization (classes and hidden channels) and feature inversion.

Both methods optimise pixels in ``[0, 1]``; the model reads ``Preprocess.normalize(pixels)``,
so the priors (L2 towards the dataset mean, total variation, jitter, blur, clipping) are
stated in pixel units whatever the model's normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, batches, generator, get_layer, model_device, prepared, run_to
from .result import Explanation


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per image ``TV(I) = (1 / (C H W)) sum_{c,i,j} (I[c,i+1,j] - I[c,i,j])^2 +
    (I[c,i,j+1] - I[c,i,j])^2``: Mahendran & Vedaldi (2015)'s total variation with
    ``beta = 2``, divided by the number of values as their normalisation by ``H W`` does,
    so one weight suits any image size (uniform noise: about 1/3; a constant image: 0)."""
    down = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1)
    right = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).sum(1)
    return (down + right) / x[0].numel()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (N x C x H x W) convolved per channel with a normalised Gaussian of std
    ``sigma`` pixels, truncated at 3 sigma (at most the image size), reflected at the
    borders; a constant image is left unchanged."""
    if sigma <= 0:
        raise ConfigError(f"blur_sigma must be positive, got {sigma}")
    radius = min(max(1, math.ceil(3 * sigma)), x.shape[-2] - 1, x.shape[-1] - 1)
    if radius < 1:
        return x.clone()
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t.pow(2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def optimize_image(
    model: nn.Module,
    objective: Callable[[torch.Tensor], torch.Tensor],
    init: torch.Tensor,
    *,
    steps: int,
    lr: float,
    l2: float = 0.0,
    tv: float = 0.0,
    jitter: int = 0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    clip: bool = True,
    seed: int | None = None,
    progress: bool | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The one optimisation engine of activation maximization and feature inversion.

    Minimises, for each image ``I`` of ``init`` (N x C x H x W pixels in ``[0, 1]``; the
    caller's tensor is not modified)::

        L(I) = objective(normalize(roll(I, jitter))) + l2 ||I - mean||^2 + tv TV(I)

    ``objective`` maps the normalised batch to one loss per image (N,) to *minimise*.
    Priors: ``l2`` is Simonyan et al. (2014)'s ``lambda ||I||^2`` on the image centred on
    the model's dataset mean (the "zero image" of a mean-subtracted network), summed over
    pixels; ``tv`` weighs :func:`total_variation` (Mahendran & Vedaldi 2015); ``jitter``
    rolls the image circularly by up to that many pixels in each direction before each step
    (drawn from a generator seeded by ``seed``), ``blur_every`` blurs the image with a
    Gaussian of std ``blur_sigma`` pixels every that many steps, and ``clip`` keeps pixels in
    ``[0, 1]`` after every step (Yosinski et al. 2015, "Understanding Neural Networks Through
    Deep Visualization").

    The optimiser is Adam (Kingma & Ba 2015) on the pixels, not the plain gradient ascent of
    Simonyan et al.: its steps are about ``lr`` pixel units whatever the scale of the score,
    so one ``lr`` suits every model. Images do not interact (the loss is a sum over images
    and Adam is per element), so a batch gives the images one-by-one calls give with the
    same jitter. Deterministic for a given ``seed`` (which only drives the jitter).

    Returns the final pixels (N x C x H x W) and a history: ``"loss"`` (``L``) and
    ``"objective"``, each a ``steps x N`` tensor evaluated before each step."""
    if steps < 1 or lr <= 0:
        raise ConfigError(f"steps must be >= 1 and lr > 0, got steps={steps}, lr={lr}")
    if l2 < 0 or tv < 0 or jitter < 0 or blur_every < 0:
        raise ConfigError(
            f"l2, tv, jitter and blur_every must be >= 0, got l2={l2}, tv={tv}, jitter={jitter}, "
            f"blur_every={blur_every}"
        )
    if blur_every and blur_sigma <= 0:
        raise ConfigError(f"blur_sigma must be positive, got {blur_sigma}")
    pre = Preprocess.of(model)
    image = as_batch(init, pre, what="init").to(model_device(model)).requires_grad_(True)
    mean = torch.tensor(pre.mean, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    g = generator(seed, "cpu")
    opt = torch.optim.Adam([image], lr=lr)
    losses, objectives = [], []
    with prepared(model):
        for step, _ in batches(steps, 1, desc="optimize_image", unit="steps", progress=progress):
            dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0)
            obj = objective(pre.normalize(torch.roll(image, shifts=(dy, dx), dims=(2, 3))))
            if obj.shape != (len(image),):
                raise ConfigError(
                    f"objective must return one loss per image, shape ({len(image)},); got {tuple(obj.shape)}"
                )
            loss = obj + l2 * (image - mean).pow(2).flatten(1).sum(1) + tv * total_variation(image)
            image.grad = torch.autograd.grad(loss.sum(), image)[0]
            opt.step()
            with torch.no_grad():
                if blur_every and (step + 1) % blur_every == 0:
                    image.copy_(gaussian_blur(image, blur_sigma))
                if clip:
                    image.clamp_(0, 1)
            losses.append(loss.detach())
            objectives.append(obj.detach())
    return image.detach(), {"loss": torch.stack(losses).cpu(), "objective": torch.stack(objectives).cpu()}


def _size(image_size: int | Sequence[int] | None, pre: Preprocess) -> tuple[int, int]:
    if image_size is None:
        return pre.input_size[1], pre.input_size[2]
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"image_size must be H or (H, W), got {image_size!r}")
    return int(size[0]), int(size[1])


def activation_maximization(
    model: nn.Module,
    target: int | str | None = None,
    *,
    layer: str | None = None,
    channel: int | None = None,
    n: int = 1,
    image_size: int | Sequence[int] | None = None,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 1e-4,
    jitter: int = 4,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    seed: int = 0,
    progress: bool | None = None,
) -> Explanation:
    """The image a unit responds to most.

    Class (``target``, an index or a class name): Simonyan, Vedaldi & Zisserman (2014),
    "Deep Inside Convolutional Networks: Visualising Image Classification Models and
    Saliency Maps", Sec. 2: ``I* = argmax_I S_c(I) - lambda ||I||^2`` with ``S_c`` the
    *unnormalised* score (logit) of class ``c``. Hidden channel (``layer`` and ``channel``):
    the mean activation of that feature map over its positions (Erhan et al. 2009,
    "Visualizing Higher-Layer Features of a Deep Network"). Both are optimised by
    :func:`optimize_image` with the L2 prior ``l2`` (``lambda``, on the image centred on the
    dataset mean) and Yosinski et al. (2015)'s jitter and blur priors.

    ``n`` images start from the dataset mean plus Gaussian noise of std 0.1 pixel units
    (Simonyan et al. start from the zero image of their mean-subtracted network), drawn from
    a generator seeded by ``seed``. ``image_size``: H or (H, W), default the model's.

    maps: N x C x H x W, units ``pixel [0, 1]``; target: the class or channel; logits: the
    model's logits for the result (classes only: a hidden unit's forward pass stops at its
    layer, so any ``image_size`` its convolutions accept works); extras: ``score_start`` and
    ``score_end`` (N, the score or mean activation before and after, no jitter) and
    ``history`` (see :func:`optimize_image`; its ``objective`` is the negated score)."""
    pre = Preprocess.of(model)
    if (target is None) == (layer is None):
        raise ConfigError(
            f"give a class (target=) or a hidden unit (layer= and channel=), not both or neither; "
            f"got target={target!r}, layer={layer!r}"
        )
    if layer is not None and channel is None:
        raise ConfigError(f"layer={layer!r} needs channel=, the index of the feature map to maximise")
    if target is not None and channel is not None:
        raise ConfigError(f"channel={channel} is for a hidden unit; give layer= with it instead of target={target!r}")
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    if layer is not None:
        get_layer(model, layer)
    h, w = _size(image_size, pre)
    dev = model_device(model)
    noise = torch.randn(n, pre.input_size[0], h, w, generator=generator(seed, "cpu"))
    init = (torch.tensor(pre.mean).view(1, -1, 1, 1) + 0.1 * noise).clamp(0, 1).to(dev)
    cls = pre.class_index(target) if target is not None else None

    def score(x: torch.Tensor) -> torch.Tensor:
        if cls is not None:
            return model(x)[:, cls]
        return run_to(model, x, layer)[layer][:, channel].flatten(1).mean(1)

    def negated_score(x: torch.Tensor) -> torch.Tensor:
        return -score(x)

    with prepared(model):
        with torch.no_grad():
            if cls is not None:
                classes = model(pre.normalize(init)).shape[1]
                if not 0 <= cls < classes:
                    raise ConfigError(
                        f"target class {cls} is out of range: the model has {classes} classes (0..{classes - 1})"
                    )
            else:
                width = run_to(model, pre.normalize(init), layer)[layer].shape[1]
                if not 0 <= channel < width:
                    raise ConfigError(
                        f"channel {channel} is out of range: {layer} has {width} channels (0..{width - 1})"
                    )
            start = score(pre.normalize(init))
        images, history = optimize_image(
            model,
            negated_score,
            init,
            steps=steps,
            lr=lr,
            l2=l2,
            jitter=jitter,
            blur_every=blur_every,
            blur_sigma=blur_sigma,
            seed=seed,
            progress=progress,
        )
        with torch.no_grad():
            end = score(pre.normalize(images))
            logits = model(pre.normalize(images)).cpu() if cls is not None else None
    return Explanation(
        "activation-maximization",
        images.cpu(),
        "pixel [0, 1]",
        target=torch.full((n,), cls if cls is not None else channel, dtype=torch.long),
        logits=logits,
        layer=layer,
        seed=seed,
        params={
            "target": cls,
            "layer": layer,
            "channel": channel,
            "n": n,
            "image_size": [h, w],
            "steps": steps,
            "lr": lr,
            "l2": l2,
            "jitter": jitter,
            "blur_every": blur_every,
            "blur_sigma": blur_sigma,
            "init": "mean + 0.1 N(0, 1)",
            "optimizer": "adam",
        },
        extras={"score_start": start.cpu(), "score_end": end.cpu(), "history": history},
    )


def feature_inversion(
    model: nn.Module,
    images: Any,
    layer: str,
    *,
    steps: int = 200,
    lr: float = 0.05,
    tv: float = 0.3,
    l2: float = 0.0,
    seed: int = 0,
    init: str = "noise",
    progress: bool | None = None,
) -> Explanation:
    """Mahendran & Vedaldi (2015), "Understanding Deep Image Representations by Inverting
    Them": an image whose representation at ``layer`` matches that of each given image,

        I* = argmin_I ||Phi(I) - Phi_0||^2 / ||Phi_0||^2 + tv TV(I) (+ l2 ||I - mean||^2)

    with ``Phi`` the output of ``layer`` (the forward pass stops there), ``Phi_0`` that of
    the image, ``TV`` :func:`total_variation` (per value, so ``tv`` does not depend on the
    image size), optimised by :func:`optimize_image` without jitter or blur. ``init``:
    ``"noise"`` (uniform in ``[0, 1]``, seeded by ``seed``) or ``"grey"`` (0.5 everywhere;
    then a batch equals one-by-one calls).

    maps: N x C x H x W, units ``pixel [0, 1]``; logits: the model's logits for the given
    images; extras: ``feature_distance_start`` and ``feature_distance_end`` (N, the relative
    distance ``||Phi(I) - Phi_0||^2 / ||Phi_0||^2`` of the start and the result) and
    ``history``."""
    pre = Preprocess.of(model)
    if init not in ("noise", "grey"):
        raise ConfigError(f"init={init!r} must be 'noise' or 'grey'")
    if not isinstance(layer, str):
        raise ConfigError(f"layer must be a layer name (list_layers() lists them), got {layer!r}")
    get_layer(model, layer)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        with torch.no_grad():
            logits = model(pre.normalize(x))
            phi0 = run_to(model, pre.normalize(x), layer)[layer].detach().clone()
        norm = phi0.flatten(1).pow(2).sum(1).clamp_min(1e-12)
        if init == "grey":
            start = torch.full_like(x, 0.5)
        else:
            start = torch.rand(x.shape, generator=generator(seed, "cpu")).to(x.device)

        def distance(inp: torch.Tensor) -> torch.Tensor:
            return (run_to(model, inp, layer)[layer] - phi0).flatten(1).pow(2).sum(1) / norm

        with torch.no_grad():
            before = distance(pre.normalize(start))
        result, history = optimize_image(
            model, distance, start, steps=steps, lr=lr, l2=l2, tv=tv, seed=seed, progress=progress
        )
        with torch.no_grad():
            after = distance(pre.normalize(result))
    return Explanation(
        "feature-inversion",
        result.cpu(),
        "pixel [0, 1]",
        logits=logits.cpu(),
        layer=layer,
        seed=seed,
        params={"layer": layer, "steps": steps, "lr": lr, "tv": tv, "l2": l2, "init": init, "optimizer": "adam"},
        extras={"feature_distance_start": before.cpu(), "feature_distance_end": after.cpu(), "history": history},
    )
