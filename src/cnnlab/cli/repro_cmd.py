"""``cnnlab repro list`` and ``cnnlab repro run``: slide and paper numbers next to cnnlab's."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..analysis.report import value_text
from ..repro import (
    KINDS,
    SCHEMA,
    TRAINING_VERDICTS,
    VERDICTS,
    ClaimResult,
    claim_to_dict,
    get_claim,
    list_claims,
    run_claim,
)
from ..repro.coverage import STATUS_MEANING, coverage
from .render import format_table

PrintFn = Callable[[str], None]
WIDTH = 100  # explanations and notes wrap at this width


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repro",
        help="check lecture-slide and paper numbers against cnnlab's computation",
        description="Reproduce the numbers printed on lecture slides and in papers (output sizes, parameters, "
        "multiply-adds, memory) with cnnlab's own analysis, side by side with a verdict for each.",
    )
    repro = p.add_subparsers(dest="repro_command", metavar="ACTION", required=True)

    q = repro.add_parser(
        "list", help="list the claims: id, kind, title, source", description="List the registered claims."
    )
    q.add_argument("--kind", choices=tuple(KINDS), default=None, help="only claims of this kind (default: all)")
    q.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    q.set_defaults(run=run_list)

    q = repro.add_parser(
        "run",
        help="run claims and print slide vs cnnlab per quantity",
        description="Run claims; print each printed number, cnnlab's computed value, the verdict and why. "
        "Verdicts: " + "; ".join(f"{v}: {d}" for v, d in VERDICTS.items()) + ".",
    )
    q.add_argument(
        "ids", nargs="+", metavar="ID", help="claim ids (see `cnnlab repro list`), or 'all' (every claim of --kind)"
    )
    q.add_argument(
        "--kind",
        choices=tuple(KINDS),
        default="count",
        help="what 'all' stands for: count claims (default, seconds) or training experiments (minutes)",
    )
    q.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        default="runs/repro",
        help="where training experiments write their figures (default: runs/repro)",
    )
    q.add_argument("--quick", action="store_true", help="training experiments: a smaller, faster run")
    q.add_argument("--data-dir", metavar="DIR", help="training experiments on Fashion-MNIST: the folder of its files")
    q.add_argument("--seed", type=int, default=0, help="training experiments: the seed (default 0)")
    q.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    q.set_defaults(run=run_run)

    q = repro.add_parser(
        "coverage",
        help="the inventory of the decks' checkable claims: deck:line, value, exact value, command, status",
        description="Run every count claim and list what it checks: the claim, the deck file and line that "
        "print the number (../shared/lectures), the deck's value, cnnlab's exact value, the command that shows "
        "it, and its status: "
        + "; ".join(f"{k}: {v}" for k, v in STATUS_MEANING.items())
        + ". Training experiments are listed with their command, not run.",
    )
    q.add_argument("--all", action="store_true", help="every check, one line each (default: one line per claim)")
    q.add_argument(
        "--format", choices=("text", "md", "json"), default="text", help="output format (default: text; md: Markdown)"
    )
    q.set_defaults(run=run_coverage)


def run_coverage(args: argparse.Namespace, print_fn: PrintFn) -> int:
    inventory = coverage()
    if args.format == "json":
        print_fn(json.dumps(inventory.to_dict(), indent=2))
        return 0
    statuses = list(STATUS_MEANING)
    if args.all:
        header = ["claim", "quantity", "cited", "deck's value", "exact", "status", "command"]
        rows = [[e.claim, e.quantity, e.cited, e.printed, e.exact, e.status, e.command] for e in inventory.entries]
    else:
        header = ["claim", "decks", "checks", *statuses, "command"]
        rows = [
            [r["claim"], ", ".join(d[:3] for d in r["decks"]) or "-", str(r["checks"])]
            + [str(r.get(s, 0)) for s in statuses]
            + [r["command"]]
            for r in inventory.by_claim()
        ]
    if args.format == "md":
        print_fn("| " + " | ".join(header) + " |")
        print_fn("|" + "---|" * len(header))
        for row in rows:
            print_fn("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    else:
        print_fn(format_table(header, rows))
    decks, every = inventory.totals(), inventory.totals(decks_only=False)
    print_fn(
        "cited from the decks: "
        + ", ".join(f"{decks[s]:,} {s}" for s in statuses)
        + f"; {inventory.share_settled():.1%} of the decks' checkable numbers reproduced or corrected"
    )
    print_fn("all sources (decks, CS231n, papers): " + ", ".join(f"{every[s]:,} {s}" for s in statuses))
    return 0


def run_list(args: argparse.Namespace, print_fn: PrintFn) -> int:
    claims = list_claims(args.kind)
    if args.format == "json":
        rows = [{"id": c.id, "kind": c.kind, "title": c.title, "source": c.source} for c in claims]
        print_fn(json.dumps(rows, indent=2))
        return 0
    lines = []
    for c in claims:
        lines.append(f"{c.id}  ({c.kind})")
        lines.append(textwrap.fill(c.title, WIDTH, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False))
        lines.append(
            textwrap.fill(
                c.source, WIDTH, initial_indent="  source: ", subsequent_indent="          ", break_on_hyphens=False
            )
        )
    kinds = Counter(c.kind for c in claims)  # in order of first appearance
    every = "; ".join(f"the {n} {kind} claims with `cnnlab repro run all --kind {kind}`" for kind, n in kinds.items())
    lines.append(f"{len(claims)} claims; run one with `cnnlab repro run ID`, or {every}")
    print_fn("\n".join(lines))
    return 0


def selected_ids(ids: Sequence[str], kind: str = "count") -> list[str]:
    """'all' stands for every claim of ``kind``; unknown ids fail before anything runs; order
    kept, no repeats."""
    out: list[str] = []
    for claim_id in ids:
        names = [c.id for c in list_claims(kind)] if claim_id == "all" else [get_claim(claim_id).id]
        out.extend(n for n in names if n not in out)
    return out


def render_claim(result: ClaimResult) -> str:
    """One claim as text: header, the table (# | quantity | slide | cnnlab | verdict), the
    numbered explanations, the notes and the verdict counts."""
    claim = result.claim
    lines = []
    if claim is not None:
        lines.append(f"{claim.id}: {claim.title}")
        lines.append(
            textwrap.fill(
                claim.source, WIDTH, initial_indent="source: ", subsequent_indent="        ", break_on_hyphens=False
            )
        )
        lines.append("")
    table = [
        [str(i), c.quantity, value_text(c.slide), value_text(c.cnnlab), c.verdict]
        for i, c in enumerate(result.checks, 1)
    ]
    lines.append(format_table(["#", "quantity", "slide", "cnnlab", "verdict"], table, align="rllrl"))
    explained = [(i, c) for i, c in enumerate(result.checks, 1) if c.explanation]
    if explained:
        lines.append("")
        width = len(str(len(result.checks)))
        for i, c in explained:
            head = f"[{i}]".rjust(width + 2) + " "
            lines.append(
                textwrap.fill(
                    c.explanation, WIDTH, initial_indent=head, subsequent_indent=" " * len(head), break_on_hyphens=False
                )
            )
    if result.notes:
        lines.append("")
        lines.append(
            textwrap.fill(
                result.notes, WIDTH, initial_indent="notes: ", subsequent_indent="       ", break_on_hyphens=False
            )
        )
    if result.artifacts:
        lines.append("files: " + ", ".join(result.artifacts))
    counts = ", ".join(f"{n} {v}" for v, n in result.summary.items() if n)
    lines.append(f"result: {counts}")
    return "\n".join(lines)


def _run(claim_id: str, args: argparse.Namespace) -> ClaimResult:
    claim = get_claim(claim_id)
    if claim.kind != "training":
        return run_claim(claim_id)
    import inspect

    from ..viz import plot_claim

    accepted = inspect.signature(claim.run).parameters
    options = {"seed": args.seed, "quick": args.quick, "data_dir": args.data_dir}
    result = run_claim(claim_id, **{k: v for k, v in options.items() if k in accepted and (v is not None)})
    files = plot_claim(result, args.out)
    return replace(result, artifacts=(*result.artifacts, *(str(f) for f in files)))


def run_run(args: argparse.Namespace, print_fn: PrintFn) -> int:
    ids = selected_ids(args.ids, args.kind)
    results = [_run(claim_id, args) for claim_id in ids]
    kinds = {r.claim.kind for r in results if r.claim is not None}
    verdicts = {**(VERDICTS if "count" in kinds else {}), **(TRAINING_VERDICTS if "training" in kinds else {})}
    if args.format == "json":
        print_fn(
            json.dumps(
                {"schema": SCHEMA, "verdicts": verdicts, "claims": [claim_to_dict(r) for r in results]}, indent=2
            )
        )
        return 0
    blocks = [render_claim(r) for r in results]
    total = {v: sum(r.summary.get(v, 0) for r in results) for v in verdicts}
    legend = ["verdicts:"] + [
        textwrap.fill(f"{v}: {d}", WIDTH, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
        for v, d in verdicts.items()
    ]
    if len(results) > 1:
        legend.insert(
            0,
            f"{len(results)} claims, {sum(total.values())} checks: " + ", ".join(f"{n} {v}" for v, n in total.items()),
        )
    print_fn(("\n\n" + "=" * WIDTH + "\n\n").join(blocks) + "\n\n" + "\n".join(legend))
    return 0
