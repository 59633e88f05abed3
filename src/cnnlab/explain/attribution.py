"""Which pixels a class score depends on: gradients (saliency, SmoothGrad, SmoothGrad-Squared,
VarGrad; Integrated Gradients and Input x Gradient are in :mod:`.gradients`), class activation
maps (CAM, Grad-CAM, Grad-CAM++), modified backward passes (guided backprop, deconvnet)
and occlusion. Every function returns an :class:`~cnnlab.explain.result.Explanation` at raw
scale; ``cnnlab.viz`` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .access import (
    Preprocess,
    as_batch,
    batches,
    capture,
    feature_layer,
    generator,
    model_device,
    prepared,
    relu_rule,
    resolve_targets,
)
from .result import Explanation

Target = int | str | Sequence[int | str] | torch.Tensor | None


def _score_gradient(
    model: nn.Module, pre: Preprocess, pixels: torch.Tensor, target: Target
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(d score / d pixel, logits, targets)`` for a batch of pixel images."""
    x = pixels.clone().requires_grad_(True)
    logits = model(pre.normalize(x))
    idx = resolve_targets(target, logits.detach(), pre)
    score = logits.gather(1, idx[:, None]).sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad, logits.detach(), idx


# SmoothGrad's aggregates over the noisy copies: name -> (Explanation.method, units).
AGGREGATES = {
    "mean": ("smoothgrad", "|d score / d pixel|"),
    "square": ("smoothgrad-sq", "(d score / d pixel)^2"),
    "var": ("vargrad", "var(d score / d pixel)"),
}


def saliency(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    smoothgrad: bool = False,
    samples: int = 25,
    noise: float = 0.15,
    aggregate: str = "mean",
    batch_size: int = 32,
    seed: int | None = None,
    progress: bool | None = None,
) -> Explanation:
    """Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks", Sec. 3:
    ``M_ij = max_c |d S_c / d I_cij|``, the gradient of the *unnormalised* class score
    (the logit, not the softmax) with respect to the input pixels (pixel units, so the
    model's normalisation is inside the derivative), its absolute value, the maximum over
    colour channels. ``target``: a class index or name per image (default: the top class).

    ``smoothgrad=True`` (Smilkov et al. 2017, "SmoothGrad"): the gradient averaged over
    ``samples`` copies with Gaussian noise of std ``noise x (max - min)`` of each image,
    ``batch_size`` copies per pass. Each image draws its noise from its own generator seeded
    by ``seed`` (``None``: one is drawn and recorded in ``Explanation.seed``), so a batch
    equals the same images one at a time. ``aggregate`` says how the ``samples`` gradients
    ``g_s = d S_c / d I (x + eps_s)`` are combined:

    * ``"mean"``: SmoothGrad, ``mean_s g_s``; the map is ``max_c |.|`` (method ``"smoothgrad"``);
    * ``"square"``: SmoothGrad-Squared (Adebayo et al. 2018, "Local Explanation Methods for
      Deep Neural Networks Lack Sensitivity to Parameter Values"; Hooker et al. 2019, "A
      Benchmark for Interpretability Methods in Deep Neural Networks"), ``mean_s g_s^2``
      (method ``"smoothgrad-sq"``);
    * ``"var"``: VarGrad (Adebayo et al. 2018), ``mean_s g_s^2 - (mean_s g_s)^2``, the
      population variance (divided by ``samples``, as Captum's NoiseTunnel ``"vargrad"``),
      accumulated batch by batch with Chan et al.'s pairwise update so it does not lose
      digits to cancellation (method ``"vargrad"``).

    Costs one forward and backward pass per image (``samples`` with SmoothGrad).

    maps: N x H x W, the channel maximum of the aggregate (of its absolute value for
    ``"mean"``); extras["gradient"]: the N x C x H x W aggregate (the signed gradient without
    SmoothGrad)."""
    if aggregate not in AGGREGATES:
        raise ConfigError(f"unknown aggregate {aggregate!r}; choose one of {', '.join(map(repr, AGGREGATES))}")
    if aggregate != "mean" and not smoothgrad:
        raise ConfigError(
            f"aggregate={aggregate!r} combines the gradients of noisy copies: it needs smoothgrad=True "
            "(on the command line: cnnlab explain smoothgrad-sq or vargrad)"
        )
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        if not smoothgrad:
            grad, logits, idx = _score_gradient(model, pre, x, target)
        else:
            if samples < 1 or noise < 0:
                raise ConfigError(f"smoothgrad needs samples >= 1 and noise >= 0, got samples={samples}, noise={noise}")
            with torch.no_grad():
                logits = model(pre.normalize(x))
            idx = resolve_targets(target, logits, pre)
            if seed is None:
                seed = generator(None).initial_seed() % 2**63  # drawn, then recorded
            # One noise stream per image, each seeded by `seed`: image i's noise does not
            # depend on the others in the batch, so a batch equals one image at a time.
            streams = [generator(seed) for _ in range(len(x))]
            span = (x.flatten(1).max(1).values - x.flatten(1).min(1).values).view(-1, 1, 1, 1)
            grad = torch.zeros_like(x)  # mean: sum of g; square: sum of g^2; var: running mean of g
            m2 = torch.zeros_like(x)  # var: sum of squared deviations from the running mean
            seen = 0
            for start, stop in batches(
                samples, max(1, batch_size // max(1, len(x))), desc=AGGREGATES[aggregate][0], progress=progress
            ):
                k = stop - start
                draws = torch.stack(
                    [torch.stack([torch.randn(x.shape[1:], generator=g) for g in streams]) for _ in range(k)]
                ).to(x.device)  # k x N x C x H x W, one draw per sample and image
                noisy = (x[None] + draws * noise * span[None]).flatten(0, 1)
                g_k, _, _ = _score_gradient(model, pre, noisy, idx.repeat(k))
                g_k = g_k.view(k, *x.shape)
                if aggregate == "mean":
                    grad += g_k.sum(0)
                elif aggregate == "square":
                    grad += g_k.square().sum(0)
                else:  # Chan, Golub & LeVeque (1979): merge this batch's mean and M2 into the running ones
                    mean_k = g_k.mean(0)
                    delta = mean_k - grad
                    grad += delta * (k / (seen + k))
                    m2 += (g_k - mean_k).square().sum(0) + delta.square() * (seen * k / (seen + k))
                    seen += k
            if aggregate == "var":
                grad = m2 / samples
            else:
                grad /= samples
    method, units = AGGREGATES[aggregate] if smoothgrad else ("saliency", AGGREGATES["mean"][1])
    return Explanation(
        method=method,
        maps=(grad.abs() if aggregate == "mean" else grad).amax(dim=1),
        units=units,
        target=idx.cpu(),
        logits=logits.cpu(),
        seed=seed if smoothgrad else None,
        params={
            "smoothgrad": smoothgrad,
            "samples": samples if smoothgrad else None,
            "noise": noise if smoothgrad else None,
            "aggregate": aggregate if smoothgrad else None,
            "batch_size": batch_size,
        },
        extras={"gradient": grad.cpu()},
        images=x.detach().cpu(),
    )


def _linear_head(model: nn.Module) -> nn.Linear:
    head = model.get_classifier() if callable(getattr(model, "get_classifier", None)) else None
    if not isinstance(head, nn.Linear):
        raise ConfigError(
            f"CAM needs global average pooling followed by one linear layer; {type(model).__name__}'s classifier is "
            f"{type(head).__name__ if head is not None else 'unknown'}. Use grad_cam (on the command line: "
            "cnnlab explain gradcam), which works for any head"
        )
    return head


def cam(model: nn.Module, images: Any, target: Target = None) -> Explanation:
    """Zhou et al. (2016), "Learning Deep Features for Discriminative Localization":
    ``M_c(x, y) = sum_k w_ck A_k(x, y)`` over the last feature maps ``A`` (the model's
    ``forward_features``) and the class's weights ``w_c`` in the linear layer after global
    average pooling. maps: N x h x w at feature resolution, raw; extras["upsampled"]: N x H
    x W (bilinear)."""
    pre = Preprocess.of(model)
    head = _linear_head(model)
    with prepared(model), torch.no_grad():
        x = as_batch(images, pre).to(model_device(model))
        features, logits, where = feature_layer(model, pre.normalize(x))
        if features.dim() != 4 or features.shape[1] != head.in_features:
            raise ConfigError(
                f"CAM needs the head to read pooled {tuple(features.shape[1:])} features directly; "
                "use grad_cam (on the command line: cnnlab explain gradcam)"
            )
        idx = resolve_targets(target, logits, pre)
        maps = torch.einsum("nchw,nc->nhw", features, head.weight[idx])
    return Explanation(
        "cam",
        maps.cpu(),
        "class score contribution",
        idx.cpu(),
        logits.cpu(),
        layer=where,
        extras={"upsampled": _upsample(maps, x.shape[-2:]).cpu()},
        images=x.detach().cpu(),
    )


def _upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def grad_cam(
    model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None, plus_plus: bool = False
) -> Explanation:
    """Selvaraju et al. (2017), "Grad-CAM": ``alpha_k = mean_xy d y_c / d A_k(x, y)`` and
    ``M = ReLU(sum_k alpha_k A_k)`` over the feature maps ``A`` of ``layer`` (default: the
    map the model's ``forward_features`` returns, reported under the name of the layer that
    made it; ``"name#2"`` picks a module's second call). ``plus_plus=True``: Chattopadhyay et al. (2018),
    "Grad-CAM++", weights ``alpha^kc_ij = g^2 / (2 g^2 + sum_ab A_ab g^3)`` with ``g`` the
    gradient of ``exp(y_c)`` expressed through powers of ``d y_c / d A`` (their Eq. 19),
    ``w_k = sum_ij alpha_ij ReLU(g_ij)``. maps: N x h x w at the layer's resolution, raw;
    extras["upsampled"]: N x H x W (bilinear)."""
    pre = Preprocess.of(model)
    with prepared(model):
        # The parameters are frozen: the input carries the graph to the activations.
        x = as_batch(images, pre).to(model_device(model)).requires_grad_(True)
        if layer is None:  # the map forward_features returns, named by the layer that made it
            acts, logits, layer = feature_layer(model, pre.normalize(x))
        else:
            with capture(model, layer) as got:
                logits = model(pre.normalize(x))
            acts = got[layer]
        if acts.dim() != 4:
            raise ConfigError(f"Grad-CAM needs a layer with N x C x h x w output; {layer} gives {tuple(acts.shape)}")
        idx = resolve_targets(target, logits.detach(), pre)
        (grad,) = torch.autograd.grad(logits.gather(1, idx[:, None]).sum(), acts)
        acts, grad = acts.detach(), grad.detach()
        if plus_plus:
            g2, g3 = grad.pow(2), grad.pow(3)
            denom = 2 * g2 + (acts.sum(dim=(2, 3), keepdim=True) * g3)
            alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
            weights = (alpha * F.relu(grad)).sum(dim=(2, 3))
        else:
            weights = grad.mean(dim=(2, 3))
        maps = F.relu(torch.einsum("nchw,nc->nhw", acts, weights))
    return Explanation(
        "grad-cam++" if plus_plus else "grad-cam",
        maps.cpu(),
        "ReLU(weighted activation)",
        idx.cpu(),
        logits.detach().cpu(),
        layer=layer,
        params={"plus_plus": plus_plus},
        extras={"upsampled": _upsample(maps, x.shape[-2:]).detach().cpu()},
        images=x.detach().cpu(),
    )


def grad_cam_pp(model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None) -> Explanation:
    """Grad-CAM++ (:func:`grad_cam` with ``plus_plus=True``)."""
    return grad_cam(model, images, target, layer=layer, plus_plus=True)


def _modified_backprop(
    rule: str, model: nn.Module, images: Any, target: Target, layer: str | None, channel: int | None
) -> Explanation:
    pre = Preprocess.of(model)
    if (layer is None) != (channel is None):
        raise ConfigError(
            f"a hidden unit needs both layer and channel (on the command line: --layer NAME --channel C; "
            f"--list-layers names the layers); got layer={layer!r}, channel={channel!r}"
        )
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model)).requires_grad_(True)
        with relu_rule(rule) as mode:
            if layer is None:
                logits = model(pre.normalize(x))
                idx = resolve_targets(target, logits.detach(), pre)
                score = logits.gather(1, idx[:, None]).sum()
            else:
                with capture(model, layer) as got:
                    logits = model(pre.normalize(x))
                acts = got[layer]
                if not 0 <= channel < acts.shape[1]:
                    raise ConfigError(f"channel {channel} is out of range: {layer} has {acts.shape[1]} channels")
                # Zeiler & Fergus: project the strongest activation of the chosen map down.
                flat = acts[:, channel].flatten(1)
                score = flat.gather(1, flat.argmax(1, keepdim=True)).sum()
                idx = torch.full((len(x),), channel, dtype=torch.long)
            (grad,) = torch.autograd.grad(score, x)
        if mode.calls == 0:
            raise ConfigError(f"{rule} found no ReLU in {type(model).__name__}; it is defined for ReLU networks")
    return Explanation(
        "guided-backprop" if rule == "guided" else "deconvnet",
        grad.detach().cpu(),
        "modified gradient (d score / d pixel)",
        idx.cpu(),
        logits.detach().cpu(),
        layer=layer,
        params={"channel": channel, "relus_rewritten": mode.calls},
        images=x.detach().cpu(),
    )


def guided_backprop(
    model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None, channel: int | None = None
) -> Explanation:
    """Springenberg et al. (2015), "Striving for Simplicity", Sec. 3.4: back-propagate the
    class score (or, with ``layer`` and ``channel``, the strongest activation of that map)
    through every ReLU with ``grad_in = (x > 0) * max(grad_out, 0)``. maps: N x C x H x W,
    signed. Known to pass visual inspection yet fail the model-randomisation test
    (Adebayo et al. 2018): see :mod:`cnnlab.explain.sanity`."""
    return _modified_backprop("guided", model, images, target, layer, channel)


def deconvnet(
    model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None, channel: int | None = None
) -> Explanation:
    """Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional Networks",
    Sec. 2.1: the deconvnet's ReLU passes ``max(grad_out, 0)`` whatever the forward input
    was; max pooling uses the forward pass's switches (autograd's arg-max routing);
    convolutions use the transposed filters. maps: N x C x H x W, signed."""
    return _modified_backprop("deconvnet", model, images, target, layer, channel)


def occlusion(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    window: int = 8,
    stride: int = 4,
    fill: float | str = 0.5,
    batch_size: int = 64,
    progress: bool | None = None,
) -> Explanation:
    """Zeiler & Fergus (2014), Sec. 4.2: a ``window`` x ``window`` square of ``fill``
    (pixel units; ``"mean"``: the model's per-channel mean) slides over the image in steps
    of ``stride``; at each position the softmax probability of the target class.
    maps: N x h x w, p(target) with the square at each position (low = important);
    extras: ``class_map`` (the most probable class there), ``class_prob`` (its probability),
    ``baseline`` (p(target) unoccluded), ``positions`` (top-left pixel of each row and
    column). Costs ``h x w`` forward passes per image, ``batch_size`` at a time."""
    pre = Preprocess.of(model)
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be at least 1 pixel, got window={window}, stride={stride}")
    with prepared(model), torch.no_grad():
        x = as_batch(images, pre).to(model_device(model))
        n, c, h, w = x.shape
        if window > min(h, w):
            raise ConfigError(f"window={window} is larger than the {h}x{w} image")
        value = torch.tensor(pre.mean if fill == "mean" else [float(fill)] * c, dtype=x.dtype, device=x.device).view(
            c, 1, 1
        )
        ys, xs = list(range(0, h - window + 1, stride)), list(range(0, w - window + 1, stride))
        positions = [(py, px) for py in ys for px in xs]
        logits = model(pre.normalize(x))
        idx = resolve_targets(target, logits, pre)
        baseline = logits.softmax(1).gather(1, idx[:, None])[:, 0]
        prob = torch.empty(n, len(positions), device=x.device)
        best = torch.empty(n, len(positions), dtype=torch.long, device=x.device)
        best_p = torch.empty(n, len(positions), device=x.device)
        total = n * len(positions)
        for start, stop in batches(total, batch_size, desc="occlusion", progress=progress):
            jobs = [(k // len(positions), k % len(positions)) for k in range(start, stop)]
            batch = torch.stack([x[i] for i, _ in jobs])
            for b, (_, p) in enumerate(jobs):
                py, px = positions[p]
                batch[b, :, py : py + window, px : px + window] = value
            probs = model(pre.normalize(batch)).softmax(1)
            for b, (i, p) in enumerate(jobs):
                prob[i, p] = probs[b, idx[i]]
                best_p[i, p], best[i, p] = probs[b].max(0)
    shape = (n, len(ys), len(xs))
    return Explanation(
        "occlusion",
        prob.view(shape).cpu(),
        "probability",
        idx.cpu(),
        logits.cpu(),
        params={"window": window, "stride": stride, "fill": fill, "batch_size": batch_size},
        extras={
            "class_map": best.view(shape).cpu(),
            "class_prob": best_p.view(shape).cpu(),
            "baseline": baseline.cpu(),
            "positions": {"rows": ys, "cols": xs},
        },
        images=x.detach().cpu(),
    )


def grabcut(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    saliency_maps: torch.Tensor | None = None,
    foreground: float = 0.95,
    background: float = 0.30,
    iterations: int = 5,
) -> Explanation:
    """Simonyan et al. (2014), Sec. 3.1: segment the object with GrabCut (OpenCV) seeded by
    the saliency map: pixels above its ``foreground`` quantile are foreground seeds, below
    its ``background`` quantile background seeds, the rest left to GrabCut's colour model.
    maps: N x H x W boolean masks; extras["saliency"]: the maps used."""
    try:
        import cv2
    except ImportError:
        raise ConfigError("grabcut needs OpenCV: pip install opencv-python-headless (or cnnlab[explain])") from None
    if not 0 < background < foreground < 1:
        raise ConfigError(f"need 0 < background < foreground < 1, got background={background}, foreground={foreground}")
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    result = None
    if saliency_maps is None:
        result = saliency(model, x, target)
        saliency_maps = result.maps
    masks = []
    for img, sal in zip(x, saliency_maps):
        rgb = (
            (img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3])
            .permute(1, 2, 0)
            .mul(255)
            .round()
            .byte()
            .numpy()
            .copy()
        )
        hi, lo = torch.quantile(sal.flatten().float(), foreground), torch.quantile(sal.flatten().float(), background)
        seed = torch.full(sal.shape, cv2.GC_PR_BGD, dtype=torch.uint8)
        seed[sal >= torch.quantile(sal.flatten().float(), (foreground + background) / 2)] = cv2.GC_PR_FGD
        seed[sal >= hi] = cv2.GC_FGD
        seed[sal <= lo] = cv2.GC_BGD
        mask = seed.numpy().copy()
        bgd, fgd = torch.zeros(1, 65).double().numpy(), torch.zeros(1, 65).double().numpy()
        cv2.grabCut(rgb, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
        masks.append(torch.from_numpy((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)))
    return Explanation(
        "grabcut",
        torch.stack(masks),
        "foreground mask",
        target=None if result is None else result.target,
        logits=None if result is None else result.logits,
        params={"foreground": foreground, "background": background, "iterations": iterations},
        extras={"saliency": saliency_maps.cpu()},
        images=x.detach().cpu(),
    )
