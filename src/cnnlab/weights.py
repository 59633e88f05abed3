"""Loading weights onto cnnlab models: torchvision's ImageNet weights and local files.

Loading never executes code from a file: ``.safetensors`` files are read with safetensors,
everything else with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import WeightsError, code_reference
from .registry import list_models, model_card, model_options


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
    return read_weights(path)[0]


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of a weights file and what the file says about the model they came from:
    ``{"model": name, "options": {...}, "pretrained_cfg": {...}}`` for a cnnlab safetensors
    export (read from its header) or a cnnlab training checkpoint (its ``model_config``);
    ``{}`` for a plain state dict. Executes no code from the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist; pass the path of a .pth, .pt or "
            "'.safetensors' file, or weights='torchvision' for torchvision's ImageNet weights"
        )
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            header = dict(f.metadata() or {})
        return load_file(str(path), device="cpu"), _origin_from_header(header)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused or file damaged
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        code = code_reference(err)
        if code is not None:  # torch's own advice (weights_only=False) is left out on purpose
            raise WeightsError(
                f"refused: {str(path)!r} would execute code when loaded ({code}); nothing was executed. "
                "cnnlab loads only plain tensors (weights_only=True): use weights you trust, saved with "
                "torch.save(model.state_dict(), path) or as .safetensors"
            ) from None
        raise WeightsError(
            f"could not read weights from {str(path)!r}: {lines[0] if lines else type(err).__name__}. "
            "cnnlab loads only plain tensors (weights_only=True); re-save the file with "
            "torch.save(model.state_dict(), path) or as .safetensors"
        ) from None
    origin: dict[str, Any] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("model_config"), Mapping):  # a cnnlab checkpoint
        config = obj["model_config"]
        origin = {k: config[k] for k in ("model", "options") if k in config}
        if config.get("name"):
            origin["model"] = config["name"]
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}, origin


def _origin_from_header(header: Mapping[str, str]) -> dict[str, Any]:
    # cnnlab export writes JSON values under these keys (cnnlab.transfer.export.export_metadata).
    origin: dict[str, Any] = {}
    if header.get("model"):
        origin["model"] = header["model"]
    for key in ("options", "pretrained_cfg"):
        if key in header:
            try:
                origin[key] = json.loads(header[key])
            except ValueError:
                raise WeightsError(
                    f"the safetensors header's {key!r} is not JSON ({header[key]!r:.80}); "
                    "re-export the file with `cnnlab export`"
                ) from None
    return origin


# Options that change how a model runs, not what its weights mean: regularisation (every
# ``*drop*`` option: dropout, drop-path), and these.
_RUN_OPTIONS = frozenset(
    {
        "bn_momentum",  # how fast BatchNorm's running statistics move in training
        "memory_efficient",  # DenseNet's checkpointed concatenations: the same function
        "padding",  # LeNet-5's zero padding of 28x28 input to the 32x32 it was designed for
        "column",  # which FractalNet column evaluates
    }
)


def _comparable(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A model's build options as plain JSON data with every default filled in, leaving out
    those that change how the model runs but not what its weights mean (``_RUN_OPTIONS``)."""
    full = {**(model_options(name) if name in list_models() else {}), **options}
    return {
        k: v for k, v in json.loads(json.dumps(full, default=repr)).items() if "drop" not in k and k not in _RUN_OPTIONS
    }


def check_origin(model: nn.Module, origin: Mapping[str, Any], source: str) -> None:
    """Refuse weights that fit ``model``'s tensors but come from another build (``resnet50_tv``'s
    weights in ``resnet50``, ``plain20``'s in ``resnet20``): they would load and compute
    something else. Files that name no model (plain state dicts) are not checked."""
    card = getattr(model, "card", None)
    theirs = origin.get("model")
    if card is None or not theirs:
        return
    mine = dict(getattr(model, "build_options", None) or {})
    differs = theirs != card.name or (
        "options" in origin and _comparable(theirs, origin["options"] or {}) != _comparable(card.name, mine)
    )
    if differs:

        def call(name: str, options: Mapping[str, Any]) -> str:
            return f"create_model({', '.join([repr(name), *(f'{k}={v!r}' for k, v in options.items())])})"

        built = call(theirs, origin.get("options") or {})
        raise WeightsError(
            f"weights from {source} were saved from {built}, but this model is {call(card.name, mine)}: the "
            f"tensors fit, yet the two compute different functions. Build the model as the file's was "
            f"({built[:-1]}, weights=...)); to load the tensors anyway, "
            "model.load_state_dict(cnnlab.weights.read_state_dict(path))"
        )


def apply_origin_preprocessing(model: nn.Module, origin: Mapping[str, Any], source: str) -> None:
    """Set ``model.pretrained_cfg`` from the preprocessing a file carries (input size, mean,
    std, class names, dataset), so that what the weights were trained with travels with them."""
    cfg = dict(origin.get("pretrained_cfg") or {})
    for key in ("input_size", "mean", "std", "resize_size"):
        if isinstance(cfg.get(key), list):
            cfg[key] = tuple(cfg[key])
    model.pretrained_cfg = {**(getattr(model, "pretrained_cfg", None) or {}), **cfg, "source": source}


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
    origin: dict[str, Any] = {}  # what a file says about the model its weights came from
    if kind == "torchvision":
        if card is None or card.torchvision is None:
            have = [n for n in list_models() if model_card(n).torchvision is not None]
            raise WeightsError(f"{name} has no torchvision weights; models that do: {', '.join(have)}")
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
        state, origin = read_weights(path)
        source = str(path)
        check_origin(model, origin, source)
    if not _is_own_format(model, state) and card is not None and card.torchvision is not None:
        _check_requirements(model, name, card.torchvision.requires)  # a torchvision-format file
        if card.torchvision.remap is not None:
            state = card.torchvision.remap(state, model)
    load_state(model, state, source)
    apply_origin_preprocessing(model, origin, source)
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
