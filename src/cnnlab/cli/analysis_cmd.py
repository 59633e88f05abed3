"""``cnnlab summary`` and ``cnnlab rf``: a model's layers, counts and receptive fields.

Both parse, call ``cnnlab.analyze`` (meta device) and print what ``analysis.report``
renders; ``rf --check`` also builds the model for real to measure one region.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Callable

from ..analysis import Analysis, analyze, empirical_region
from ..analysis.records import OPTIMIZER_STATES
from ..analysis.report import (
    render_csv,
    render_json,
    render_markdown,
    render_rf,
    render_rf_check,
    render_table,
    rf_target,
)
from ..errors import CnnlabError, ConfigError
from ..models import create_model
from .inputs import add_input_argument, model_channels, with_channels

PrintFn = Callable[[str], None]

SUMMARY_DESCRIPTION = """\
Show a model layer by layer, Keras/torchinfo style, then its totals.

Columns of the table:
  Layer (type)   the module name (as create_model builds it; functional ops such as
                 torch.cat or x + y appear as <parent>.<op>), indented by nesting depth
  Output shape   per sample: the batch dimension is left out (the header names the batch)
  Params         parameters the row holds (weights + biases), exact; 'shared' marks a
                 module's later calls, whose parameters an earlier row counted
  MACs           multiply-accumulates of conv and linear layers, for the whole batch;
                 FLOPs = 2 x MACs (the totals give both, and the other ops apart)
  RF size / jump receptive field in input pixels: the extent one output position sees /
                 the input distance between neighbouring positions; 'global' after
                 flattening or global pooling

The totals name their units: params (total, trainable, used by this forward pass),
MACs and FLOPs, other ops, activation memory by the lecture rule, activations autograd
saves for backward, and a training-memory estimate for --optimizer.

Everything runs on the meta device: shapes only, no memory allocated, no arithmetic,
so even the largest models take seconds."""

RF_DESCRIPTION = """\
Show every row's receptive field: size (the input extent one output position sees),
jump (the input distance between neighbouring positions) and start (the input
coordinate of the centre of position 0), per spatial axis, in input pixels; 'global'
after flattening or global pooling.

With --layer or --position, also the input region one output position sees, clipped to
the input and unclipped (padding included). --check measures that region for real from
gradients and compares.

The table runs on the meta device (no memory allocated); only --check builds the model
and runs real arithmetic on the CPU, so give it a small --input that holds the field."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="a model's layers: output shapes, params, MACs, receptive fields, memory",
        description=SUMMARY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_model_arguments(p)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        metavar="N",
        help="batch size analysed (default: 1); MACs, activations and memory scale with it",
    )
    p.add_argument(
        "--depth",
        type=_depth,
        default=None,
        metavar="N",
        help="fold rows nested deeper than N into their containers, with summed params and MACs "
        "(1: the model's children; 0: one line); table and md only (default: every row)",
    )
    p.add_argument(
        "--format",
        choices=("table", "md", "csv", "json"),
        default="table",
        help="table (terminal), md (Markdown), csv (one line per row, every field), "
        "json (schema cnnlab.analysis/1); default: table",
    )
    p.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZER_STATES),
        default="sgd",
        help="optimizer of the training-memory estimate (its state per parameter); default: sgd",
    )
    p.add_argument(
        "--aux",
        action="store_true",
        help="analyse forward_aux in training mode, auxiliary heads included (GoogLeNet, Inception v3)",
    )
    p.set_defaults(run=run_summary)

    p = sub.add_parser(
        "rf",
        help="receptive fields per layer, and the input region one position sees",
        description=RF_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_model_arguments(p)
    p.add_argument(
        "--layer",
        metavar="NAME",
        help="the row whose region to show, e.g. pool5 or conv2_x.1; a container (Mixed_7c, layer4) stands for "
        "the row that makes its output (default: the last row with a spatial map)",
    )
    p.add_argument(
        "--position",
        type=_position,
        metavar="Y,X",
        help="the output position of --layer, row then column, e.g. 3,3 (default: the map's centre)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="also measure the region from gradients (real arithmetic on the CPU, at --input) and "
        "compare; --layer must then name a module, not a functional op; exits 1 if they differ",
    )
    p.set_defaults(run=run_rf)


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a registered model name (see `cnnlab list`)")
    add_input_argument(p, "the model's declared size")
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model option (see `cnnlab info NAME`), repeatable; VALUE is a Python literal "
        "(10, 0.5, True, None, 'A'), anything else is taken as a string: --option num_classes=10",
    )


# -- argument types: argparse turns ArgumentTypeError into a usage error (exit status 2) ---------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a whole number >= 0 (1: the model's children, 0: the whole model in one line), got {text!r}"
        )
    return value


def _position(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers separated by commas, row then column of the layer's map, like 3,3; got {text!r}"
        ) from None


def _option(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE, e.g. num_classes=10; got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())  # literals only: never eval
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


# -- commands ---------------------------------------------------------------------------------
def _analyze(
    args: argparse.Namespace, *, batch_size: int = 1, aux: bool = False, measure_saved: bool = True
) -> Analysis:
    options = dict(args.option)
    try:
        size = with_channels(args.input, model_channels(args.name, options)) if args.input else None
        return analyze(args.name, size, batch_size, aux=aux, measure_saved=measure_saved, **options)
    except CnnlabError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from err


def run_summary(args: argparse.Namespace, print_fn: PrintFn) -> int:
    analysis = _analyze(args, batch_size=args.batch_size, aux=args.aux)
    if args.format == "table":
        text = render_table(analysis, args.depth, optimizer=args.optimizer)
    elif args.format == "md":
        text = render_markdown(analysis, args.depth, optimizer=args.optimizer)
    elif args.format == "csv":
        text = render_csv(analysis).rstrip("\n")
    else:
        text = render_json(analysis)
    print_fn(text)
    return 0


def run_rf(args: argparse.Namespace, print_fn: PrintFn) -> int:
    analysis = _analyze(args, measure_saved=False)
    # Check the target before printing anything, so a bad --layer fails without a table.
    row, position = rf_target(analysis, args.layer, args.position, modules_only=args.check)
    print_fn(render_rf(analysis, args.layer, args.position))
    if not args.check:
        return 0
    model = create_model(args.name, **dict(args.option))
    measured = empirical_region(model, analysis.input_size, row.name, position)
    text, agree = render_rf_check(analysis, row.label, position, measured)
    print_fn("")
    print_fn(text)
    return 0 if agree else 1
