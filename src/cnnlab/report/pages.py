"""What ``cnnlab report`` was given (a run, a folder of runs or a model's name), and the pages
it writes for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..engine.run import list_runs
from ..errors import CnnlabError, ConfigError, closest
from ..registry import list_models
from .model import model_page
from .render import write_page
from .run import run_page
from .runs import runs_page

PrintFn = Callable[[str], None]
RUN_PAGE = "report.html"  # a run's page, in its folder


@dataclass(frozen=True)
class Target:
    """``kind`` ``"run"`` (a folder holding recipe.yaml), ``"runs"`` (a folder whose
    sub-folders, one or two levels down, hold runs) or ``"model"`` (a registered name)."""

    kind: str
    value: str


def classify(value: str | os.PathLike[str]) -> Target:
    """Decide what ``value`` names: a run folder, a folder of runs, else a registered model;
    anything else is a :class:`ConfigError` naming the value and what would work."""
    text = str(value)
    path = Path(text)
    if path.is_dir():
        if (path / "recipe.yaml").is_file():
            return Target("run", text)
        if any(path.glob("*/recipe.yaml")) or any(path.glob("*/*/recipe.yaml")):
            return Target("runs", text)
        raise ConfigError(
            f"{text} is a folder but holds no run: no recipe.yaml in it or in its sub-folders (two levels down); "
            "give a run folder that `cnnlab train` wrote (`cnnlab runs` lists them), a folder of runs, or a model name"
        )
    if path.exists():
        raise ConfigError(
            f"{text} is a file; give a run folder (it holds recipe.yaml), a folder of runs, or a registered model "
            "name (`cnnlab list`)"
        )
    if text in list_models():
        return Target("model", text)
    near = closest(text, list_models(), n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise ConfigError(
        f"{text!r} is neither a folder nor a registered model{hint} Give a run folder (`cnnlab runs` lists them), "
        "a folder of runs, or a model name (`cnnlab list`)"
    )


def default_output(target: Target) -> Path:
    """Where a page goes unless told: a run's own folder (``RUN/report.html``), the folder of
    runs (``DIR/report.html``), or ``MODEL.html`` in the current folder."""
    if target.kind == "model":
        return Path(f"{target.value}.html")
    return Path(target.value) / RUN_PAGE


def write_report(
    value: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    input_size: Sequence[int] | str | None = None,
    device: str | None = None,
    limit: int | None = 10_000,
    print_fn: PrintFn | None = None,
) -> list[Path]:
    """Write the page(s) for ``value`` and return their paths, the requested page first.
    A folder of runs also writes each run's own page (``RUN/report.html``), which its page
    links to; a run whose page cannot be made is listed with the reason."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit {limit}: give the number of test images to score, 1 or more (default 10000)")
    target = classify(value)
    out = Path(output) if output is not None else default_output(target)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"-o {out}: a page is an .html file; give a name ending in .html")
    if out.is_dir():
        raise ConfigError(f"-o {out} is a folder; give the page's file name, e.g. {out / 'report.html'}")
    if input_size is not None and target.kind != "model":
        what = "a run" if target.kind == "run" else "a folder of runs"
        raise ConfigError(
            f"--input sets the input of a model's page; {target.value} is {what}, whose model is analysed at the "
            "size it trained on: leave --input out"
        )
    say = print_fn or _quiet
    if target.kind == "model":
        return [write_page(out, model_page(target.value, input_size))]
    if target.kind == "run":
        return [write_page(out, run_page(target.value, device=device, limit=limit))]
    links: dict[str, object] = {}
    written: list[Path] = []
    for run in list_runs(target.value):
        folder = Path(run["run"])
        page = folder / RUN_PAGE
        back = os.path.relpath(out.resolve(), folder.resolve()).replace(os.sep, "/")
        try:
            written.append(write_page(page, run_page(folder, device=device, limit=limit, back=back)))
            links[run["run"]] = page
        except CnnlabError as err:
            links[run["run"]] = str(err)
            say(f"note: no page for {folder}: {err}")
    return [write_page(out, runs_page(target.value, out, links)), *written]


def _quiet(_text: str) -> None:
    pass
