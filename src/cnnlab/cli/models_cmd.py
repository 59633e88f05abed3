"""``cnnlab list`` and ``cnnlab info``."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable

from ..analysis import inference_params
from ..registry import list_models, model_card, model_options
from .render import format_table, human_count

PrintFn = Callable[[str], None]
WIDTH = 100  # long notes and deviations wrap at this width


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help="list the registered models",
        description="List the registered models: name, family, year, parameters, input size.",
    )
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vgg*' (default: all)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    p.set_defaults(run=run_list)

    p = sub.add_parser(
        "info",
        help="show a model's card: paper, table, counts, deviations",
        description="Show a model's card: the paper and table it follows, default input and classes, "
        "exact and published parameter and multiply-add counts, options, and every deviation from the paper.",
    )
    p.add_argument("name", help="a registered model name (see `cnnlab list`)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(run=run_info)


def list_rows(pattern: str) -> list[dict]:
    rows = []
    for name in list_models(pattern):
        card = model_card(name)
        row = {
            "name": name,
            "family": card.family,
            "year": card.paper.year,
            "params": card.params,
            "input": "x".join(map(str, card.input_size)),
            "classes": card.num_classes,
        }
        used = inference_params(name)
        if used is not None:
            row["params_inference"] = used
        rows.append(row)
    return rows


def run_list(args: argparse.Namespace, print_fn: PrintFn) -> int:
    rows = list_rows(args.pattern)
    if args.format == "json":
        print_fn(json.dumps(rows, indent=2))
        return 0 if rows else 1
    if not rows:
        print_fn(f"no model matches {args.pattern!r}")
        return 1
    table = [
        [r["name"], r["family"], str(r["year"]), human_count(r["params"]), r["input"], f"{r['classes']:,}"]
        for r in rows
    ]
    print_fn(format_table(["name", "family", "year", "params", "input", "classes"], table, align="lllrrr"))
    print_fn(f"{len(rows)} models; params are exact PyTorch counts at the default input and classes")
    for r in rows:
        if "params_inference" in r:
            print_fn(
                f"{r['name']}: {r['params_inference']:,} parameters at inference; its auxiliary heads "
                f"({r['params'] - r['params_inference']:,}) train only"
            )
    return 0


def run_info(args: argparse.Namespace, print_fn: PrintFn) -> int:
    card = model_card(args.name)
    options = model_options(args.name)
    if args.format == "json":
        data = card.to_dict()
        data["options"] = {k: v for k, v in options.items()}
        print_fn(json.dumps(data, indent=2, default=str))
        return 0
    lines = [
        f"{card.name}  ({card.family})",
        f"  paper       {card.paper.cite()}",
        f"  follows     {card.table}",
        f"  input       {'x'.join(map(str, card.input_size))}, {card.num_classes:,} classes",
        f"  params      {card.params:,} (exact, PyTorch)"
        + (f"; paper: {card.paper_params}" if card.paper_params else ""),
    ]
    if card.macs is not None or card.paper_macs:
        macs = f"{card.macs:,} (conv + linear multiply-accumulates)" if card.macs is not None else "-"
        lines.append(f"  macs        {macs}" + (f"; paper: {card.paper_macs}" if card.paper_macs else ""))
    lines.append(f"  preprocess  mean {card.mean}, std {card.std}")
    if card.torchvision is not None:
        needs = ", ".join(f"{k}={v!r}" for k, v in card.torchvision.requires.items())
        lines.append(
            f"  weights     weights='torchvision' loads {card.torchvision.weights}"
            + (f" (needs {needs})" if needs else "")
        )
    if options:
        lines.append("  options     " + ", ".join(f"{k}={v!r}" for k, v in options.items()))
    if card.notes:
        lines.append(
            textwrap.fill(
                card.notes, WIDTH, initial_indent="  notes       ", subsequent_indent=" " * 14, break_on_hyphens=False
            )
        )
    lines.append("  deviations from the paper:" if card.deviations else "  deviations  none")
    lines.extend(
        textwrap.fill(d, WIDTH, initial_indent="    - ", subsequent_indent="      ", break_on_hyphens=False)
        for d in card.deviations
    )
    print_fn("\n".join(lines))
    return 0
