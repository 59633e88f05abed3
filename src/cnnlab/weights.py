"""Loading weights onto cnnlab models: torchvision's ImageNet weights and local files.

Loading never executes code from a file: ``.safetensors`` files are read with safetensors,
everything else with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import WeightsError


def torchvision_cache_path(url: str) -> Path:
    """Where torch.hub keeps a downloaded checkpoint (``$TORCH_HOME/hub/checkpoints/``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _torchvision_weights_enum(card: Any) -> Any:
    import torchvision.models as tvm

    return tvm.get_weight(card.torchvision.weights)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors from a weights file without executing code from it.

    Accepts safetensors files, plain state dicts saved with ``torch.save``, and checkpoints
    that wrap one under ``"state_dict"``, ``"model"`` or ``"model_state"``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist; pass the path of a .pth, .pt or "
            "'.safetensors' file, or weights='torchvision' for torchvision's ImageNet weights"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused or file damaged
        raise WeightsError(
            f"could not read weights from {str(path)!r}: {str(err).splitlines()[0]}. "
            "cnnlab loads only plain tensors (weights_only=True); re-save the file with "
            "torch.save(model.state_dict(), path) or as .safetensors"
        ) from None
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def rename_keys(state: Mapping[str, Any], rules: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Apply regular-expression renames ``(pattern, replacement)`` to every key, in order."""
    compiled = [(re.compile(p), r) for p, r in rules]
    out = {}
    for key, value in state.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with a message that lists what did not match."""
    own = model.state_dict()
    # Checkpoints saved before PyTorch 0.4.1 (some of torchvision's) lack BatchNorm's step
    # counters; they only matter for momentum=None, so a zero fills the gap.
    state = dict(state)
    for k, v in own.items():
        if k.endswith(".num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(v)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        name = getattr(getattr(model, "card", None), "name", type(model).__name__)

        def few(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")

        parts = [
            f"missing: {few(missing)}" if missing else "",
            f"unexpected: {few(unexpected)}" if unexpected else "",
            f"shape mismatch (file vs model): {few(wrong)}" if wrong else "",
        ]
        raise WeightsError(
            f"weights from {source} do not fit {name} "
            f"(num_classes={getattr(model, 'num_classes', '?')}): "
            + "; ".join(p for p in parts if p)
            + ". Build the model with the options the weights were trained with, "
            "or load with num_classes matching the file's classifier"
        )
    model.load_state_dict(state, strict=True)


def _is_own_format(model: nn.Module, state: Mapping[str, Any]) -> bool:
    return set(state) == set(model.state_dict())


def load_weights(model: nn.Module, weights: str | os.PathLike[str]) -> nn.Module:
    """Load ``weights`` (``"torchvision"`` or a file path) into a model built by create_model."""
    card = getattr(model, "card", None)
    name = card.name if card is not None else type(model).__name__
    kind = "torchvision" if isinstance(weights, str) and weights == "torchvision" else "file"
    if kind == "torchvision":
        if card is None or card.torchvision is None:
            from .registry import list_models, model_card

            have = [n for n in list_models() if model_card(n).torchvision is not None]
            raise WeightsError(
                f"{name} has no torchvision weights; models that do: {', '.join(have)}"
            )
        _check_requirements(model, name, card.torchvision.requires)
        entry = _torchvision_weights_enum(card)
        path = torchvision_cache_path(entry.url)
        if not path.is_file():
            _download(entry.url, path)
        state = read_state_dict(path)
        source = f"torchvision {card.torchvision.weights}"
        _apply_preprocessing_from_enum(model, entry)
    else:
        path = Path(weights)
        state = read_state_dict(path)
        source = str(path)
    if not _is_own_format(model, state) and card is not None and card.torchvision is not None:
        _check_requirements(model, name, card.torchvision.requires)  # a torchvision-format file
        if card.torchvision.remap is not None:
            state = card.torchvision.remap(state, model)
    load_state(model, state, source)
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), "source": source}
    # Models whose behaviour depends on where the weights came from (torchvision's
    # GoogLeNet and Inception-v3 re-normalise their input for Google's weights) adapt here.
    hook = getattr(model, "on_weights_loaded", None)
    if callable(hook):
        hook(kind)
    return model


def _check_requirements(model: nn.Module, name: str, requires: Mapping[str, Any]) -> None:
    wrong = {k: v for k, v in requires.items() if getattr(model, k, v) != v}
    if wrong:
        need = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
        have = ", ".join(f"{k}={getattr(model, k)!r}" for k in wrong)
        raise WeightsError(
            f"torchvision's weights for {name} were trained with {need}; this model has {have}, where "
            f"they would load but compute different features. Build it with create_model({name!r}, {need}, "
            "weights=...)"
        )


def _apply_preprocessing_from_enum(model: nn.Module, entry: Any) -> None:
    # The weights' own preprocessing (mean, std, crop) travels with the model.
    t = entry.transforms()
    cfg = dict(getattr(model, "pretrained_cfg", {}))
    cfg.update(
        mean=tuple(t.mean),
        std=tuple(t.std),
        input_size=(3, *t.crop_size) if len(t.crop_size) == 2 else (3, t.crop_size[0], t.crop_size[0]),
        resize_size=tuple(t.resize_size),
    )
    model.pretrained_cfg = cfg


def _download(url: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # check_hash: torchvision file names carry the first digits of their SHA-256.
        torch.hub.download_url_to_file(url, str(path), hash_prefix=_hash_prefix(url), progress=True)
    except Exception as err:
        raise WeightsError(
            f"could not download {url} ({type(err).__name__}: {err}). Offline? Fetch the file "
            f"on a connected machine and place it at {path} (the torch hub cache; set "
            f"TORCH_HOME to move it), or pass weights='/path/to/{path.name}'"
        ) from None


def _hash_prefix(url: str) -> str | None:
    m = re.search(r"-([a-f0-9]{6,})\.", os.path.basename(url))
    return m.group(1) if m else None
