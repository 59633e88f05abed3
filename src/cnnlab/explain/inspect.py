"""Looking inside: first-layer filters, activations, dead units, features from any layer,
nearest neighbours in pixel and feature space, and 2-D maps (PCA, t-SNE) of images."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, batches, default_layer, get_layer, model_device, prepared, run_to
from .result import Explanation


def filters(model: nn.Module, layer: str | None = None) -> Explanation:
    """A convolution's raw weights, out x in x kh x kw (default: the first convolution,
    whose filters the lectures show as images). extras: each filter's L2 norm, the bias."""
    name = layer or default_layer(model, "first_conv")
    conv = get_layer(model, name)
    if not isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
        raise ConfigError(f"{name} is a {type(conv).__name__}, not a convolution; name a Conv2d layer")
    w = conv.weight.detach().cpu().clone()
    return Explanation(
        "filters",
        w,
        "weight",
        layer=name,
        extras={"norms": w.flatten(1).norm(dim=1), "bias": None if conv.bias is None else conv.bias.detach().cpu()},
    )


def _layer_outputs(
    model: nn.Module,
    x: torch.Tensor,
    layer: str | None,
    pre: Preprocess,
    batch_size: int,
    progress: bool | None,
    pool: str | None = None,
) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for start, stop in batches(len(x), batch_size, desc="features", unit="images", progress=progress):
            inp = pre.normalize(x[start:stop])
            if layer is None:
                if not callable(getattr(model, "forward_head", None)):
                    raise ConfigError(
                        f"{type(model).__name__} has no forward_head (the cnnlab model contract); name a layer"
                    )
                out = model.forward_head(model.forward_features(inp), pre_logits=True)
            else:
                out = run_to(model, inp, layer)[layer]
            if pool is not None and out.dim() == 4:
                out = out.mean(dim=(2, 3)) if pool == "avg" else out.amax(dim=(2, 3))
            outs.append(out.flatten(1) if pool is not None else out)
    return torch.cat(outs).cpu()


def activations(
    model: nn.Module, images: Any, layer: str, *, batch_size: int = 64, progress: bool | None = None
) -> Explanation:
    """The output of ``layer`` for each image (N x C x h x w for a convolutional layer)."""
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        out = _layer_outputs(model, x, layer, pre, batch_size, progress)
    return Explanation("activations", out, "activation", layer=layer, params={"batch_size": batch_size})


def extract_features(
    model: nn.Module,
    images: Any,
    layer: str | None = None,
    *,
    pool: str | None = "avg",
    batch_size: int = 64,
    progress: bool | None = None,
) -> Explanation:
    """Features from any layer: ``layer=None`` takes the pre-logits features
    (``forward_head(forward_features(x), pre_logits=True)``); spatial maps are averaged
    (``pool="avg"``) or max-pooled (``"max"``) over positions, or kept (``None``)."""
    if pool not in ("avg", "max", None):
        raise ConfigError(f"pool={pool!r} must be 'avg', 'max' or None")
    pre = Preprocess.of(model)
    with prepared(model):
        x = as_batch(images, pre).to(model_device(model))
        out = _layer_outputs(model, x, layer, pre, batch_size, progress, pool=pool or None)
    return Explanation(
        "features", out, "activation", layer=layer or "pre_logits", params={"pool": pool, "batch_size": batch_size}
    )


def dead_units(
    model: nn.Module,
    images: Any,
    layer: str,
    *,
    threshold: float = 0.0,
    batch_size: int = 256,
    progress: bool | None = None,
) -> Explanation:
    """The lectures' dead filters ("zero for many different inputs", a symptom of a high
    learning rate): per channel of ``layer``, the fraction of inputs for which the channel
    is ``<= threshold`` at every position. ``images``: a tensor of pixel images or an
    iterable of ``(images, labels)`` batches in pixel units. maps: (C,) fractions;
    extras: ``dead`` (channels dead on every input), ``mean_activation``, ``inputs``."""
    pre = Preprocess.of(model)
    source: Iterable[Any] = [(images, None)] if isinstance(images, torch.Tensor) else images
    zero, total, count = None, None, 0
    with prepared(model), torch.no_grad():
        for item in source:
            batch = item[0] if isinstance(item, (tuple, list)) else item
            x = as_batch(batch, pre).to(model_device(model))
            for start, stop in batches(len(x), batch_size, desc="dead units", unit="images", progress=progress):
                out = run_to(model, pre.normalize(x[start:stop]), layer)[layer]
                flat = out.flatten(2) if out.dim() > 2 else out[:, :, None]
                z = (flat <= threshold).all(dim=2).sum(0).double()
                s = flat.mean(dim=2).sum(0).double()
                zero = z if zero is None else zero + z
                total = s if total is None else total + s
                count += stop - start
    if not count:
        raise ConfigError("dead_units got no images")
    fraction = (zero / count).float().cpu()
    return Explanation(
        "dead-units",
        fraction,
        "fraction of inputs",
        layer=layer,
        params={"threshold": threshold},
        extras={
            "dead": torch.nonzero(fraction == 1).flatten(),
            "mean_activation": (total / count).float().cpu(),
            "inputs": count,
        },
    )


def nearest_neighbours(
    model: nn.Module,
    queries: Any,
    gallery: Any,
    *,
    layer: str | None = None,
    k: int = 5,
    batch_size: int = 64,
    gallery_labels: torch.Tensor | None = None,
    query_labels: torch.Tensor | None = None,
) -> Explanation:
    """The lecture's comparison: each query's ``k`` nearest gallery images by L2 distance in
    pixel space and in feature space (``layer``, default the pre-logits features). maps: N
    x k feature-space indices; extras: ``pixel_neighbours``, both distances, and with labels
    the fraction of neighbours sharing the query's label in each space (``agreement``)."""
    pre = Preprocess.of(model)
    q, g = as_batch(queries, pre, what="queries"), as_batch(gallery, pre, what="gallery images")
    if not 1 <= k <= len(g):
        raise ConfigError(f"k={k} must be between 1 and the {len(g)} gallery images")
    fq = extract_features(model, q, layer, batch_size=batch_size).maps
    fg = extract_features(model, g, layer, batch_size=batch_size).maps
    fd, fi = torch.cdist(fq, fg).topk(k, largest=False)
    pd, pi = torch.cdist(q.flatten(1), g.flatten(1)).topk(k, largest=False)
    extras: dict[str, Any] = {"pixel_neighbours": pi, "pixel_distances": pd, "feature_distances": fd}
    if gallery_labels is not None and query_labels is not None:
        ql = torch.as_tensor(query_labels)[:, None]
        gl = torch.as_tensor(gallery_labels)
        extras["agreement"] = {
            "pixel": float((gl[pi] == ql).float().mean()),
            "feature": float((gl[fi] == ql).float().mean()),
        }
    return Explanation(
        "nearest-neighbours", fi, "gallery index", layer=layer or "pre_logits", params={"k": k}, extras=extras
    )


def embed_2d(
    model: nn.Module,
    images: Any = None,
    *,
    method: str = "pca",
    layer: str | None = None,
    features: torch.Tensor | None = None,
    perplexity: float = 30.0,
    seed: int = 0,
    batch_size: int = 64,
) -> Explanation:
    """A 2-D map of images by their features: PCA (scikit-learn) or t-SNE (van der Maaten &
    Hinton 2008; scikit-learn, PCA initialisation, ``random_state=seed``). ``features``:
    precomputed N x D features instead of ``images``. maps: N x 2."""
    if method not in ("pca", "tsne"):
        raise ConfigError(f"method={method!r} must be 'pca' or 'tsne'")
    feats = features if features is not None else extract_features(model, images, layer, batch_size=batch_size).maps
    data = feats.flatten(1).double().numpy()
    extras: dict[str, Any] = {}
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        coords = pca.fit_transform(data)
        extras["explained_variance_ratio"] = pca.explained_variance_ratio_.tolist()
    else:
        from sklearn.manifold import TSNE

        if len(data) <= perplexity:
            raise ConfigError(
                f"t-SNE needs more images ({len(data)}) than its perplexity ({perplexity}); lower perplexity="
            )
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(data)
    return Explanation(
        method,
        torch.tensor(coords, dtype=torch.float32),
        "embedding coordinate",
        layer=layer or "pre_logits",
        seed=seed,
        params={"method": method, "perplexity": perplexity if method == "tsne" else None},
        extras=extras,
    )
