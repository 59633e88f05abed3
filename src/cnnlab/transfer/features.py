"""Features from any layer of a model, pooled to one vector per image, cached on disk.

A layer is a module name of ``named_modules()`` (``"s4"``, ``"conv4_x"``, ``"layer3.1.conv2"``),
one of the model's stages (``feature_info``, :func:`stage_layers`), or ``"head"``: the
pre-logits features ``forward_head(forward_features(x), pre_logits=True)`` (LeNet-5's F6,
VGG's FC7, ResNet's pooled conv5_x), the DeCAF features. Outputs are captured through
:mod:`cnnlab.explain.access`: :func:`~cnnlab.explain.access.prepared` puts the model in eval
mode with the user's hooks set aside, :func:`~cnnlab.explain.access.run_to` stops the
forward pass after the last layer needed.

Feature maps become vectors by ``pool``: ``"avg"`` (global average pooling, one value per
channel), ``"avgK"`` (average pooling to a K x K grid, flattened: ``"avg2"``) or
``"flatten"``; outputs that are already vectors are kept as they are.

The cache holds one safetensors file per layer and image set, named by the SHA-256 of the
model's architecture and weights, the layer, the pooling, the exact images fed and their
labels, and the preprocessing (mean, std; size, resize mode, channel conversion and
subset are in the images, and are recorded in the file's metadata too). Files are written
to a temporary name and renamed; reading one reads tensors only, never code.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data import DeviceLoader, ImageTensors, folder_loader
from ..engine.checkpoint import atomic_write
from ..errors import ConfigError
from ..explain.access import capture, model_device, prepared, run_to

HEAD = "head"
_GRID = re.compile(r"avg([1-9][0-9]*)$")


@dataclass
class LayerFeatures:
    """One layer's features of an image set: ``features`` N x D float32, ``labels`` N,
    ``cached`` when read from the cache, ``seconds`` spent computing (0 when cached)."""

    layer: str
    features: torch.Tensor
    labels: torch.Tensor
    cached: bool
    seconds: float


def stage_layers(model: nn.Module) -> list[str]:
    """One layer per stage (``feature_info``, earliest first), then ``"head"``."""
    return [f.module for f in getattr(model, "feature_info", None) or []] + [HEAD]


def check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """``layers`` without repeats, each checked: ``"head"`` or a module name."""
    if isinstance(layers, str) or not layers:
        raise ConfigError(
            f"layers must be a non-empty list of layer names, got {layers!r}; e.g. ['head'] or stage_layers(model)"
        )
    names = [n for n, _ in model.named_modules() if n]
    known = set(names)
    bad = [layer for layer in layers if layer != HEAD and layer not in known]
    if bad:
        model_name = getattr(getattr(model, "card", None), "name", type(model).__name__)
        close = difflib.get_close_matches(bad[0], names, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        top = [n for n in names if "." not in n]
        raise ConfigError(
            f"unknown layer(s) {', '.join(repr(b) for b in bad)} for {model_name}{hint}; valid: 'head' (the pre-logits "
            f"features), the stages {', '.join(stage_layers(model)[:-1]) or '(none)'}, or any module name, e.g. "
            f"{', '.join(top[:30])}{' ...' if len(top) > 30 else ''} (`cnnlab summary {model_name}` lists them all)"
        )
    return list(dict.fromkeys(layers))


def check_pool(pool: str) -> str:
    if pool in ("avg", "flatten") or _GRID.match(str(pool)):
        return pool
    raise ConfigError(
        f"pool={pool!r} is not one of 'avg' (global average), 'avgK' (average to a K x K grid, e.g. 'avg2') "
        "or 'flatten'"
    )


def pool_features(x: torch.Tensor, pool: str) -> torch.Tensor:
    """One vector per image from a layer's output (N x C x H x W, N x D, ...)."""
    if x.dim() == 2:
        return x
    if x.dim() == 4 and pool == "avg":
        return x.mean(dim=(2, 3))
    grid = _GRID.match(pool)
    if x.dim() == 4 and grid:
        return F.adaptive_avg_pool2d(x, int(grid.group(1))).flatten(1)
    return x.flatten(1)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the architecture (the module tree's repr) and every parameter and buffer."""
    h = hashlib.sha256(repr(model).encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def data_digest(data: Any) -> str:
    """SHA-256 of the images and labels an in-memory set holds, or of a folder set's files
    and labels."""
    h = hashlib.sha256()
    if isinstance(data, ImageTensors):
        h.update(str(tuple(data.images.shape)).encode())
        h.update(data.images.contiguous().numpy().tobytes())
        h.update(data.labels.contiguous().numpy().tobytes())
    else:
        h.update(json.dumps([[str(p), int(y)] for p, y in data.samples]).encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$CNNLAB_CACHE/features``, else ``~/.cache/cnnlab/features``."""
    return Path(os.environ.get("CNNLAB_CACHE") or Path.home() / ".cache" / "cnnlab") / "features"


class FeatureCache:
    """Features on disk, one safetensors file per key (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    @staticmethod
    def key(parts: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(dict(parts), sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def load(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cached ``(features, labels)``, or None when absent or unreadable (then the
        features are computed again and the file replaced)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError):
            return None
        if set(tensors) != {"features", "labels"}:
            return None
        return tensors["features"], tensors["labels"]

    def save(self, key: str, features: torch.Tensor, labels: torch.Tensor, meta: Mapping[str, Any]) -> Path:
        from safetensors.torch import save

        blob = save(
            {"features": features.contiguous(), "labels": labels.contiguous()},
            metadata={k: json.dumps(v, default=str) for k, v in meta.items()},
        )

        def write(f: BinaryIO) -> None:
            f.write(blob)

        return atomic_write(self.path(key), write)


def extract_features(
    model: nn.Module,
    data: Any,
    layers: Sequence[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    pool: str = "avg",
    batch_size: int = 256,
    cache: FeatureCache | None = None,
    about: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> dict[str, LayerFeatures]:
    """Pooled features of ``layers`` for every image of ``data`` (an in-memory set, or a
    folder set read at the model's input size), normalised with ``mean`` and ``std``, on
    the model's device. Layers found in ``cache`` cost no forward pass; the others are
    computed in one pass that stops after the last of them, then cached. ``about``
    (dataset, split, subset, preprocessing) is added to the cache key and the file's
    metadata. ``progress``: a bar with images/s and the time left (default: on a terminal)."""
    layers = check_layers(model, layers)
    pool = check_pool(pool)
    parts: dict[str, dict[str, Any]] = {}
    out: dict[str, LayerFeatures] = {}
    if cache is not None:
        common = {
            "weights": weights_digest(model),
            "images": data_digest(data),
            "pool": pool,
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            **dict(about or {}),
        }
        for layer in layers:
            parts[layer] = {**common, "layer": layer}
            hit = cache.load(cache.key(parts[layer]))
            if hit is not None:
                out[layer] = LayerFeatures(layer, hit[0], hit[1], True, 0.0)
    missing = [layer for layer in layers if layer not in out]
    if missing:
        start = time.perf_counter()
        features, labels = _compute(model, data, missing, mean, std, pool, batch_size, progress)
        seconds = time.perf_counter() - start
        for layer in missing:
            out[layer] = LayerFeatures(layer, features[layer], labels, False, seconds)
            if cache is not None:
                cache.save(cache.key(parts[layer]), features[layer], labels, parts[layer])
    return {layer: out[layer] for layer in layers}


def _batches(
    model: nn.Module, data: Any, mean: Sequence[float], std: Sequence[float], batch_size: int
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    device = model_device(model)
    if isinstance(data, ImageTensors):
        return DeviceLoader(data, batch_size, train=False, device=device, mean=mean, std=std)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    size = (cfg.get("input_size") or (3, 224, 224))[-1]
    shorter = (cfg.get("resize_size") or (None,))[0]
    return folder_loader(
        data, batch_size, False, image_size=size, mean=mean, std=std, options={"resize_shorter": shorter}
    )


def _compute(
    model: nn.Module,
    data: Any,
    layers: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    pool: str,
    batch_size: int,
    progress: bool | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    modules = [layer for layer in layers if layer != HEAD]
    total = len(data)
    # Filled in place, batch by batch: no list of chunks concatenated at the end (which held
    # every feature twice at its peak).
    out: dict[str, torch.Tensor] = {}
    labels = torch.empty(total, dtype=torch.long)
    device = model_device(model)
    done = 0
    show = progress if progress is not None else sys.stderr.isatty()
    bar = tqdm(total=total, unit="img", desc=f"features of {', '.join(layers)}", disable=not show, leave=False)
    with prepared(model), torch.no_grad(), bar:
        for x, y in _batches(model, data, mean, std, batch_size):
            acts = _layer_outputs(model, x.to(device), modules, HEAD in layers)
            n = len(y)
            for layer in layers:
                pooled = pool_features(acts[layer], pool).float().cpu()
                if layer not in out:
                    out[layer] = torch.empty((total, *pooled.shape[1:]), dtype=torch.float32)
                out[layer][done : done + n] = pooled
            labels[done : done + n] = y.cpu()
            done += n
            bar.update(n)  # images/s and the time left, on a terminal
    return {layer: t[:done] for layer, t in out.items()}, labels[:done]


def _layer_outputs(model: nn.Module, x: torch.Tensor, modules: Sequence[str], head: bool) -> dict[str, torch.Tensor]:
    if not head:
        return dict(run_to(model, x, modules))
    check = getattr(model, "check_input", None)
    if callable(check):
        check(x)
    with capture(model, modules) as acts:
        pre_logits = model.forward_head(model.forward_features(x), pre_logits=True)
    missing = [n for n, c in acts.calls.items() if not c]  # type: ignore[attr-defined]
    if missing:
        raise ConfigError(f"layers {missing} were not called by the forward pass; list_layers() lists those that are")
    return {**acts, HEAD: pre_logits}
