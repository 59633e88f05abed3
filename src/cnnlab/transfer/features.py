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

The cache holds one folder per layer and image set, named by the SHA-256 of the model's
architecture and weights, the layer, the pooling, the exact images fed and their labels,
and the preprocessing (mean, std; size, resize mode, channel conversion and subset are in
the images, and are recorded in ``meta.json`` too). The features are a NumPy ``.npy`` file
(N x D float32) written batch by batch as they are computed, so no more than one batch is
ever held in memory; labels are ``labels.npy``. The folder is filled under a temporary name
and renamed into place (:func:`cnnlab.atomic.atomic_folder`): an interrupted extraction
leaves no folder that reads as valid. A cached entry is memory-mapped, not read: its
``features`` are a tensor over the mapped file. Reading one loads arrays only
(``allow_pickle=False``), never code; an entry that fails to load is computed again.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..atomic import atomic_folder
from ..data import DeviceLoader, ImageTensors, folder_loader
from ..errors import ConfigError
from ..explain.access import capture, model_device, prepared, run_to

HEAD = "head"
_GRID = re.compile(r"avg([1-9][0-9]*)$")


@dataclass
class LayerFeatures:
    """One layer's features of an image set: ``features`` N x D float32, ``labels`` N,
    ``cached`` when read from the cache, ``seconds`` spent computing (0 when cached), and
    ``path``, the cache's ``.npy`` file the features are mapped from (None when they are
    only in memory): :func:`~cnnlab.transfer.probe.fit_probe` reads it in chunks."""

    layer: str
    features: torch.Tensor
    labels: torch.Tensor
    cached: bool
    seconds: float
    path: Path | None = None


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
    """Features on disk, one folder per key holding ``features.npy``, ``labels.npy`` and
    ``meta.json`` (see the module docstring)."""

    FORMAT = 2  # 1: one safetensors file per key (no longer read: computed again, then deleted)
    FEATURES, LABELS, META = "features.npy", "labels.npy", "meta.json"

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    @staticmethod
    def key(parts: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(dict(parts), sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path:
        """The entry's folder."""
        return self.root / key

    def load(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cached ``(features, labels)``, the features memory-mapped (copy-on-write: a
        tensor is always writable, and a write must never reach the file), or None when
        absent or unreadable (then the features are computed again and the entry replaced)."""
        folder = self.path(key)
        try:
            meta = json.loads((folder / self.META).read_text())
            features = np.load(folder / self.FEATURES, mmap_mode="c", allow_pickle=False)
            labels = np.load(folder / self.LABELS, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # absent, truncated, not .npy, bad JSON
            return None
        valid = (
            isinstance(meta, dict)
            and meta.get("format") == self.FORMAT
            and isinstance(features, np.memmap)
            and features.dtype == np.float32
            and features.ndim == 2
            and features.flags.c_contiguous
            and labels.dtype == np.int64
            and labels.shape == features.shape[:1]
            and meta.get("shape") == list(features.shape)
        )
        if not valid:
            return None
        return torch.from_numpy(features), torch.from_numpy(labels)

    @contextlib.contextmanager
    def writer(self, key: str, meta: Mapping[str, Any], total: int) -> Iterator[_EntryWriter]:
        """An entry being written: ``write(start, rows)`` batch by batch, then ``finish(labels)``;
        renamed into place when the block ends without an error, removed when it fails."""
        with atomic_folder(self.path(key)) as folder:
            entry = _EntryWriter(folder, total, {"format": self.FORMAT, "key": key, **meta})
            try:
                yield entry
            finally:
                entry.close()
            if not entry.finished:
                raise RuntimeError(f"feature cache entry {key} was left unfinished")
        (self.root / f"{key}.safetensors").unlink(missing_ok=True)  # the same key's entry of format 1


class _EntryWriter:
    """``features.npy`` written in order: its header by ``numpy.lib.format.open_memmap``, the
    rows with plain writes at their offsets (pages written through a shared mapping would all
    stay resident in the process until it ends; written this way they go to the page cache,
    which the kernel may evict)."""

    def __init__(self, folder: Path, total: int, meta: dict[str, Any]) -> None:
        self.folder, self.total, self.meta = folder, total, meta
        self.file: BinaryIO | None = None
        self.offset = self.row_bytes = 0
        self.shape: tuple[int, int] | None = None
        self.finished = False

    def write(self, start: int, rows: torch.Tensor) -> None:
        batch = np.ascontiguousarray(rows.detach().cpu().numpy(), dtype=np.float32)
        if self.file is None:
            self.shape = (self.total, batch.shape[1])
            mapped = np.lib.format.open_memmap(
                self.folder / FeatureCache.FEATURES, mode="w+", dtype=np.float32, shape=self.shape
            )
            self.offset, self.row_bytes = int(mapped.offset), 4 * batch.shape[1]
            del mapped  # the header is written and the file sized; nothing stays mapped
            self.file = open(self.folder / FeatureCache.FEATURES, "r+b", buffering=0)  # noqa: SIM115
        self.file.seek(self.offset + start * self.row_bytes)
        view, done = memoryview(batch).cast("B"), 0
        while done < len(view):
            done += self.file.write(view[done:])

    def finish(self, labels: torch.Tensor, done: int) -> None:
        if self.shape is None or done != self.total:
            raise RuntimeError(f"{done:,} of {self.total:,} images were fed; the entry is not written")
        np.save(self.folder / FeatureCache.LABELS, labels.numpy().astype(np.int64), allow_pickle=False)
        meta = {**self.meta, "shape": list(self.shape)}
        (self.folder / FeatureCache.META).write_text(json.dumps(meta, indent=1, default=str))
        self.finished = True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


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
            key = cache.key(parts[layer])
            hit = cache.load(key)
            if hit is not None:
                out[layer] = LayerFeatures(layer, hit[0], hit[1], True, 0.0, cache.path(key) / cache.FEATURES)
    missing = [layer for layer in layers if layer not in out]
    if missing:
        start = time.perf_counter()
        if cache is None:
            sinks: dict[str, Any] = {layer: _MemoryRows(len(data)) for layer in missing}
            labels = _compute(model, data, missing, mean, std, pool, batch_size, progress, sinks)
            seconds = time.perf_counter() - start
            for layer in missing:
                out[layer] = LayerFeatures(layer, sinks[layer].features[: len(labels)], labels, False, seconds)
        else:
            keys = {layer: cache.key(parts[layer]) for layer in missing}
            with contextlib.ExitStack() as stack:  # every entry renamed into place only when all are written
                sinks = {
                    layer: stack.enter_context(cache.writer(keys[layer], parts[layer], len(data))) for layer in missing
                }
                labels = _compute(model, data, missing, mean, std, pool, batch_size, progress, sinks)
                for sink in sinks.values():
                    sink.finish(labels, len(labels))
            seconds = time.perf_counter() - start
            for layer in missing:
                hit = cache.load(keys[layer])
                if hit is None:
                    raise RuntimeError(f"the features of {layer} just written to {cache.path(keys[layer])} do not load")
                out[layer] = LayerFeatures(
                    layer, hit[0], hit[1], False, seconds, cache.path(keys[layer]) / cache.FEATURES
                )
    return {layer: out[layer] for layer in layers}


class _MemoryRows:
    """Features kept in memory (no cache), filled in place batch by batch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.features = torch.empty(0)

    def write(self, start: int, rows: torch.Tensor) -> None:
        if not self.features.numel():
            self.features = torch.empty((self.total, *rows.shape[1:]), dtype=torch.float32)
        self.features[start : start + len(rows)] = rows


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
    progress: bool | None,
    sinks: Mapping[str, Any],
) -> torch.Tensor:
    """One pass over ``data``: each batch's pooled features of every layer go to its sink
    (``sink.write(first_row, rows)``) as they come, never gathered; returns the labels."""
    modules = [layer for layer in layers if layer != HEAD]
    total = len(data)
    labels = torch.empty(total, dtype=torch.long)
    device = model_device(model)
    done = 0
    show = progress if progress is not None else sys.stderr.isatty()
    bar = tqdm(total=total, unit="img", desc=f"features of {', '.join(layers)}", disable=not show, leave=False)
    with prepared(model), torch.no_grad(), bar:
        for x, y in _batches(model, data, mean, std, batch_size):
            acts = _layer_outputs(model, x.to(device), modules, HEAD in layers)
            n = len(y)
            if done + n > total:
                raise RuntimeError(f"the loader gave more than the {total:,} images of the set")
            for layer in layers:
                sinks[layer].write(done, pool_features(acts[layer], pool).float().cpu())
            labels[done : done + n] = y.cpu()
            done += n
            bar.update(n)  # images/s and the time left, on a terminal
    return labels[:done]


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
