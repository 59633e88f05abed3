"""``cnnlab`` entry point: one sub-command module per feature area."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..atomic import DISK_ERRORS, disk_error
from ..engine.signals import RunInterrupted
from ..errors import CnnlabError, closest
from . import (
    analysis_cmd,
    bench_cmd,
    compare_cmd,
    data_cmd,
    explain_cmd,
    export_cmd,
    models_cmd,
    report_cmd,
    repro_cmd,
    runs_cmd,
    train_cmd,
    transfer_cmd,
)

COMMANDS = (
    models_cmd,
    analysis_cmd,
    compare_cmd,
    repro_cmd,
    data_cmd,
    train_cmd,
    runs_cmd,
    report_cmd,
    transfer_cmd,
    export_cmd,
    explain_cmd,
    bench_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description="The landmark convolutional networks, built from their papers' tables.",
        epilog="Run `cnnlab COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def _unrecognized(parser: argparse.ArgumentParser, command: str, extras: Sequence[str]) -> None:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    flags = [s for a in sub._actions for s in a.option_strings if s.startswith("--")]
    hints = []
    for extra in extras:
        flag = extra.split("=")[0]
        if not flag.startswith("-"):
            continue
        if flag == "--option" and "--set" in flags:
            hints.append(
                "model options are recipe fields here: --set model.options.KEY=VALUE (cnnlab info MODEL lists them)"
            )
            continue
        near = closest(flag, flags, n=1)
        if near:
            hints.append(f"did you mean {near[0]}?")
    sub.error(f"unrecognized arguments: {' '.join(extras)}" + (f"; {'; '.join(hints)}" if hints else ""))


def main(argv: Sequence[str] | None = None, print_fn: Callable[[str], None] = print) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 130 / 143 for training stopped
    by SIGINT / SIGTERM). Usage errors exit with status 2 through argparse's SystemExit, as
    every argparse program does."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # the command's own usage, and what was probably meant
        _unrecognized(parser, args.command, extras)
    try:
        return args.run(args, print_fn)
    except CnnlabError as err:
        print(f"cnnlab {args.command}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `cnnlab list | head`
        return 0
    except RunInterrupted as stop:  # Ctrl-C / SIGTERM in training: the run said how to resume
        return stop.exit_code
    except OSError as err:  # a folder the disk refuses (read-only, full, no permission): one line
        if err.errno not in DISK_ERRORS:
            raise
        what = disk_error(err, Path(err.filename)) if err.filename else f"{err.strerror}; choose another folder"
        print(f"cnnlab {args.command}: error: {what}", file=sys.stderr)
        return 1
