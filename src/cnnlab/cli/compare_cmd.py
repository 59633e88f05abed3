"""``cnnlab compare``: several models side by side, optionally charted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..analysis import analyze
from ..analysis.compare import FORMATS, compare, render_comparison
from .inputs import add_input_argument, model_channels, with_channels

PrintFn = Callable[[str], None]

DESCRIPTION = """\
Compare registered models on size, cost, memory and published accuracy: parameters,
multiply-accumulates (MACs), activations and training-saved activations, each with its
ratio to a baseline model, and the published top-1 / top-5 error with its source
(paper, table, row) and test protocol. Every count comes from one recorded forward
pass on the meta device: nothing is allocated, nothing is downloaded.

Units: params are parameter elements; MACs are multiply-accumulates of the convolutions
and matrix products for one image at the analysed input size (FLOPs = 2 x MACs);
activations are the input plus every conv, linear and pooling output, in elements.
Published errors are percentages as the papers (or torchvision's documentation for
torchvision's variants) print them, under differing protocols (single crop, 10-crop,
test scale); models with no verified number show '-'.
"""

EPILOG = """\
examples:
  cnnlab compare alexnet_owt vgg16 resnet50
  cnnlab compare vgg16 resnet50 googlenet_tv --baseline resnet50 --stages
  cnnlab compare resnet20 resnet56 resnet110 wrn16_8 --format md
  cnnlab compare alexnet_owt vgg16 resnet50 densenet121 --plot compare.png
  cnnlab compare resnet18 resnet20 --input 3x32x32   (one input size for all)
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare models: params, MACs, activations, ratios, published error",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="registered model names (see `cnnlab list`)")
    p.add_argument(
        "--baseline",
        metavar="NAME",
        default=None,
        help="the model the ratio columns divide by; must be one of NAME (default: the first)",
    )
    add_input_argument(p, "each model's own size; the output says when the sizes differ")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (aligned text, default), md (Markdown), csv (one row per model; per stage with "
        "--stages) or json (everything, stages included)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="add each model's per-stage breakdown (stem, each feature_info stage, head): params and "
        "MACs per stage and their share of the total",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="also draw MACs (x, log scale) against published top-1 error (y), marker area proportional "
        "to parameters, and write it to FILE (.png, .svg or .pdf)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, print_fn: PrintFn) -> int:
    if args.plot:  # a chart that cannot be written fails before the table, not after
        from ..viz.compare import check_chart_path

        check_chart_path(args.plot)
    models: list = list(args.names)
    size = None
    if args.input is not None and args.input[0] is not None:
        size = args.input
    elif args.input is not None:  # HxW: each model at its own channel count
        channels = {name: model_channels(name) for name in models}
        if len(set(channels.values())) == 1:
            size = with_channels(args.input, channels[models[0]])
        else:  # e.g. lenet5 (1 channel) beside resnet20 (3): analyse each at its own
            models = [analyze(name, with_channels(args.input, channels[name])) for name in models]
    comparison = compare(models, baseline=args.baseline, input_size=size)
    print_fn(render_comparison(comparison, args.format, stages=args.stages))
    if args.plot:
        from ..viz import plot_comparison  # matplotlib loads only when a chart is asked for

        path = plot_comparison(comparison, args.plot)
        message = f"wrote {path} (MACs vs published top-1 error, marker area proportional to parameters)"
        if args.format in ("table", "md"):
            print_fn(message)
        else:  # keep machine-readable output clean
            print(message, file=sys.stderr)
    return 0
