"""``cnnlab runs``: the training runs in a folder, side by side."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from .render import format_table

PrintFn = Callable[[str], None]

SORT_KEYS = ("modified", "test_acc1", "best_val_acc1", "run")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="the training runs in a folder: model, dataset, epochs, accuracy, status",
        description="The runs cnnlab train (and cnnlab transfer finetune) wrote under a folder, one line "
        "each: model, dataset, epochs done of planned, best validation rank-1 and its epoch, test rank-1 "
        "and rank-5 of the final weights, seconds, and whether the run finished (an unfinished one can "
        "be continued with cnnlab train --resume RUN).",
    )
    p.add_argument("root", nargs="?", default="runs", help="the folder of runs, or one run's folder (default: runs)")
    p.add_argument("--sort", choices=SORT_KEYS, default="modified", help="order: newest first (default), or best first")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=run_runs)


def _pct(v: float | None) -> str:
    return f"{v:.2%}" if isinstance(v, (int, float)) else "-"


def run_runs(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..engine.run import list_runs

    runs = list_runs(args.root)
    if args.sort == "run":
        runs.sort(key=lambda r: r["run"])
    elif args.sort != "modified":  # best first, runs without the figure last
        runs.sort(key=lambda r: (r[args.sort] is None, -(r[args.sort] or 0.0)))
    if args.format == "json":
        print_fn(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print_fn(f"no runs in {args.root} (a run is a folder holding recipe.yaml; give it or a folder above it)")
        return 0
    rows = [
        [
            r["run"],
            r["model"] or "?",
            r["dataset"] or "?",
            f"{r['epochs']}/{r['planned'] or '?'}",
            f"{_pct(r['best_val_acc1'])} @{r['best_epoch']}" if r["best_epoch"] else "-",
            _pct(r["test_acc1"]),
            _pct(r["test_acc5"]),
            f"{r['seconds']:.0f}" if r["seconds"] is not None else "-",
            r["status"],
            r["modified"],
        ]
        for r in runs
    ]
    print_fn(
        format_table(
            [
                "run",
                "model",
                "dataset",
                "epochs",
                "best validation",
                "test rank-1",
                "test rank-5",
                "seconds",
                "status",
                "modified (UTC)",
            ],
            rows,
            align="lllrrrrrll",
        )
    )
    return 0
