"""Export a model for deployment: ONNX, TorchScript or safetensors, with its preprocessing.

    >>> from cnnlab.transfer.export import export_model
    >>> export_model(model, "lenet5.onnx", "onnx").max_abs_diff   # checked in onnxruntime

Every file carries what a user needs to feed it correctly: the model's name and build
options, the input size, the per-channel ``mean`` and ``std`` (pixel / 255 units), the class
names and the whole ``pretrained_cfg`` (:func:`export_metadata`), so nobody has to guess the
normalisation. Where the metadata goes:

* ``onnx``: the model's ``metadata_props`` (``InferenceSession.get_modelmeta().custom_metadata_map``);
  exported with PyTorch's default (dynamo) exporter, batch axis dynamic unless ``batch=N``.
* ``torchscript``: a ``torch.jit.trace`` of the model, the metadata in the extra file
  ``cnnlab.json`` (``torch.jit.load(path, _extra_files={"cnnlab.json": ""})``).
* ``safetensors``: the state dict, the metadata in the header; :func:`load_safetensors`
  rebuilds the model with :func:`cnnlab.create_model` and restores ``pretrained_cfg``.

With ``check=True`` (the default) the written file is loaded back and run on a seeded random
batch: onnxruntime (CPUExecutionProvider) for ONNX, ``torch.jit.load`` for TorchScript, a
freshly built model for safetensors. Its largest absolute difference from the PyTorch
model's logits is reported, and a difference above ``tolerance`` (1e-4) fails the export
(for ONNX, unless it is within 3x PyTorch's own float32 error, float32 vs float64 logits:
rounding that any float32 runtime shows on a badly conditioned net, see docs/export.md).
Files are written to a temporary file beside the target and renamed only once written (and
checked), so a failed export never leaves a partial or unchecked file behind.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_output
from ..errors import CnnlabError, ConfigError, require_parent_folder
from ..models import create_model
from ..registry import list_models, model_options
from ..weights import apply_origin_preprocessing, load_state

FORMATS = ("onnx", "torchscript", "safetensors")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors"}
FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript", "safetensors": "safetensors"}
TOLERANCE = 1e-4  # largest absolute logit difference an exported file may show, unless ...
NOISE_FACTOR = 3  # ... PyTorch's own float32 error (vs float64) is so large that this multiple of it is larger
INPUT_NAME, OUTPUT_NAME = "input", "logits"
TORCHSCRIPT_EXTRA = "cnnlab.json"
CHECK_SEED = 0
CHECK_BATCH = 2
# Metadata values stored as JSON (the rest are plain strings).
_JSON_KEYS = ("options", "num_classes", "in_chans", "input_size", "batch", "mean", "std", "classes", "pretrained_cfg")

_TRY = {
    "onnx": "try another --opset, --batch N instead of a dynamic batch, or --format torchscript / safetensors",
    "torchscript": "try --format onnx or --format safetensors",
    "safetensors": "check that the model's state dict holds only tensors",
}


class ExportError(ConfigError):
    """A model that could not be exported to a format, or whose exported file disagrees with
    it. A :class:`~cnnlab.errors.ConfigError`, so ``except ConfigError`` catches it."""


@dataclass
class ExportResult:
    """What an export wrote: the file, its size in bytes, and the check's largest absolute
    logit difference from PyTorch (``None`` when not checked); ``seconds`` of wall time,
    export and check together."""

    path: Path
    format: str
    bytes: int
    max_abs_diff: float | None
    seconds: float
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # what the file carries (export_metadata)
    max_abs_logit: float | None = None  # the scale the difference is measured against
    opset: int | None = None  # ONNX only
    float32_error: float | None = None  # PyTorch float32 vs float64, measured when the difference exceeds 1e-4


def export_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    format: str = "onnx",
    *,
    input_size: tuple[int, int, int] | None = None,
    batch: int | str = "dynamic",
    opset: int | None = None,
    check: bool = True,
    options: Mapping[str, Any] | None = None,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Write ``model`` to ``path`` as ``format`` (``"onnx"``, ``"torchscript"`` or
    ``"safetensors"``) with its preprocessing embedded, in eval mode.

    Args:
        input_size: ``(C, H, W)`` the file is traced at (default
            ``model.pretrained_cfg["input_size"]``); ONNX and TorchScript files take only
            this spatial size.
        batch: ``"dynamic"`` (any batch size) or a fixed positive batch size.
        opset: the ONNX opset (default: the exporter's).
        check: load the file back, run it on a seeded random batch and compare with PyTorch.
        options: the builder options ``create_model`` needs to rebuild the model (stored in
            the metadata; the safetensors check rebuilds with them). By default, the options
            whose values the model keeps as same-named attributes.
        tolerance: the largest absolute logit difference the check accepts (1e-4). Where
            the file differs by more, the model is run once more in float64: a difference
            within 3x PyTorch's own float32 error (float32 vs float64 logits) is float32
            rounding, not an export fault, and passes (noted in the result). Untrained nets
            need this: pre-activation ResNets and Inception-v3 reach logits of 1e6 to 1e9.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    batch = _check_batch(batch)
    if opset is not None and format != "onnx":
        raise ConfigError(f"opset={opset} applies to ONNX only; drop it for --format {format}")
    if format == "onnx":
        _check_opset(opset)
    path = Path(path)
    require_parent_folder(path, f"the {FORMAT_NAMES[format]} file")
    name = model_name(model)
    size = _input_size(model, input_size, name)
    options = rebuild_options(model, options)
    meta = export_metadata(model, size, batch, options)
    started = time.perf_counter()
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            example = _seeded_batch(model, size, batch if isinstance(batch, int) else CHECK_BATCH)
            reference = model(example)  # the input check speaks first: a clear error for a wrong size
            if not isinstance(reference, torch.Tensor):
                raise ExportError(
                    f"{name}.forward returns {type(reference).__name__}, not a tensor of logits; "
                    "export the model's forward(x) -> logits"
                )
        writer = {"onnx": _export_onnx, "torchscript": _export_torchscript, "safetensors": _export_safetensors}[format]
        with atomic_output(path) as tmp:
            notes, diff, opset_used = writer(
                model,
                tmp,
                name=name,
                meta=meta,
                example=example,
                reference=reference,
                batch=batch,
                opset=opset,
                check=check,
                options=options,
            )
            scale = float(reference.detach().abs().max())
            # Another runtime's float32 arithmetic (ONNX) may round differently; the same
            # kernels (TorchScript, safetensors) may not.
            rounding = format == "onnx" and diff is not None and not diff <= tolerance
            noise = _float32_error(model, example, reference) if rounding else None
            allowed = max(tolerance, NOISE_FACTOR * noise) if noise is not None else tolerance
            if diff is not None and not diff <= allowed:  # NaN fails too
                hint = (
                    f"the model rebuilt with create_model({name!r}, {_kwargs(options)}) computes other logits: pass "
                    "the options the model was built with (export_model(..., options={...}))"
                    if format == "safetensors"
                    else _TRY[format]
                )
                raise ExportError(
                    f"{name} exported to {format}, but the file's outputs differ from PyTorch's by up to {diff:.3g} "
                    f"(allowed {tolerance:g}{_noise_text(noise)}) on a seeded random batch; "
                    f"nothing was written to {path}. "
                    f"{_sentence(hint)}; or export with check=False (--no-check) to keep the file unchecked"
                )
    finally:
        for m, mode in modes:
            m.training = mode
    seconds = time.perf_counter() - started
    notes.append(f"largest |logit| of the PyTorch model on the check batch: {scale:.3g}")
    if noise is not None:
        notes.append(
            f"the difference exceeds {tolerance:g} but is within {NOISE_FACTOR}x PyTorch's own float32 error "
            f"({noise:.2g}, float32 vs float64 logits): float32 rounding, not an export fault"
        )
    return ExportResult(path, format, path.stat().st_size, diff, seconds, notes, meta, scale, opset_used, noise)


# -- what travels with the file ---------------------------------------------------------------------
def model_name(model: nn.Module) -> str:
    """The registered name of ``model`` (``model.card.name``), else its class name."""
    card = getattr(model, "card", None)
    return card.name if card is not None else type(model).__name__


def rebuild_options(model: nn.Module, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The builder options that rebuild ``model``: ``options`` when given, else those
    ``create_model`` was given (``model.build_options``) updated with the builder's options
    whose value the model keeps as a same-named attribute and that differ from the default
    (``transform_input=True`` after torchvision's weights were loaded, say)."""
    card = getattr(model, "card", None)
    if card is None or card.name not in list_models():
        return dict(options or {})
    found: dict[str, Any] = dict(getattr(model, "build_options", None) or {}) if options is None else {}
    if options is None:
        for key, default in model_options(card.name).items():
            value = model.__dict__.get(key, getattr(type(model), key, default))
            if isinstance(value, (bool, int, float, str)) and value != default and type(value) is type(default):
                found[key] = value
            elif isinstance(value, bool) and default is None:
                found[key] = value
    return {**found, **dict(options or {})}


def export_metadata(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch: int | str = "dynamic",
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts an exported file carries (plain JSON data): model name and build options,
    class count, input size, batch, per-channel ``mean`` and ``std``, class names, the whole
    ``pretrained_cfg``, the tensor names and a one-line description of the preprocessing."""
    cfg = _json_safe(dict(getattr(model, "pretrained_cfg", None) or {}))
    channels = input_size[0]
    mean = list(cfg.get("mean") or (0.0,) * channels)
    std = list(cfg.get("std") or (1.0,) * channels)
    classes = cfg.get("classes")
    resize = cfg.get("resize_mode")
    how = ("pad" if resize == "pad" else "resize") + f" to {input_size[1]}x{input_size[2]}"
    return {
        "cnnlab_version": _cnnlab_version(),
        "torch_version": str(torch.__version__),
        "model": model_name(model),
        "options": _json_safe(dict(options or {})),
        "num_classes": getattr(model, "num_classes", None),
        "in_chans": getattr(model, "in_chans", channels),
        "input_size": list(input_size),
        "batch": batch,
        "mean": mean,
        "std": std,
        "classes": list(classes) if classes else None,
        "pretrained_cfg": cfg,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "preprocessing": (
            f"float32 N x {channels} x {input_size[1]} x {input_size[2]}: pixels scaled to [0, 1], {how}"
            f"{' (centred, zero border)' if resize == 'pad' else ''}, then (x - mean) / std per channel; "
            "outputs are logits (apply softmax for probabilities)"
        ),
    }


def _encode(meta: Mapping[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) if k in _JSON_KEYS else str(v) for k, v in meta.items()}


def decode_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """The metadata of :func:`export_metadata` from the strings stored in a file."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        out[key] = json.loads(value) if key in _JSON_KEYS else value
    return out


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The cnnlab metadata of an exported file of any format (decoded from its strings)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist; give the path of an exported .onnx, .pt or .safetensors file")
    if path.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    elif path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            props = dict(f.metadata() or {})
        props.pop("format", None)  # safetensors' own "pt" marker
    else:
        extra = {TORCHSCRIPT_EXTRA: ""}
        with _quiet():
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        props = json.loads(extra[TORCHSCRIPT_EXTRA] or "{}")
        return props
    return decode_metadata(props)


def load_safetensors(path: str | os.PathLike[str]) -> nn.Module:
    """The model of a cnnlab safetensors export, rebuilt with :func:`cnnlab.create_model`,
    weights loaded, ``pretrained_cfg`` restored, in eval mode. Reads no code from the file."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if not meta.get("model"):
        raise ConfigError(f"{path} has no cnnlab metadata (model name); it was not written by `cnnlab export`")
    model = _rebuild(meta["model"], meta.get("num_classes"), meta.get("in_chans"), meta.get("options") or {})
    load_state(model, load_file(str(path), device="cpu"), str(path))
    apply_origin_preprocessing(model, meta, str(path))
    return model.eval()


# -- the three formats --------------------------------------------------------------------------
def _export_onnx(
    model: nn.Module,
    tmp: Path,
    *,
    name: str,
    meta: dict[str, Any],
    example: torch.Tensor,
    reference: torch.Tensor,
    batch: int | str,
    opset: int | None,
    check: bool,
    **_: Any,
) -> tuple[list[str], float | None, int | None]:
    kwargs: dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "dynamo": True,
        "external_data": False,
        "verbose": False,
    }
    if opset is not None:
        kwargs["opset_version"] = opset
    translations = _onnx_translations()
    if translations:
        kwargs["custom_translation_table"] = translations
    if batch == "dynamic":
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1)},)
    try:
        with _quiet():
            program = torch.onnx.export(model, (example,), None, **kwargs)
    except CnnlabError:
        raise
    except Exception as err:
        raise _cannot(name, "onnx", err) from err
    proto = program.model
    proto.metadata_props.update(_encode(meta))
    proto.doc_string = f"cnnlab {meta['cnnlab_version']} export of {name}. Preprocessing: {meta['preprocessing']}"
    try:
        program.save(tmp, external_data=False)
    except Exception as err:  # e.g. past protobuf's 2 GB limit
        raise _cannot(name, "onnx", err) from err
    used = next((v for k, v in proto.opset_imports.items() if k == ""), opset)
    notes = [
        f"torch.onnx.export (dynamo exporter), opset {used}, batch {'dynamic' if batch == 'dynamic' else batch}",
        "metadata in metadata_props: " + ", ".join(meta),
    ]
    differs = opset_note(opset, used)
    if differs:
        notes.insert(1, differs)
    if not check:
        return notes, None, used
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = torch.get_num_threads()  # OMP_NUM_THREADS / --threads, as torch
    try:
        session = ort.InferenceSession(str(tmp), session_options, providers=["CPUExecutionProvider"])
        diff = _diff(session.run(None, {INPUT_NAME: _numpy(example)})[0], reference)
        if batch == "dynamic":  # the batch axis really is free: one image gives the same logits
            diff = max(diff, _diff(session.run(None, {INPUT_NAME: _numpy(example[:1])})[0], reference[:1]))
    except Exception as err:
        raise ExportError(
            f"{name} exported to ONNX, but onnxruntime {ort.__version__} could not run the file: "
            f"{_first_line(err)}; {_TRY['onnx']}, or export with check=False (--no-check) to keep it"
        ) from err
    notes.append(
        f"checked in onnxruntime {ort.__version__} (CPUExecutionProvider) on a seeded random batch of "
        f"{example.shape[0]}{' and of 1' if batch == 'dynamic' else ''}"
    )
    return notes, diff, used


def _export_torchscript(
    model: nn.Module,
    tmp: Path,
    *,
    name: str,
    meta: dict[str, Any],
    example: torch.Tensor,
    reference: torch.Tensor,
    batch: int | str,
    check: bool,
    **_: Any,
) -> tuple[list[str], float | None, int | None]:
    # Tracing records the ops the example runs; the models' forward has no data-dependent
    # control flow, and the check below runs another batch size to catch a baked-in batch.
    try:
        with torch.no_grad(), _quiet():
            traced = torch.jit.trace(model, (example,), check_trace=False)
            torch.jit.save(traced, str(tmp), _extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
    except CnnlabError:
        raise
    except Exception as err:
        raise _cannot(name, "torchscript", err) from err
    notes = [
        f"torch.jit.trace at batch {example.shape[0]}, input {'x'.join(map(str, example.shape[1:]))}; "
        f"metadata in the extra file {TORCHSCRIPT_EXTRA}"
    ]
    if not check:
        return notes, None, None
    extra = {TORCHSCRIPT_EXTRA: ""}
    try:
        with _quiet():
            loaded = torch.jit.load(str(tmp), map_location="cpu", _extra_files=extra)
        with torch.no_grad():
            diff = _diff(loaded(example), reference)
            if batch == "dynamic":
                other = _seeded_batch(model, tuple(example.shape[1:]), example.shape[0] + 1, seed=CHECK_SEED + 1)
                diff = max(diff, _diff(loaded(other), model(other)))
    except Exception as err:
        raise ExportError(
            f"{name} traced to TorchScript, but the loaded file fails on a batch of another size: "
            f"{_first_line(err)}; export with --batch {example.shape[0]} (the traced size), or use --format onnx"
        ) from err
    if json.loads(extra[TORCHSCRIPT_EXTRA]) != json.loads(json.dumps(meta)):
        raise ExportError(f"the metadata read back from {tmp} differs from what was written")
    notes.append(
        f"checked with torch.jit.load on seeded random batches of {example.shape[0]}"
        f"{f' and {example.shape[0] + 1}' if batch == 'dynamic' else ''}"
    )
    return notes, diff, None


def _export_safetensors(
    model: nn.Module,
    tmp: Path,
    *,
    name: str,
    meta: dict[str, Any],
    example: torch.Tensor,
    reference: torch.Tensor,
    check: bool,
    options: Mapping[str, Any],
    **_: Any,
) -> tuple[list[str], float | None, int | None]:
    from safetensors.torch import load_file, save_file

    state = _plain_state(model)
    try:
        save_file(state, str(tmp), metadata={"format": "pt", **_encode(meta)})
    except Exception as err:
        raise _cannot(name, "safetensors", err) from err
    notes = [f"{len(state)} tensors (the state dict); metadata in the safetensors header"]
    if not check:
        return notes, None, None
    card = getattr(model, "card", None)
    if card is None or card.name not in list_models():
        notes.append(f"{name} is not a registered model: the check compares the stored tensors only")
        loaded = load_file(str(tmp), device="cpu")
        same = set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
        return notes, 0.0 if same else float("inf"), None
    rebuilt = _rebuild(name, meta["num_classes"], meta["in_chans"], options)
    try:
        load_state(rebuilt, load_file(str(tmp), device="cpu"), str(tmp))
    except CnnlabError as err:
        raise ExportError(
            f"{name} rebuilt with options {dict(options)} does not take the exported weights: "
            f"{_first_line(err)}; pass the options the model was built with (export_model(..., options=...))"
        ) from err
    rebuilt.eval()
    _copy_runtime_attributes(model, rebuilt)
    device = example.device
    with torch.no_grad():
        diff = _diff(rebuilt.to(device)(example), reference)
    notes.append(f"checked by loading into a fresh create_model({name!r}, {_kwargs(options)}) and comparing logits")
    return notes, diff, None


def _onnx_translations() -> dict[Any, Any]:
    """Translations that replace onnxscript's where it computes something else than PyTorch.

    onnxscript's ``aten::avg_pool2d`` ignores ``divisor_override`` (its source has a TODO), so
    LeNet-5 (1998)'s subsampling layers, which sum their 2x2 window (``divisor_override=1``),
    were exported as means: a 0.78 difference after S2, found by the onnxruntime check. The
    window's sum is the mean over the window with padded zeros counted, times its area."""
    try:
        from onnxscript import opset18 as op
        from onnxscript.function_libs.torch_lib.ops.nn import aten_avg_pool2d
    except ImportError:  # another onnxscript layout: its own translation, and the check decides
        return {}

    def avg_pool2d(
        self: Any,
        kernel_size: Any,
        stride: Any = (),
        padding: Any = (0, 0),
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Any:
        if divisor_override is None:
            return aten_avg_pool2d(self, kernel_size, stride, padding, ceil_mode, count_include_pad)
        mean = aten_avg_pool2d(self, kernel_size, stride, padding, ceil_mode, True)
        kh, kw = (list(kernel_size) * 2)[:2] if len(kernel_size) == 1 else kernel_size
        return op.Mul(mean, op.CastLike(op.Constant(value_float=kh * kw / divisor_override), mean))

    return {torch.ops.aten.avg_pool2d.default: avg_pool2d}


# -- helpers ----------------------------------------------------------------------------------
def _float32_error(model: nn.Module, example: torch.Tensor, reference: torch.Tensor) -> float | None:
    """Largest |float32 - float64| logit of ``model`` itself on ``example``: the rounding any
    float32 runtime shows; None where the model cannot run in float64."""
    try:
        twin = copy.deepcopy(model).double().eval()
        with torch.no_grad():
            exact = twin(example.double())
    except Exception:  # an op without a float64 kernel: no allowance beyond the tolerance
        return None
    return float((reference.detach().double() - exact).abs().max())


def _noise_text(noise: float | None) -> str:
    if noise is None:
        return ""
    return (
        f"; {NOISE_FACTOR}x PyTorch's own float32 error, float32 vs float64 logits, would be {NOISE_FACTOR * noise:.3g}"
    )


def opset_range() -> tuple[int, int, int | None]:
    """The ONNX opsets the exporter can be asked for: (lowest, highest, default). The lowest
    is torch.onnx's own minimum, the highest the newest opset the installed ``onnx`` package
    defines; the dynamo exporter builds at opset 18 and converts to the requested one, and
    below 18 that conversion does not succeed for every model (:func:`opset_note`)."""
    import onnx

    try:
        from torch.onnx import _constants
    except ImportError:  # a private module: fall back to the values of torch 2.5-2.x
        low, default = 7, None
    else:
        low, default = getattr(_constants, "ONNX_MIN_OPSET", 7), getattr(_constants, "ONNX_DEFAULT_OPSET", None)
    return low, onnx.defs.onnx_opset_version(), default


def _check_opset(opset: int | None) -> None:
    if opset is None:
        return
    low, high, default = opset_range()
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise ConfigError(
            f"opset {opset!r} is not one the ONNX exporter writes: give {low} to {high} (below 18 the exporter "
            f"converts down from 18, which may not succeed), or leave --opset out for its default"
            + (f" ({default})" if default else "")
        )


def opset_note(asked: int | None, written: int | None) -> str | None:
    """A sentence when the file's opset is not the one asked for (the exporter keeps its own
    when it cannot convert the model), else ``None``."""
    if asked is None or written is None or asked == written:
        return None
    return (
        f"asked for opset {asked}; the exporter wrote opset {written} "
        f"(it could not convert this model to opset {asked})"
    )


def _check_batch(batch: int | str) -> int | str:
    if batch == "dynamic":
        return batch
    if isinstance(batch, str) and batch.isdigit():
        batch = int(batch)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise ConfigError(f"batch must be 'dynamic' or a positive integer, got {batch!r}")
    return batch


def _input_size(model: nn.Module, size: Any, name: str) -> tuple[int, int, int]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if size is None:
        size = cfg.get("input_size")
        if size is None:
            raise ConfigError(
                f"{name} carries no pretrained_cfg['input_size']; pass input_size=(C, H, W), e.g. --input 3x224x224"
            )
    size = tuple(int(s) for s in size)
    if len(size) != 3 or min(size) <= 0:
        raise ConfigError(f"input size must be C x H x W with positive sizes, got {size!r}; e.g. --input 3x224x224")
    channels = getattr(model, "in_chans", size[0])
    if size[0] != channels:
        raise ConfigError(
            f"{name} reads {channels}-channel input, got input size {'x'.join(map(str, size))}; "
            f"use --input {channels}x{size[1]}x{size[2]}"
        )
    return size  # type: ignore[return-value]


def _seeded_batch(model: nn.Module, size: tuple[int, ...], n: int, seed: int = CHECK_SEED) -> torch.Tensor:
    # Standard normal: the scale of normalised images. Generated on the CPU (the same numbers
    # on every machine), then moved to the model's device.
    x = torch.randn((n, *size), generator=torch.Generator().manual_seed(seed))
    param = next(iter(model.parameters()), None)
    return x.to(param.device) if param is not None else x


def _diff(output: Any, reference: torch.Tensor) -> float:
    out = torch.as_tensor(output).detach().to("cpu", torch.float64)
    ref = reference.detach().to("cpu", torch.float64)
    if out.shape != ref.shape:
        raise ExportError(f"the exported file returns shape {tuple(out.shape)}, PyTorch {tuple(ref.shape)}")
    return float((out - ref).abs().max()) if out.numel() else 0.0


def _numpy(x: torch.Tensor) -> Any:
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory: such tensors are stored as copies.
    seen: set[tuple[int, int]] = set()
    out = {}
    for key, value in model.state_dict().items():
        t = value.detach().to("cpu").contiguous()
        ident = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (id(t), 0)
        if t.numel() and (ident in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size()):
            t = t.clone()
        seen.add(ident)
        out[key] = t
    return out


def _rebuild(name: str, num_classes: int | None, in_chans: int | None, options: Mapping[str, Any]) -> nn.Module:
    try:
        return create_model(name, num_classes=num_classes, in_chans=in_chans, **dict(options))
    except CnnlabError as err:
        raise ExportError(f"cannot rebuild {name} with options {dict(options)}: {_first_line(err)}") from err


def _copy_runtime_attributes(source: nn.Module, target: nn.Module) -> None:
    # Behaviour that weight loading switched on (transform_input after torchvision's weights)
    # and that the builder options did not already set.
    for key in ("transform_input",):
        if hasattr(source, key) and hasattr(target, key) and getattr(target, key) is None:
            setattr(target, key, getattr(source, key))


# The dynamo exporter's three steps, and what its failure at each means for a user.
_ONNX_STEPS = {
    "1/3": (
        "torch.export could not capture the forward pass (Python control flow on tensor values, "
        "or code it cannot trace)",
        "try --format torchscript (a trace records the path the example takes) or --format safetensors",
    ),
    "2/3": ("decomposing the captured graph into core ATen ops failed", "try another --opset or --format torchscript"),
    "3/3": (
        "an op has no ONNX translation in this opset",
        "try another --opset, or --format torchscript / safetensors",
    ),
}


def _cannot(name: str, format: str, err: BaseException) -> ExportError:
    """Model, format, the root cause's first line, and what to try."""
    root = err
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    hint = _TRY[format]
    stage = ""
    if format == "onnx":
        match = re.search(r"step (\d/\d)", _ANSI.sub("", str(err)))
        if match and match.group(1) in _ONNX_STEPS:
            what, hint = _ONNX_STEPS[match.group(1)]
            stage = f" at step {match.group(1)} of the dynamo exporter: {what}"
        if "batch" in str(root) and "onstraint" in str(root):  # the model fixes the batch size itself
            hint = "the model's forward fixes the batch size: export with --batch N (batch=N)"
    return ExportError(
        f"cannot export {name} to {format}{stage}; {type(root).__name__}: {_first_line(root)}. {_sentence(hint)}"
    )


def _kwargs(options: Mapping[str, Any]) -> str:
    return ", ".join(["num_classes=...", *(f"{k}={v!r}" for k, v in options.items())])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in _ANSI.sub("", str(err)).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # paths, dtypes


def _cnnlab_version() -> str:
    try:
        return importlib.metadata.version("cnnlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The dynamo exporter prints its progress ("[torch.onnx] Obtain model graph ...") and logs
    # graphs when a step fails; tracing warns about shape arithmetic and TorchScript about its
    # deprecation. The result's notes and the raised error (its __cause__ keeps the original)
    # say what matters.
    import io
    import warnings

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield
