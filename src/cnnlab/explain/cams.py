"""Class activation maps beyond Grad-CAM: Score-CAM (gradient-free, by masking), LayerCAM and
HiResCAM (element-wise gradient weights), Eigen-CAM (the activations' first principal
component) and Guided Grad-CAM (guided backprop times Grad-CAM). Every function returns an
:class:`~cnnlab.explain.result.Explanation` at raw scale, layers named as in
:func:`~cnnlab.explain.attribution.grad_cam`; ``cnnlab.viz`` draws it.
"""

from __future__ import annotations

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
    model_device,
    prepared,
    resolve_targets,
)
from .attribution import Target, _upsample, grad_cam, guided_backprop
from .result import Explanation


def _layer_output(
    model: nn.Module, pre: Preprocess, x: torch.Tensor, layer: str | None, method: str
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(activations, logits, layer name)`` for pixel batch ``x``: the map
    ``forward_features`` returns when ``layer`` is None (named by the layer that made it),
    else the named layer's output (``"name#2"``: its second call), checked to be N x C x h x w."""
    if layer is None:
        acts, logits, layer = feature_layer(model, pre.normalize(x))
    else:
        with capture(model, layer) as got:
            logits = model(pre.normalize(x))
        acts = got[layer]
    if acts.dim() != 4:
        raise ConfigError(f"{method} needs a layer with N x C x h x w output; {layer!r} gives {tuple(acts.shape)}")
    return acts, logits, layer


def _gradient_cam(
    method: str, model: nn.Module, images: Any, target: Target, layer: str | None, positive: bool
) -> Explanation:
    """``ReLU(sum_k g_k * A_k)`` with ``g = d y_c / d A`` (``positive``: ``ReLU(g)``), element-wise."""
    pre = Preprocess.of(model)
    name = "LayerCAM" if positive else "HiResCAM"
    with prepared(model):
        # The parameters are frozen: the input carries the graph to the activations.
        x = as_batch(images, pre).to(model_device(model)).requires_grad_(True)
        acts, logits, layer = _layer_output(model, pre, x, layer, name)
        idx = resolve_targets(target, logits.detach(), pre)
        (grad,) = torch.autograd.grad(logits.gather(1, idx[:, None]).sum(), acts)
        acts, grad = acts.detach(), grad.detach()
        weights = F.relu(grad) if positive else grad
        maps = F.relu((weights * acts).sum(dim=1))
    return Explanation(
        method,
        maps.cpu(),
        "ReLU(sum_k ReLU(gradient) x activation)" if positive else "ReLU(sum_k gradient x activation)",
        idx.cpu(),
        logits.detach().cpu(),
        layer=layer,
        extras={"upsampled": _upsample(maps, x.shape[-2:]).cpu()},
        images=x.detach().cpu(),
    )


def layer_cam(model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None) -> Explanation:
    """Jiang et al. (2021), "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization": ``M = ReLU(sum_k ReLU(d y_c / d A_k) * A_k)``, each position of each
    channel weighted by its own positive gradient (element-wise) instead of Grad-CAM's
    channel-mean gradient, so the map stays fine-grained at early, high-resolution layers,
    where Grad-CAM's spatially averaged weights blur. ``y_c`` is the target's logit. (The
    paper also fuses several layers' maps; call this once per layer to do that.) As
    pytorch-grad-cam's LayerCAM, without its min-max scaling and resize.

    ``layer``: as :func:`~cnnlab.explain.attribution.grad_cam` (default: the map the
    model's ``forward_features`` returns; ``"name#2"``: a module's second call). ``target``:
    a class index or name per image (default: the top class). Cost per image: 1 forward and
    1 backward pass. maps: N x h x w at the layer's resolution, raw; extras["upsampled"]: N x
    H x W (bilinear)."""
    return _gradient_cam("layer-cam", model, images, target, layer, positive=True)


def hires_cam(model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None) -> Explanation:
    """Draelos & Carin (2020), "Use HiResCAM instead of Grad-CAM for faithful explanations
    of convolutional neural networks": ``M = ReLU(sum_k (d y_c / d A_k) * A_k)``, the
    gradient multiplied element-wise into the activations (Grad-CAM averages it over
    positions first). Faithful for CNNs that end in global average pooling and one linear
    layer, with ``layer`` the map the pooling reads: there ``d y_c / d A_k(i, j) = w_ck / (h
    w)``, so the map before its ReLU is the CAM divided by ``h w`` and sums over positions to
    ``y_c - b_c``: it shows exactly which positions make the score. After other heads that
    identity does not hold (nor does it for Grad-CAM). As pytorch-grad-cam's HiResCAM,
    without its min-max scaling and resize.

    ``layer``, ``target``: as :func:`layer_cam`. Cost per image: 1 forward and 1 backward
    pass. maps: N x h x w at the layer's resolution, raw; extras["upsampled"]: N x H x W
    (bilinear)."""
    return _gradient_cam("hires-cam", model, images, target, layer, positive=False)


def score_cam(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    layer: str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Explanation:
    """Wang et al. (2020), "Score-CAM: Score-Weighted Visual Explanations for Convolutional
    Neural Networks": for each channel ``k`` of ``layer``, upsample ``A_k`` to the input size
    (bilinear), min-max normalise it to ``H_k = (U_k - min) / (max - min + 1e-8)``, mask the
    image with it, ``X * H_k``, and take the target's logit ``s_k = y_c(X * H_k)``; the
    channel weights are ``w = softmax_k(s)`` and ``M = ReLU(sum_k w_k A_k)``. No gradients.

    Conventions: pytorch-grad-cam's ScoreCAM (logit scores, softmax across channels, ``+1e-8``
    in the min-max denominator). The paper's weight is the increase in confidence over a
    baseline image, ``f(X * H_k) - f(X_b)``; the softmax across channels does not change
    when one baseline score is subtracted from all channels, so it drops out. Two differences
    from pytorch-grad-cam: cnnlab masks the *pixel* image (``[0, 1]``) and then normalises
    it with the model's mean and std, as the paper masks the input image, while
    pytorch-grad-cam masks whatever tensor it is given, normally the already-normalised one
    (the two agree when mean = 0 and std = 1, or when the normalisation is part of the model
    given to it); and cnnlab upsamples the masks with ``align_corners=False``, as its
    extras["upsampled"], while pytorch-grad-cam's ``nn.UpsamplingBilinear2d`` uses
    ``align_corners=True`` (identical at a layer of the input's resolution).

    ``layer``, ``target``: as :func:`layer_cam`. Cost per image: 1 + C forward passes (C: the
    layer's channels), ``batch_size`` masked images at a time (``progress``: a bar stating
    the cost; ``None``: only on a terminal); no backward pass. maps: N x h x w at the layer's
    resolution, raw; extras: ``upsampled`` (N x H x W, bilinear), ``scores`` (N x C, the
    target's logit for each masked image) and ``weights`` (N x C, their softmax)."""
    pre = Preprocess.of(model)
    with prepared(model), torch.no_grad():
        x = as_batch(images, pre).to(model_device(model))
        acts, logits, layer = _layer_output(model, pre, x, layer, "Score-CAM")
        idx = resolve_targets(target, logits, pre)
        n, c = acts.shape[:2]
        flat = acts.flatten(0, 1)  # image-major: row i * c + k is image i's channel k
        scores = torch.empty(n * c, device=x.device)
        for start, stop in batches(n * c, batch_size, desc="score-cam", progress=progress):
            masks = _upsample(flat[start:stop], x.shape[-2:])
            lo = masks.flatten(1).min(1).values.view(-1, 1, 1)
            hi = masks.flatten(1).max(1).values.view(-1, 1, 1)
            masks = (masks - lo) / (hi - lo + 1e-8)
            which = torch.arange(start, stop, device=x.device) // c
            out = model(pre.normalize(x[which] * masks[:, None]))
            scores[start:stop] = out.gather(1, idx[which][:, None])[:, 0]
        scores = scores.view(n, c)
        weights = scores.softmax(dim=1)
        maps = F.relu(torch.einsum("nchw,nc->nhw", acts, weights))
    return Explanation(
        "score-cam",
        maps.cpu(),
        "ReLU(score-weighted activation)",
        idx.cpu(),
        logits.cpu(),
        layer=layer,
        params={"batch_size": batch_size},
        extras={
            "upsampled": _upsample(maps, x.shape[-2:]).cpu(),
            "scores": scores.cpu(),
            "weights": weights.cpu(),
        },
        images=x.detach().cpu(),
    )


def _first_component(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's activations (h w positions x C channels, centred per channel) projected on
    their first right singular vector, the sign fixed (see :func:`eigen_cam`), and the share of
    the variance that component explains. Computed in float64."""
    n, c, h, w = acts.shape
    data = acts.detach().double().flatten(2).transpose(1, 2)  # N x hw x C
    data = data - data.mean(dim=1, keepdim=True)
    _, s, vh = torch.linalg.svd(data, full_matrices=False)
    proj = (data @ vh[:, 0, :, None])[..., 0]  # N x hw, mean 0 over positions
    reference = acts.detach().double().mean(dim=1).flatten(1)  # the channel-mean activation map
    corr = (proj * (reference - reference.mean(dim=1, keepdim=True))).sum(dim=1)
    # Uncorrelated (e.g. a constant mean map): make the largest-magnitude position positive.
    peak = proj.gather(1, proj.abs().argmax(dim=1, keepdim=True))[:, 0]
    sign = torch.where(corr != 0, corr.sign(), peak.sign())
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    share = s[:, 0].pow(2) / s.pow(2).sum(dim=1).clamp_min(torch.finfo(s.dtype).tiny)
    return (proj * sign[:, None]).view(n, h, w).to(acts.dtype), share.to(acts.dtype)


def eigen_cam(model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None) -> Explanation:
    """Muhammad & Yeasin (2020), "Eigen-CAM: Class Activation Map using Principal Components":
    ``M = ReLU(A_c v_1)``, the layer's activations as an ``h w x C`` matrix (positions x
    channels), centred per channel over positions as pytorch-grad-cam's ``get_2d_projection``
    does, projected on their first right singular vector ``v_1`` (the first principal
    component). Class-agnostic: no gradients and no class; ``target`` is only resolved and
    recorded.

    The sign of a singular vector is arbitrary (``v_1`` and ``-v_1`` are both valid, and
    which one an SVD returns can change with the library or the batch), so cnnlab fixes it:
    ``v_1`` is flipped so that the projection correlates positively with the channel-mean
    activation map (if they are uncorrelated, so that its largest-magnitude entry is
    positive). pytorch-grad-cam's EigenCAM and ``get_2d_projection`` do not fix the sign, so
    its map can come out as the ReLU of the negated projection.

    ``layer``: as :func:`layer_cam`. Cost per image: 1 forward pass, no backward, one SVD of
    an ``h w x C`` matrix. maps: N x h x w at the layer's resolution, raw; extras:
    ``upsampled`` (N x H x W, bilinear), ``projection`` (N x h x w, the signed projection
    before the ReLU), ``explained_variance_ratio`` (N, the component's share of the centred
    activations' variance)."""
    pre = Preprocess.of(model)
    with prepared(model), torch.no_grad():
        x = as_batch(images, pre).to(model_device(model))
        acts, logits, layer = _layer_output(model, pre, x, layer, "Eigen-CAM")
        idx = resolve_targets(target, logits, pre)
        projection, share = _first_component(acts)
        maps = F.relu(projection)
    return Explanation(
        "eigen-cam",
        maps.cpu(),
        "ReLU(first principal component projection)",
        idx.cpu(),
        logits.cpu(),
        layer=layer,
        params={"class_agnostic": True},
        extras={
            "upsampled": _upsample(maps, x.shape[-2:]).cpu(),
            "projection": projection.cpu(),
            "explained_variance_ratio": share.cpu(),
        },
        images=x.detach().cpu(),
    )


def guided_grad_cam(
    model: nn.Module, images: Any, target: Target = None, *, layer: str | None = None, interpolate: str = "bilinear"
) -> Explanation:
    """Selvaraju et al. (2017), "Grad-CAM", Sec. 3.1: Guided Grad-CAM, the element-wise product
    of guided backprop (:func:`~cnnlab.explain.attribution.guided_backprop`, Springenberg et
    al. 2015) and the Grad-CAM map (with its ReLU) of ``layer`` upsampled to the input size:
    ``G = GB(x) * up(ReLU(sum_k alpha_k A_k))``. Pixel-precise like guided backprop, and
    class-discriminative like Grad-CAM. ``interpolate``: ``"bilinear"`` (the paper's, and
    cnnlab's extras["upsampled"]) or ``"nearest"`` (Captum's GuidedGradCam default).

    ``layer``, ``target``: as :func:`~cnnlab.explain.attribution.grad_cam`. Defined for ReLU
    networks (guided backprop's rule). Cost per image: 2 forward and 2 backward passes (one
    of each for Grad-CAM, one of each with guided backprop's ReLU rule). maps: N x C x H x W,
    signed; extras: ``grad_cam`` (N x H x W, the upsampled Grad-CAM factor) and
    ``guided_backprop`` (N x C x H x W, the other factor)."""
    if interpolate not in ("bilinear", "nearest"):
        raise ConfigError(f"interpolate must be 'bilinear' or 'nearest', got {interpolate!r}")
    # Grad-CAM first: a bad layer fails before the guided pass. Each call leaves the model as found.
    cam = grad_cam(model, images, target, layer=layer)
    guided = guided_backprop(model, images, cam.target)
    size = tuple(guided.maps.shape[-2:])
    if interpolate == "bilinear":
        factor = _upsample(cam.maps, size)
    else:
        factor = F.interpolate(cam.maps[:, None], size=size, mode="nearest")[:, 0]
    return Explanation(
        "guided-grad-cam",
        guided.maps * factor[:, None],
        "modified gradient x Grad-CAM",
        cam.target,
        cam.logits,
        layer=cam.layer,
        params={"interpolate": interpolate},
        extras={"grad_cam": factor, "guided_backprop": guided.maps},
        images=cam.images,
    )
