"""``cnnlab export``: parse, call ``cnnlab.transfer.export``, render."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .inputs import add_input_argument, with_channels

PrintFn = Callable[[str], None]

DESCRIPTION = """\
Export a cnnlab run (its directory, or a checkpoint file) or a registered model for
deployment, with its preprocessing embedded in the file: model name and options, input
size, per-channel mean and std (pixel / 255 units), class names.

  onnx         torch.onnx.export (dynamo exporter), batch axis dynamic by default; the
               metadata in metadata_props. Checked in onnxruntime (CPU) against PyTorch.
  torchscript  torch.jit.trace; the metadata in the extra file cnnlab.json. Checked by
               loading it back with torch.jit.load.
  safetensors  the state dict; the metadata in the header. Checked by loading it into a
               freshly built model (cnnlab.create_model).

The check runs the written file on a seeded random batch and fails the export when any
logit differs from PyTorch's by more than 1e-4 (for ONNX: unless PyTorch's own float32
logits are further than that from float64 ones, as in untrained Inception-v3; then 3x that
float32 error is allowed). The file is written beside its target under a temporary name
and renamed only when written and checked: a failed export leaves no partial file or
unchecked file. docs/export.md shows how to run the ONNX file with its preprocessing.

examples:
  cnnlab export lenet5 --format onnx --out lenet5.onnx
  cnnlab export runs/lenet5-digits-20250101-120000 --format onnx
  cnnlab export resnet18 --weights torchvision --format torchscript --batch 1
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a run or model to ONNX, TorchScript or safetensors, checked against PyTorch",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        metavar="RUN|CHECKPOINT|MODEL",
        help="a cnnlab run directory or checkpoint file (its model, weights and preprocessing), "
        "or a registered model name (`cnnlab list`)",
    )
    p.add_argument(
        "--format", choices=("onnx", "torchscript", "safetensors"), default="onnx", help="file format (default onnx)"
    )
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        help="where to write (default: <model>.onnx, .torchscript.pt or .safetensors, in the run directory "
        "for a run, else in the current directory)",
    )
    p.add_argument(
        "--weights",
        metavar="FILE|torchvision",
        help="for a model name: torchvision's ImageNet weights or a weights file (default: random initialisation)",
    )
    add_input_argument(p, "the model's pretrained_cfg input size")
    p.add_argument(
        "--batch",
        default="dynamic",
        metavar="dynamic|N",
        help="batch size the file accepts: dynamic (any, the default) or a fixed N",
    )
    p.add_argument(
        "--opset",
        type=int,
        metavar="N",
        help="ONNX opset version (default: the exporter's); the exporter builds at 18 "
        "and converts, and says so when it could not convert to N; values it cannot write are refused",
    )
    p.add_argument(
        "--check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the written file on a seeded random batch and compare with PyTorch "
        "(max abs difference <= 1e-4); --no-check skips it (default: check)",
    )
    p.set_defaults(run=run_export)


def default_output(source: str, name: str, format: str) -> Path:
    from ..transfer.export import SUFFIXES

    path = Path(source)
    folder = path if path.is_dir() else path.parent if path.is_file() else Path(".")
    return folder / f"{name}{SUFFIXES[format]}"


def run_export(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..transfer.export import NOISE_FACTOR, TOLERANCE, export_model, opset_note
    from ..transfer.pretrained import load_pretrained

    start = load_pretrained(args.source, weights=args.weights)
    model = start.model
    size = with_channels(args.input, getattr(model, "in_chans", 3))
    out = Path(args.out) if args.out else default_output(args.source, start.name, args.format)
    result = export_model(
        model,
        out,
        args.format,
        input_size=size,
        batch=args.batch,
        opset=args.opset,
        check=args.check,
        options=start.options,
    )
    meta = result.metadata
    print_fn(
        f"wrote {result.path} ({_size(result.bytes)}): {start.name} as {result.format}, "
        f"input {'x'.join(map(str, meta['input_size']))}, batch {meta['batch']}"
    )
    differs = opset_note(args.opset, result.opset)
    if differs:
        print_fn(f"note: {differs}")
    print_fn(f"weights: {start.source}")
    classes = meta.get("classes")
    print_fn(
        f"preprocessing in the file: mean {_floats(meta['mean'])}, std {_floats(meta['std'])}, "
        f"{f'{len(classes)} class names' if classes else 'no class names'}"
    )
    if result.max_abs_diff is None:
        print_fn("check: skipped (--no-check)")
    elif result.float32_error is not None:
        print_fn(
            f"check: max abs difference {result.max_abs_diff:.2g} from PyTorch, within {NOISE_FACTOR}x PyTorch's own "
            f"float32 error {result.float32_error:.2g}: passed"
        )
    else:
        print_fn(f"check: max abs difference {result.max_abs_diff:.2g} from PyTorch (<= {TOLERANCE:g}): passed")
    for note in result.notes:
        if note != differs:
            print_fn(f"  {note}")
    print_fn(f"{result.seconds:.1f} s")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _floats(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
