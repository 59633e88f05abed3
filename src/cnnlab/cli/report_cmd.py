"""``cnnlab report``: one self-contained HTML page for a run, a model, or a folder of runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..report import classify, write_report
from .inputs import add_input_argument, model_channels, with_channels

PrintFn = Callable[[str], None]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one HTML page for a run, a model or a folder of runs: opens from disk, no network",
        description="Write one self-contained HTML page (every figure, style and script inside it, no address "
        "outside it: it opens from disk without a network and prints to PDF from the browser). TARGET is "
        "a run folder (it holds recipe.yaml): the run at a glance (model, paper, dataset and split sizes, the "
        "recipe with its sources, machine, torch, time, and which split chose the checkpoint and which gave "
        "the numbers), training curves and learning rate, test rank-1 and rank-5, the per-class table, the "
        "confusion matrix, the recipe's reported number beside the measured one, the most confident mistakes, "
        "Grad-CAM on a few test images and the model's summary; written to RUN/report.html. A folder of runs "
        "(sub-folders holding runs): the runs side by side, each linked to its own page (also written), with "
        "one chart of their validation curves; written to DIR/report.html. A registered model name: the "
        "architecture page (card, the paper's figures beside the exact counts, stages, per-layer table and a "
        "drawing of the network, branches side by side); written to MODEL.html.",
        epilog="Examples: cnnlab report runs/demo-lenet5 | cnnlab report runs -o class.html | "
        "cnnlab report googlenet --input 3x224x224 -o googlenet.html",
    )
    p.add_argument("target", metavar="TARGET", help="a run folder, a folder of runs, or a registered model name")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        default=None,
        help="where to write the page (default: RUN/report.html, DIR/report.html, or MODEL.html here)",
    )
    add_input_argument(p, "the card's input size; a model's page only")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        help="where a run's test images are scored for its mistakes and Grad-CAM (default: auto, as cnnlab eval)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=10_000,
        metavar="N",
        help="score at most the first N test images for the mistakes (default: 10000; the page says how many)",
    )
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace, print_fn: PrintFn) -> int:
    size = None
    if args.input is not None:
        target = classify(args.target)
        size = with_channels(args.input, model_channels(target.value)) if target.kind == "model" else args.input
    paths = write_report(
        args.target, args.output, input_size=size, device=args.device, limit=args.limit, print_fn=print_fn
    )
    print_fn(f"wrote {paths[0]} ({paths[0].stat().st_size / 2**20:.2f} MiB)")
    for path in paths[1:]:
        print_fn(f"  and {path} ({path.stat().st_size / 2**20:.2f} MiB)")
    return 0
